package b2seetest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
)

func TestCakesErrors(t *testing.T) {
	s := startServer(t, b2seetest.Config{})
	c := client(t)
	const otherGUID = "01234567-89ab-cdef-0123-456789abcdef"
	tests := []struct {
		name       string
		url        string
		method     string
		wantStatus int
		wantBody   map[string]any
	}{
		{"key not a GUID", cakesURL(s, "4242", "not-a-key", ""), "", 404,
			map[string]any{"Success": false, "Message": "API key not in correct format (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"}},
		{"no key", cakesURL(s, "4242", "", ""), "", 404,
			map[string]any{"Success": false, "Message": "API key not in correct format (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"}},
		{"unknown customer", cakesURL(s, "9999", b2seetest.DemoAPIKey, ""), "", 404,
			map[string]any{"Success": false, "Message": "CustomerID does not exist"}},
		{"no customer", cakesURL(s, "", b2seetest.DemoAPIKey, ""), "", 404,
			map[string]any{"Success": false, "Message": "CustomerID does not exist"}},
		{"wrong key", cakesURL(s, "4242", otherGUID, ""), "", 401,
			map[string]any{"Message": "Authorization has been denied for this request."}},
		{"days not a number", goodCakesURL(s, "ten"), "", 400, map[string]any{"Message": "The request is invalid."}},
		{"negative days", goodCakesURL(s, "-1"), "", 400, map[string]any{"Message": "The request is invalid."}},
		{"POST", goodCakesURL(s, ""), http.MethodPost, 405, nil},
		{"key in upper case", cakesURL(s, "4242", strings.ToUpper(b2seetest.DemoAPIKey), ""), "", 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, tt.url, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantBody == nil {
				return
			}
			var got map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("body: %v", err)
			}
			if len(got) != len(tt.wantBody) {
				t.Errorf("body %v, want %v", got, tt.wantBody)
			}
			for k, v := range tt.wantBody {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// ages are the ages of the records of TestCakesDaysOfHistory.
var ages = []time.Duration{
	time.Minute, 23 * time.Hour, 25 * time.Hour, 6 * 24 * time.Hour, 8 * 24 * time.Hour,
	29 * 24 * time.Hour, 31 * 24 * time.Hour, 89 * 24 * time.Hour, 400 * 24 * time.Hour,
}

func TestCakesDaysOfHistory(t *testing.T) {
	var rs []b2seetest.Record
	for i, age := range ages {
		rs = append(rs, b2seetest.Record{BatchId: int64(i + 1), DateCreated: testNow.Add(-age)})
	}
	s := startServer(t, b2seetest.Config{Records: rs})
	c := client(t)
	tests := []struct {
		days    string
		wantIDs []int64
	}{
		{"", []int64{1, 2, 3, 4, 5, 6}}, // 30 by default
		{"0", nil},
		{"1", []int64{1, 2}},
		{"7", []int64{1, 2, 3, 4}},
		{"30", []int64{1, 2, 3, 4, 5, 6}},
		{"90", []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"100000000", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"7", []int64{1, 2, 3, 4}}, // again, from the cache
	}
	for _, tt := range tests {
		t.Run("days="+tt.days, func(t *testing.T) {
			if got := batchIDs(t, c, goodCakesURL(s, tt.days)); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("IDs %v, want %v", got, tt.wantIDs)
			}
		})
	}
}

func TestCakesFollowsChanges(t *testing.T) {
	var offset atomic.Int64 // the clock moves under the handler's feet
	now := func() time.Time { return testNow.Add(time.Duration(offset.Load())) }
	rs := []b2seetest.Record{
		{BatchId: 1, DateCreated: testNow.Add(-2 * time.Hour)},
		{BatchId: 2, DateCreated: testNow.Add(-36 * time.Hour)},
	}
	s := startServer(t, b2seetest.Config{Records: rs, Now: now})
	c := client(t)
	if got := batchIDs(t, c, goodCakesURL(s, "2")); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("IDs %v, want [1 2]", got)
	}
	offset.Store(int64(13 * time.Hour)) // record 2 is now older than 2 days
	if got := batchIDs(t, c, goodCakesURL(s, "2")); !slices.Equal(got, []int64{1}) {
		t.Fatalf("after the clock moved: IDs %v, want [1]", got)
	}
	s.UpdateRecords(func(rs []b2seetest.Record) []b2seetest.Record {
		rs[0].VideoPlayCount = 42
		return append(rs, b2seetest.Record{BatchId: 3, DateCreated: now()})
	})
	if got := batchIDs(t, c, goodCakesURL(s, "2")); !slices.Equal(got, []int64{1, 3}) {
		t.Fatalf("after UpdateRecords: IDs %v, want [1 3]", got)
	}
	_, body, _ := get(t, c, goodCakesURL(s, "2"))
	if !bytes.Contains(body, []byte(`"VideoPlayCount":42`)) {
		t.Errorf("the changed play count is not served: %s", body)
	}
	if got := s.Records(); len(got) != 3 || got[0].VideoPlayCount != 42 {
		t.Errorf("Records() = %d records, first plays %d", len(got), got[0].VideoPlayCount)
	}
}

func batchIDs(t *testing.T, c *http.Client, u string) []int64 {
	t.Helper()
	resp, body, err := get(t, c, u)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	var recs []struct{ BatchId int64 }
	if err := json.Unmarshal(body, &recs); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range recs {
		ids = append(ids, r.BatchId)
	}
	return ids
}

// documentedKeys are the keys of the documentation's sample, in order.
var documentedKeys = []string{
	"BatchId", "MarketingContactId", "DateCreated", "SendingUserName", "Title", "ProductType",
	"RecipientEmail", "RecipientMobile", "Data", "DateSent", "LandingPageFirstWatched",
	"LandingPageLastWatched", "LandingPageWatchCount", "CustomerActionState", "CustomerActionDate",
	"CustomerActionDescription", "CustomerActionPrice", "CustomerActionPriceSuffix",
	"CustomerActionPaymentOutcome", "CustomerRating", "CustomerRatingAdditional", "VideoPlayCount",
	"ImageLinkClicks", "FacebookClicks", "GoogleClicks",
}

var (
	dateKeys = map[string]bool{"DateCreated": true, "DateSent": true, "LandingPageFirstWatched": true,
		"LandingPageLastWatched": true, "CustomerActionDate": true}
	numberKeys = map[string]bool{"BatchId": true, "MarketingContactId": true, "LandingPageWatchCount": true,
		"CustomerActionPrice": true, "VideoPlayCount": true, "ImageLinkClicks": true,
		"FacebookClicks": true, "GoogleClicks": true}
	documentedDate = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
)

func TestCakesJSONShape(t *testing.T) {
	s := startServer(t, b2seetest.Config{})
	resp, body, err := get(t, client(t), goodCakesURL(s, "90"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	var recs []map[string]any
	if err := json.Unmarshal(body, &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		t.Fatal("no records")
	}
	nulls := map[string]int{}
	for i, rec := range recs {
		if len(rec) != len(documentedKeys) {
			t.Fatalf("record %d has %d keys, want %d", i, len(rec), len(documentedKeys))
		}
		for _, k := range documentedKeys {
			v, ok := rec[k]
			switch {
			case !ok:
				t.Fatalf("record %d lacks %s", i, k)
			case v == nil:
				nulls[k]++
			case dateKeys[k]:
				if s, _ := v.(string); !documentedDate.MatchString(s) {
					t.Fatalf("record %d: %s = %v, not in the documented form", i, k, v)
				}
			case numberKeys[k] || k == "CustomerRating":
				if _, ok := v.(float64); !ok {
					t.Fatalf("record %d: %s = %v, not a number", i, k, v)
				}
			default:
				if _, ok := v.(string); !ok {
					t.Fatalf("record %d: %s = %v, not a string", i, k, v)
				}
			}
		}
	}
	if nulls["Data"] != len(recs) {
		t.Errorf("Data is null in %d of %d records", nulls["Data"], len(recs))
	}
	for _, k := range []string{"DateSent", "CustomerActionState", "CustomerRating", "CustomerActionPaymentOutcome"} {
		if nulls[k] == 0 || nulls[k] == len(recs) {
			t.Errorf("%s is null in %d of %d records; want some of each", k, nulls[k], len(recs))
		}
	}

	// Key order, checked on the raw tokens of the first record.
	dec := json.NewDecoder(bytes.NewReader(body))
	_, _ = dec.Token() // [
	_, _ = dec.Token() // {
	for _, want := range documentedKeys {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		if tok != want {
			t.Fatalf("key %v, want %s", tok, want)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecordMarshalJSONMatchesServed(t *testing.T) {
	rs := b2seetest.Generate(3, 9, testNow, 10)
	s := startServer(t, b2seetest.Config{Records: rs})
	_, body, _ := get(t, client(t), goodCakesURL(s, "10"))
	want, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, want) {
		t.Errorf("served\n%s\njson.Marshal\n%s", body, want)
	}
}

func TestCakesGzip(t *testing.T) {
	tests := []struct {
		name           string
		gzipOn         bool
		acceptEncoding string
		wantGzip       bool
	}{
		{"on, accepted", true, "gzip", true},
		{"on, accepted among others", true, "br, gzip;q=0.8", true},
		{"on, refused", true, "gzip;q=0", false},
		{"on, not asked", true, "", false},
		{"off", false, "gzip", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, b2seetest.Config{Gzip: tt.gzipOn})
			c := client(t)
			_, plain, _ := get(t, c, goodCakesURL(s, ""))
			resp, body, err := get(t, c, goodCakesURL(s, ""), "Accept-Encoding", tt.acceptEncoding)
			if err != nil {
				t.Fatal(err)
			}
			gotGzip := resp.Header.Get("Content-Encoding") == "gzip"
			if gotGzip != tt.wantGzip {
				t.Fatalf("Content-Encoding %q, want gzip %v", resp.Header.Get("Content-Encoding"), tt.wantGzip)
			}
			if gotGzip {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(body, plain) {
				t.Error("the body differs from the plain one")
			}
		})
	}
}

func TestUnknownPath(t *testing.T) {
	s := startServer(t, b2seetest.Config{})
	for _, u := range []string{s.URL + "/MyVideos/v2/cakes/1", s.BatchesURL + "/v1/batches/", s.URL + "/"} {
		resp, _, _ := get(t, client(t), u)
		if resp.StatusCode != 404 {
			t.Errorf("%s: status %d, want 404", u, resp.StatusCode)
		}
	}
}
