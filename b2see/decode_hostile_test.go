package b2see

import (
	"io"
	"math"
	"strings"
	"testing"
)

// TestDecodeNumberScanLinear checks that a number split over many reads is
// looked at once, as a string is: scanning it again from its start after
// every refill made one-byte reads quadratic in the number's length.
func TestDecodeNumberScanLinear(t *testing.T) {
	const size = 64 << 10
	zeros := strings.Repeat("0", size)
	tests := []struct {
		name, field, number string
		price               float64 // CustomerActionPrice decoded, for the kept field
	}{
		{"integer in a skipped field", "X", "-1" + zeros, 0},
		{"fraction in a skipped field", "X", "1." + zeros, 0},
		{"exponent in a skipped field", "X", "1E+" + zeros, 0},
		{"kept price", "CustomerActionPrice", "0." + zeros + "5", 0},
		{"kept price with exponent", "CustomerActionPrice", "25e-" + zeros + "1", 2.5},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				body := `[{"` + tt.field + `": ` + tt.number + `, "BatchId": 7}]`
				d := NewDecoder(rd.wrap([]byte(body)))
				var b Batch
				if err := d.Next(&b); err != nil {
					t.Fatal(err)
				}
				if b.ID != 7 || b.CustomerActionPrice != tt.price {
					t.Errorf("decoded ID %d, price %v; want 7, %v", b.ID, b.CustomerActionPrice, tt.price)
				}
				// BatchId's "7" is looked at too.
				if limit := int64(len(tt.number) + 1); d.numScanned > limit {
					t.Errorf("number scanning looked at %d bytes for a number of %d, want at most %d",
						d.numScanned, len(tt.number), limit)
				}
				if err := d.Next(&b); err != io.EOF {
					t.Errorf("after the record: %v, want io.EOF", err)
				}
			})
		}
	}
}

// TestDecodeCountsAtTheEdges decodes counts at the limits of int64 as
// sent, negative ones included: the consumers, not the decoder, decide
// what a negative count is worth.
func TestDecodeCountsAtTheEdges(t *testing.T) {
	body := `[{"VideoPlayCount": 9223372036854775807, "GoogleClicks": -9223372036854775808,
		"FacebookClicks": -2, "ImageLinkClicks": 9.2e18, "LandingPageWatchCount": "-9.2e18"}]`
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			got, err := decodeAll(t, rd.wrap([]byte(body)))
			if err != nil {
				t.Fatal(err)
			}
			want := Batch{VideoPlayCount: math.MaxInt64, GoogleClicks: math.MinInt64, FacebookClicks: -2,
				ImageLinkClicks: 9200000000000000000, LandingPageWatchCount: -9200000000000000000}
			if len(got) != 1 || got[0] != want {
				t.Errorf("decoded %+v, want %+v", got, want)
			}
		})
	}
}
