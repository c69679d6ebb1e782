package b2see

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// wireRecord is a batch record as the service writes it, personal data and
// free text included, for generating bodies with encoding/json.
type wireRecord struct {
	BatchID                      int64    `json:"BatchId"`
	MarketingContactID           int64    `json:"MarketingContactId"`
	DateCreated                  string   `json:"DateCreated"`
	SendingUserName              *string  `json:"SendingUserName"`
	Title                        string   `json:"Title"`
	ProductType                  *string  `json:"ProductType"`
	RecipientEmail               string   `json:"RecipientEmail"`
	RecipientMobile              string   `json:"RecipientMobile"`
	Data                         any      `json:"Data"`
	DateSent                     *string  `json:"DateSent"`
	LandingPageFirstWatched      *string  `json:"LandingPageFirstWatched"`
	LandingPageLastWatched       *string  `json:"LandingPageLastWatched"`
	LandingPageWatchCount        int64    `json:"LandingPageWatchCount"`
	CustomerActionState          *string  `json:"CustomerActionState"`
	CustomerActionDate           *string  `json:"CustomerActionDate"`
	CustomerActionDescription    *string  `json:"CustomerActionDescription"`
	CustomerActionPrice          float64  `json:"CustomerActionPrice"`
	CustomerActionPriceSuffix    *string  `json:"CustomerActionPriceSuffix"`
	CustomerActionPaymentOutcome *string  `json:"CustomerActionPaymentOutcome"`
	CustomerRating               *float64 `json:"CustomerRating"`
	CustomerRatingAdditional     *string  `json:"CustomerRatingAdditional"`
	VideoPlayCount               int64    `json:"VideoPlayCount"`
	ImageLinkClicks              int64    `json:"ImageLinkClicks"`
	FacebookClicks               int64    `json:"FacebookClicks"`
	GoogleClicks                 int64    `json:"GoogleClicks"`
}

var (
	genSenders  = []string{"Rory Walsh", "Aoife Byrne", "Sam O'Neill", "Priya Shah", "Tomás Ó Briain", "Service Desk"}
	genProducts = []string{"aftersales_via_portal", "aftersales", "sales", "sales_via_portal", "used_cars", "bodyshop"}
	genStates   = []string{"Accepted", "Declined", "Pending", "PartAccepted"}
	genOutcomes = []string{"Paid", "Failed", "NotRequired"}
)

func ptr[T any](v T) *T { return &v }

// genRecord makes a realistic record: most sent, many watched, some with a
// customer action and a price in pounds and pence, nulls where .NET leaves them.
func genRecord(r *rand.Rand, id int64) wireRecord {
	created := time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(400 * 24 * time.Hour))))
	w := wireRecord{
		BatchID:            id,
		MarketingContactID: r.Int64N(100000),
		DateCreated:        created.Format("2006-01-02T15:04:05Z"),
		SendingUserName:    ptr(genSenders[r.IntN(len(genSenders))]),
		Title:              fmt.Sprintf("SERVICE %c%c%02d XYZ", 'A'+r.IntN(26), 'A'+r.IntN(26), r.IntN(100)),
		ProductType:        ptr(genProducts[r.IntN(len(genProducts))]),
		RecipientEmail:     fmt.Sprintf("customer%d@example.com", r.IntN(1000000)),
		RecipientMobile:    fmt.Sprintf("+447700%06d", r.IntN(1000000)),
	}
	if r.IntN(10) == 0 {
		w.SendingUserName = nil
	}
	if r.IntN(10) < 9 {
		w.DateSent = ptr(created.Add(time.Duration(r.IntN(3600)) * time.Second).Format("2006-01-02T15:04:05.999Z"))
	}
	if w.DateSent != nil && r.IntN(10) < 7 {
		first := created.Add(time.Duration(r.IntN(72*3600)) * time.Second)
		w.LandingPageFirstWatched = ptr(first.Format(time.RFC3339Nano))
		w.LandingPageLastWatched = ptr(first.Add(time.Duration(r.IntN(48*3600)) * time.Second).Format(time.RFC3339Nano))
		w.LandingPageWatchCount = 1 + r.Int64N(5)
		w.VideoPlayCount = r.Int64N(6)
		w.ImageLinkClicks = r.Int64N(3)
		w.FacebookClicks = r.Int64N(2)
		w.GoogleClicks = r.Int64N(2)
		if r.IntN(3) == 0 {
			w.CustomerActionState = ptr(genStates[r.IntN(len(genStates))])
			w.CustomerActionDate = ptr(first.Add(time.Hour).Format("2006-01-02T15:04:05.9999999Z07:00"))
			w.CustomerActionDescription = ptr("Front brake pads and discs")
			w.CustomerActionPrice = float64(r.IntN(200000)) / 100
			w.CustomerActionPriceSuffix = ptr("inc VAT")
			w.CustomerActionPaymentOutcome = ptr(genOutcomes[r.IntN(len(genOutcomes))])
		}
		if r.IntN(4) == 0 {
			w.CustomerRating = ptr(float64(1 + r.IntN(5)))
			w.CustomerRatingAdditional = ptr("Very helpful, thanks")
		}
	}
	return w
}

// genBody encodes n generated records as the service would, one per line.
func genBody(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var buf bytes.Buffer
	buf.WriteString("[\n")
	for i := range n {
		if i > 0 {
			buf.WriteString(",\n")
		}
		rec, err := json.Marshal(genRecord(r, 1000000+int64(i)))
		if err != nil {
			panic(err) // plain structs always marshal
		}
		buf.Write(rec)
	}
	buf.WriteString("\n]\n")
	return buf.Bytes()
}

var benchBody = sync.OnceValue(func() []byte { return genBody(42, 100000) })

func BenchmarkDecode(b *testing.B) {
	body := benchBody()
	const records = 100000
	b.Run("decoder", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		var rd bytes.Reader
		var rec Record
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for b.Loop() {
			rd.Reset(body)
			d := NewDecoder(&rd)
			n := 0
			for {
				err := d.Next(&rec)
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != records {
				b.Fatalf("decoded %d records, want %d", n, records)
			}
		}
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/records, "allocs/record")
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(body) {
				b.Fatal("generated body is not valid JSON")
			}
		}
	})
}

// BenchmarkDecodeLongToken reads one 256 KiB number or string a byte at a
// time, the worst split a reader can make: both must cost time linear in
// their length.
func BenchmarkDecodeLongToken(b *testing.B) {
	const size = 256 << 10
	for _, tt := range []struct{ name, value string }{
		{"number", "1" + strings.Repeat("0", size-1)},
		{"string", `"` + strings.Repeat("x", size-2) + `"`},
	} {
		body := `[{"X": ` + tt.value + `}]`
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			var rd strings.Reader
			var rec Record
			for b.Loop() {
				rd.Reset(body)
				d := NewDecoder(iotest.OneByteReader(&rd))
				if err := d.Next(&rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
