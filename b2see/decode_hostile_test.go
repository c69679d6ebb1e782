package b2see

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
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
				var b Record
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
			want := Record{VideoPlayCount: math.MaxInt64, GoogleClicks: math.MinInt64, FacebookClicks: -2,
				ImageLinkClicks: 9200000000000000000, LandingPageWatchCount: -9200000000000000000}
			if len(got) != 1 || got[0] != want {
				t.Errorf("decoded %+v, want %+v", got, want)
			}
		})
	}
}

// hugeBody is a body made on the fly, never held whole: head, then n
// copies of unit, then tail. It counts what it handed out.
type hugeBody struct {
	head, unit, tail string
	n                int64 // copies of unit still to come
	pending          string
	read             int64
}

func (h *hugeBody) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if h.pending == "" {
			switch {
			case h.head != "":
				h.pending, h.head = h.head, ""
			case h.n > 0:
				// Hand out many units at once, so that a read is cheap.
				k := min(h.n, int64(4096/len(h.unit)+1))
				h.pending, h.n = strings.Repeat(h.unit, int(k)), h.n-k
			case h.tail != "":
				h.pending, h.tail = h.tail, ""
			default:
				if total == 0 {
					return 0, io.EOF
				}
				return total, nil
			}
		}
		c := copy(p, h.pending)
		h.pending, p, total = h.pending[c:], p[c:], total+c
	}
	h.read += int64(total)
	return total, nil
}

const hugeSize = 500 << 20

// hugeBodies are bodies of 500 MB that must be refused early and cheaply.
func hugeBodies() []struct {
	name   string
	body   func() *hugeBody
	reason string
} {
	tokenTooLong := "a single token is longer than"
	return []struct {
		name   string
		body   func() *hugeBody
		reason string
	}{
		{"string in a skipped field", func() *hugeBody {
			return &hugeBody{head: `[{"Data": "`, unit: "x", n: hugeSize, tail: `"}]`}
		}, tokenTooLong},
		{"string in a kept field", func() *hugeBody {
			return &hugeBody{head: `[{"SendingUserName": "`, unit: "é", n: hugeSize / 2, tail: `"}]`}
		}, tokenTooLong},
		{"field name", func() *hugeBody {
			return &hugeBody{head: `[{"`, unit: "k", n: hugeSize, tail: `": 1}]`}
		}, tokenTooLong},
		{"number in a kept field", func() *hugeBody {
			return &hugeBody{head: `[{"VideoPlayCount": 1`, unit: "0", n: hugeSize, tail: `}]`}
		}, tokenTooLong},
		{"number in a skipped field", func() *hugeBody {
			return &hugeBody{head: `[{"X": 0.`, unit: "5", n: hugeSize, tail: `}]`}
		}, tokenTooLong},
		{"arrays nested", func() *hugeBody {
			return &hugeBody{head: `[{"X": `, unit: "[", n: hugeSize, tail: `}]`}
		}, "nested too deeply"},
		{"objects nested", func() *hugeBody {
			return &hugeBody{head: `[{"X": `, unit: `{"a":`, n: hugeSize / 5, tail: `}]`}
		}, "nested too deeply"},
	}
}

// TestDecodeHugeBodiesRefusedCheaply feeds 500 MB bodies from a reader:
// each is refused with a body error that says why, after reading about the
// token cap and allocating a few megabytes at most, never the body.
func TestDecodeHugeBodiesRefusedCheaply(t *testing.T) {
	for _, tt := range hugeBodies() {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := decodeAll(t, body)
			runtime.ReadMemStats(&after)
			var be *BodyError
			if !errors.As(err, &be) || !strings.Contains(be.Reason, tt.reason) {
				t.Fatalf("error = %v, want a body error saying %q", err, tt.reason)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") || len(msg) > 200 {
				t.Errorf("error is not one short line: %q", msg)
			}
			if limit := int64(maxToken + 2*bufSize); body.read > limit {
				t.Errorf("read %d bytes of the body before refusing it, want at most %d", body.read, limit)
			}
			if alloc, limit := after.TotalAlloc-before.TotalAlloc, uint64(4<<20); alloc > limit {
				t.Errorf("allocated %d bytes to refuse the body, want at most %d", alloc, limit)
			}
		})
	}
}

// TestClientRefusesHugeBodiesAsBadBody serves the same bodies over HTTP:
// the client reports bad_body with the decoder's reason, and stops reading.
func TestClientRefusesHugeBodiesAsBadBody(t *testing.T) {
	for _, tt := range hugeBodies() {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body()
			done := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(done)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.Copy(w, body) // fails once the client hangs up
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, nil)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := c.Cakes(context.Background(), func(*Record) error { return nil })
			runtime.ReadMemStats(&after)
			<-done
			if Reason(err) != ReasonBadBody || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("error = %v (%s), want bad_body saying %q", err, Reason(err), tt.reason)
			}
			// What the server wrote before the client hung up, socket
			// buffers included, is far below the body.
			if limit := int64(64 << 20); body.read > limit {
				t.Errorf("the server wrote %d bytes before the client hung up, want at most %d", body.read, limit)
			}
			if alloc, limit := after.TotalAlloc-before.TotalAlloc, uint64(16<<20); alloc > limit {
				t.Errorf("allocated %d bytes to refuse the body, want at most %d", alloc, limit)
			}
		})
	}
}
