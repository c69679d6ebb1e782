package b2seetest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
)

func ExampleNewServer() {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	s := b2seetest.NewServer(b2seetest.Config{
		Records: b2seetest.Generate(25, 1, now, 30),
		Now:     func() time.Time { return now },
	})
	defer s.Close()

	u := s.URL + "/MyVideos/v1/cakes/" + b2seetest.DefaultCustomerID +
		"?customerId=" + b2seetest.DefaultCustomerID + "&apiKey=" + b2seetest.DemoAPIKey + "&daysOfHistory=30"
	resp, err := http.Get(u)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var records []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&records); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status, len(records), "records")

	// A fault spoils every following request of its endpoint.
	s.SetFault(b2seetest.Cakes, b2seetest.Fault{RetryAfter: 30})
	resp, err = http.Get(u)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "Retry-After:", resp.Header.Get("Retry-After"))
	// Output:
	// 200 OK 25 records
	// 429 Too Many Requests Retry-After: 30
}
