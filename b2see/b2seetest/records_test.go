package b2seetest_test

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
)

func TestGenerateDeterministic(t *testing.T) {
	a := b2seetest.Generate(300, 7, testNow, 60)
	b := b2seetest.Generate(300, 7, testNow, 60)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different records")
	}
	c := b2seetest.Generate(300, 8, testNow, 60)
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds gave the same records")
	}
	if got := b2seetest.Generate(0, 7, testNow, 60); got == nil || len(got) != 0 {
		t.Errorf("Generate(0) = %#v, want an empty slice", got)
	}
}

var (
	fakeEmail  = regexp.MustCompile(`^customer\d+@example\.com$`)
	fakeMobile = regexp.MustCompile(`^\+447700900\d{3}$`)
)

func TestGenerateRealistic(t *testing.T) {
	const n, days = 5000, 90
	rs := b2seetest.Generate(n, 42, testNow, days)
	if len(rs) != n {
		t.Fatalf("%d records, want %d", len(rs), n)
	}
	count := map[string]int{}
	products, senders, states, outcomes := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	ratings := map[int]int{}
	for i, r := range rs {
		if i > 0 && (r.BatchId <= rs[i-1].BatchId || r.DateCreated.Before(rs[i-1].DateCreated)) {
			t.Fatalf("record %d is out of order", i)
		}
		if r.DateCreated.After(testNow) || r.DateCreated.Before(testNow.Add(-days*24*time.Hour)) {
			t.Fatalf("record %d created %v, outside the %d days before %v", i, r.DateCreated, days, testNow)
		}
		if r.DateCreated.Nanosecond() != 0 || r.DateCreated.Location() != time.UTC {
			t.Fatalf("record %d: DateCreated %v is not UTC seconds", i, r.DateCreated)
		}
		products[r.ProductType] = true
		senders[r.SendingUserName] = true
		if r.RecipientEmail != "" {
			count["email"]++
			if !fakeEmail.MatchString(r.RecipientEmail) {
				t.Fatalf("email %q is not recognisably fake", r.RecipientEmail)
			}
		}
		if r.RecipientMobile != "" {
			count["mobile"]++
			if !fakeMobile.MatchString(r.RecipientMobile) {
				t.Fatalf("mobile %q is not in the drama range", r.RecipientMobile)
			}
		}
		if r.DateSent == nil {
			if r.LandingPageFirstWatched != nil || r.CustomerActionState != nil {
				t.Fatalf("record %d: watched or acted on but never sent", i)
			}
			continue
		}
		count["sent"]++
		if d := r.DateSent.Sub(r.DateCreated); d < 0 || d > 30*time.Minute {
			t.Fatalf("record %d sent %v after creation", i, d)
		}
		if r.LandingPageFirstWatched == nil {
			if r.LandingPageWatchCount != 0 {
				t.Fatalf("record %d: %d watches without a first watch", i, r.LandingPageWatchCount)
			}
			continue
		}
		count["watched"]++
		first, last := *r.LandingPageFirstWatched, *r.LandingPageLastWatched
		if first.Before(*r.DateSent) || last.Before(first) || last.After(testNow) {
			t.Fatalf("record %d: sent %v, watched %v..%v", i, r.DateSent, first, last)
		}
		if r.LandingPageWatchCount < 1 {
			t.Fatalf("record %d watched with count %d", i, r.LandingPageWatchCount)
		}
		if r.VideoPlayCount >= r.LandingPageWatchCount {
			count["plays>=watches"]++
		}
		if r.LandingPageWatchCount > 1 {
			count["rewatched"]++
		}
		if r.ImageLinkClicks+r.FacebookClicks+r.GoogleClicks > 0 {
			count["clicked"]++
		}
		if r.CustomerActionState != nil {
			states[*r.CustomerActionState] = true
			if r.CustomerActionDate == nil || r.CustomerActionDescription == nil {
				t.Fatalf("record %d: an action without date or description", i)
			}
			if cents := r.CustomerActionPrice * 100; math.Abs(cents-math.Round(cents)) > 1e-6 || r.CustomerActionPrice <= 0 {
				t.Fatalf("record %d: price %v", i, r.CustomerActionPrice)
			}
			if math.Round(r.CustomerActionPrice) != r.CustomerActionPrice {
				count["pence"]++
			}
		}
		if r.CustomerActionPaymentOutcome != nil {
			outcomes[*r.CustomerActionPaymentOutcome] = true
		}
		if r.CustomerRating != nil {
			if *r.CustomerRating < 1 || *r.CustomerRating > 5 {
				t.Fatalf("record %d: rating %d", i, *r.CustomerRating)
			}
			ratings[*r.CustomerRating]++
			if r.CustomerRatingAdditional != nil {
				count["comments"]++
			}
		}
	}

	if len(products) < 4 || !products["aftersales_via_portal"] {
		t.Errorf("product types %v", products)
	}
	if len(senders) < 6 || len(senders) > 12 {
		t.Errorf("%d senders, want about 8", len(senders))
	}
	for _, want := range []string{"accepted", "declined", "pending"} {
		if !states[want] {
			t.Errorf("no %q action in %v", want, states)
		}
	}
	for _, want := range []string{"paid", "unpaid", "failed"} {
		if !outcomes[want] {
			t.Errorf("no %q payment in %v", want, outcomes)
		}
	}
	for v := 1; v <= 5; v++ {
		if ratings[v] == 0 {
			t.Errorf("no rating %d in %v", v, ratings)
		}
	}
	if ratings[5] <= ratings[1] {
		t.Errorf("ratings %v do not lean to the top", ratings)
	}
	fractions := []struct {
		what     string
		of       string
		min, max float64
	}{
		{"sent", "", 0.85, 0.97},
		{"watched", "sent", 0.6, 0.9},
		{"plays>=watches", "watched", 0.8, 1},
		{"rewatched", "watched", 0.2, 0.8},
		{"clicked", "watched", 0.2, 0.9},
		{"email", "", 0.8, 0.97},
		{"mobile", "", 0.75, 0.95},
		{"comments", "watched", 0.02, 0.3},
	}
	for _, f := range fractions {
		of := n
		if f.of != "" {
			of = count[f.of]
		}
		if got := float64(count[f.what]) / float64(of); got < f.min || got > f.max {
			t.Errorf("%s: %.3f of %s, want %.2f..%.2f", f.what, got, f.of, f.min, f.max)
		}
	}
	if count["pence"] == 0 {
		t.Error("no price has pence")
	}
}

