package accounts

import (
	"testing"

	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/config"
)

// TestCapsReachTheCollector: an account's caps and series limit, a 0
// among them, are the collector's.
func TestCapsReachTheCollector(t *testing.T) {
	s := config.DefaultSettings()
	s.MaxSenders, s.MaxProductTypes, s.MaxActionStates, s.MaxPaymentOutcomes, s.MaxRatings, s.MaxSeries = 0, 2, 3, 4, 5, 6
	a := config.NewAccount(s)
	a.Name, a.CustomerID, a.InlineAPIKey = "north", "1", "10000000-0000-0000-0000-000000000001"
	opts, _, err := accountOptions(a, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := collector.LabelCaps{Senders: 0, ProductTypes: 2, ActionStates: 3, PaymentOutcomes: 4, Ratings: 5}
	if opts.Caps != want || opts.MaxSeries != 6 {
		t.Errorf("caps %+v and limit %d, want %+v and 6", opts.Caps, opts.MaxSeries, want)
	}
}
