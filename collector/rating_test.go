package collector

import (
	"math"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/b2see-exporter/b2see_exporter/b2see"
)

func TestRatingLabel(t *testing.T) {
	tests := []struct {
		rating float64
		want   string
	}{
		{5, "5"},
		{4.5, "4.5"},
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{-0.001, "0"},
		{3.14159, "3.14"},
		{4.125, "4.13"}, // exact in binary: half rounds away from zero
		{-2.5, "-2.5"},
		{99.999, "100"},
		{1000, "1000"},
		{-1000, "-1000"},
		{999.994, "999.99"},
		{1000.01, "out_of_range"},
		{-1000.01, "out_of_range"},
		{1e308, "out_of_range"},
		{-math.MaxFloat64, "out_of_range"},
		{5e-324, "0"},
		{math.Inf(1), "out_of_range"},
		{math.NaN(), "out_of_range"},
	}
	for _, tt := range tests {
		if got := ratingLabel(tt.rating); got != tt.want {
			t.Errorf("ratingLabel(%v) = %q, want %q", tt.rating, got, tt.want)
		}
	}
}

// TestRatingsShareSeries checks the series a scrape gives for ratings that
// only differ in how they are written, or are far outside any scale.
func TestRatingsShareSeries(t *testing.T) {
	var batches []b2see.Record
	for i, r := range []float64{0, math.Copysign(0, -1), 5, 5.0000001, 1e308, 5e-324, -1e300} {
		batches = append(batches, b2see.Record{ID: int64(i), HasID: true, ProductType: "p", CustomerRating: r, HasRating: true})
	}
	acc := newTestAccount(&memSource{batches: batches}, func(o *AccountOptions) { o.SenderLabel = false })
	want := `
# HELP b2see_window_customer_ratings Batches in the history window by the customer's rating.
# TYPE b2see_window_customer_ratings gauge
b2see_window_customer_ratings{account="north",product_type="p",rating="0",sender=""} 3
b2see_window_customer_ratings{account="north",product_type="p",rating="5",sender=""} 2
b2see_window_customer_ratings{account="north",product_type="p",rating="out_of_range",sender=""} 2
`
	if err := testutil.CollectAndCompare(collectorFor(acc), strings.NewReader(want), "b2see_window_customer_ratings"); err != nil {
		t.Fatal(err)
	}
}