func TestPersonalData(t *testing.T) {
	rs := b2seetest.Generate(400, 4, testNow, 30)
	pd := b2seetest.PersonalData(rs)
	has := map[string]bool{}
	for _, s := range pd {
		if s == "" {
			t.Fatal("PersonalData contains an empty string")
		}
		has[s] = true
	}
	for _, r := range rs {
		for _, s := range []string{r.RecipientEmail, r.RecipientMobile, r.Title} {
			if s != "" && !has[s] {
				t.Fatalf("PersonalData lacks %q", s)
			}
		}
		if r.CustomerRatingAdditional != nil && !has[*r.CustomerRatingAdditional] {
			t.Fatalf("PersonalData lacks the comment %q", *r.CustomerRatingAdditional)
		}
	}
	// Everything personal must be in the served body, or leak checks built
	// on PersonalData would check for strings that are never there.
	s := startServer(t, b2seetest.Config{Records: rs})
	_, raw, _ := get(t, client(t), goodCakesURL(s, "30"))
	body := string(raw)
	for _, p := range pd {
		if !strings.Contains(body, p) {
			t.Fatalf("%q is not in the served body", p)
		}
	}
}

// BenchmarkServe100k serves 100,000 records over loopback, as the
// exporter's benchmark does; bytes/s is the throughput of the cached body.
func BenchmarkServe100k(b *testing.B) {
	s := startServer(b, b2seetest.Config{Records: b2seetest.Generate(100000, 1, testNow, 90)})
	c := client(b)
	u := goodCakesURL(s, "100")
	_, body, err := get(b, c, u) // renders the body once, outside the timing
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		resp, err := c.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || n != int64(len(body)) {
			b.Fatal(fmt.Sprint(resp.StatusCode, n, err))
		}
	}
}

func TestEvolveOnlyGrows(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rs := b2seetest.Generate(400, 3, now, 30)
	before := append([]b2seetest.Record(nil), rs...)
	after := b2seetest.Evolve(rs, 9, now.Add(time.Minute))
	if len(after) <= len(before) {
		t.Fatalf("no new batches: %d then %d", len(before), len(after))
	}
	grew := 0
	for i, b := range before {
		a := after[i]
		if a.BatchId != b.BatchId {
			t.Fatalf("record %d changed ID", i)
		}
		if a.LandingPageWatchCount < b.LandingPageWatchCount || a.VideoPlayCount < b.VideoPlayCount ||
			a.ImageLinkClicks < b.ImageLinkClicks || a.GoogleClicks < b.GoogleClicks || a.FacebookClicks < b.FacebookClicks {
			t.Errorf("batch %d counts went down", a.BatchId)
		}
		if a.VideoPlayCount > b.VideoPlayCount {
			grew++
		}
	}
	if grew == 0 {
		t.Error("no batch was played again")
	}
	for _, r := range after[len(before):] {
		if r.BatchId <= before[len(before)-1].BatchId {
			t.Errorf("new batch %d does not have a new ID", r.BatchId)
		}
	}
}

// TestGenerateManySenders: with Senders set, the records are spread over
// that many distinct sending users, and nothing else changes.
func TestGenerateManySenders(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rs := b2seetest.GenerateWith(20_000, 3, now, 30, b2seetest.GenerateOptions{Senders: 500})
	distinct := map[string]bool{}
	for _, r := range rs {
		if !strings.HasPrefix(r.SendingUserName, "Sender ") {
			t.Fatalf("sender %q is not one of the generated names", r.SendingUserName)
		}
		distinct[r.SendingUserName] = true
	}
	if len(distinct) != 500 {
		t.Errorf("%d distinct senders, want 500", len(distinct))
	}
	plain := b2seetest.Generate(20_000, 3, now, 30)
	for i := range plain {
		a, b := plain[i], rs[i]
		a.SendingUserName, b.SendingUserName = "", ""
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("record %d differs beyond its sender:\n%+v\n%+v", i, a, b)
		}
	}
}
