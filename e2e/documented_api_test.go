package e2e

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAnyDocumentedServer runs the exporter against an upstream that is not
// the project's fake: a plain handler answering the documented API the way
// a .NET service may, with camelCase or PascalCase keys, numbers as strings,
// the various .NET date forms, a byte order mark, gzip, duplicates and
// unknown fields, at a configured path. The sums it must report are
// counted here from the records themselves.
func TestAnyDocumentedServer(t *testing.T) {
	const key = "6f1c1a52-8d3e-4b7e-9a51-3c0de1e2f7aa"
	now := time.Now().UTC()
	dateForms := []func(time.Time) any{
		func(t time.Time) any { return t.Format("2006-01-02T15:04:05Z") },
		func(t time.Time) any { return t.Format("2006-01-02T15:04:05.0000000Z") },
		func(t time.Time) any { return t.In(time.FixedZone("", 3600)).Format("2006-01-02T15:04:05.999-07:00") },
		func(t time.Time) any { return t.Format("2006-01-02T15:04:05") },
		func(t time.Time) any { return fmt.Sprintf("/Date(%d)/", t.UnixMilli()) },
	}
	type want struct{ batches, plays, watches, watched, google int }
	var (
		records []map[string]any
		w       want
	)
	for i := range 60 {
		k := func(pascal string) string {
			if i%2 == 0 {
				return pascal
			}
			return strings.ToLower(pascal[:1]) + pascal[1:]
		}
		num := func(n int) any {
			if i%3 == 0 {
				return fmt.Sprint(n)
			}
			return n
		}
		created := now.Add(-time.Duration(i) * time.Hour)
		plays, watches, google := i%5, i%4, i%3
		r := map[string]any{
			k("BatchId"): num(5000 + i), k("DateCreated"): dateForms[i%len(dateForms)](created),
			k("SendingUserName"): []string{"Ann", "Bob"}[i%2], k("ProductType"): "service",
			k("RecipientEmail"): fmt.Sprintf("person%d@example.com", i), k("RecipientMobile"): nil,
			k("DateSent"): dateForms[(i+1)%len(dateForms)](created.Add(time.Minute)), k("Data"): map[string]any{"x": []int{1, 2}},
			k("LandingPageWatchCount"): num(watches), k("VideoPlayCount"): num(plays), k("GoogleClicks"): num(google),
			k("CustomerActionState"): nil, k("CustomerRating"): nil, k("SomethingNew"): true,
		}
		records = append(records, r)
		w.batches++
		w.plays += plays
		w.watches += watches
		w.google += google
		if watches > 0 {
			w.watched++
		}
		if i%10 == 0 { // the same batch again, with other counts: counted once
			dup := map[string]any{}
			for kk, v := range r {
				dup[kk] = v
			}
			dup[k("VideoPlayCount")] = 1000
			records = append(records, dup)
		}
	}
	body, err := json.Marshal(records)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		path  string
		query map[string][]string
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		got.path, got.query = r.URL.Path, r.URL.Query()
		rw.Header().Set("Content-Type", "application/json; charset=utf-8")
		rw.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(rw)
		zw.Write([]byte("\xef\xbb\xbf"))
		zw.Write(body)
		zw.Close()
	}))
	defer upstream.Close()

	e := startExporter(t, []string{"B2SEE_API_KEY=" + key},
		"--b2see.url="+upstream.URL+"/api", "--b2see.cakes-path=/v2/batches/{customer_id}/cakes",
		"--b2see.customer-id=dealer-7", "--b2see.account-name=dealer7", "--b2see.days-of-history=7",
		"--storage.path="+t.TempDir())
	_, out := e.get(t, "/metrics")
	m := parseMetrics(t, out)
	if m.Value(`b2see_up{account="dealer7"}`) != 1 {
		t.Fatalf("not up:\n%s", e.logs)
	}
	if got.path != "/api/v2/batches/dealer-7/cakes" || got.query["customerId"][0] != "dealer-7" ||
		got.query["apiKey"][0] != key || got.query["daysOfHistory"][0] != "7" {
		t.Errorf("request: path %q query %v", got.path, got.query)
	}
	for name, want := range map[string]int{
		"b2see_window_batches": w.batches, "b2see_window_video_plays": w.plays, "b2see_window_landing_page_watches": w.watches,
		"b2see_window_batches_watched": w.watched, "b2see_window_batches_sent": w.batches,
	} {
		if got := m.Sum(name); got != float64(want) {
			t.Errorf("%s = %v, want %d", name, got, want)
		}
	}
	if got := m.Value(`b2see_window_link_clicks{account="dealer7",link="google",product_type="service",sender="Ann"}`) +
		m.Value(`b2see_window_link_clicks{account="dealer7",link="google",product_type="service",sender="Bob"}`); got != float64(w.google) {
		t.Errorf("google clicks = %v, want %d", got, w.google)
	}
	var personal []string
	for i := range 60 {
		personal = append(personal, fmt.Sprintf("person%d@example.com", i))
	}
	fixture.NoLeak(t, "metrics", out, append(personal, key))
	fixture.NoLeak(t, "logs", e.logs.String(), append(personal, key))
}
