package b2see

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

// decodeAll decodes every record of r until io.EOF or the first error.
func decodeAll(t testing.TB, r io.Reader) ([]Record, error) {
	t.Helper()
	d := NewDecoder(r)
	var out []Record
	for {
		var b Record
		err := d.Next(&b)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// readers wraps a body in readers that split it differently, so that every
// token sooner or later straddles a refill.
var readers = []struct {
	name string
	wrap func([]byte) io.Reader
}{
	{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"one byte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{"half", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	{"data with EOF", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
}

func TestDecodeFixtures(t *testing.T) {
	base := utc("2021-05-13T10:53:44Z")
	date := func(id int64, created time.Time) Record { return Record{ID: id, HasID: true, DateCreated: created} }
	tests := []struct {
		file string
		want []Record
	}{
		{"cakes_sample.json", []Record{{
			ID: 1032005, HasID: true,
			DateCreated:     base,
			SendingUserName: "Rory Walsh",
			ProductType:     "aftersales_via_portal",
			VideoPlayCount:  1,
		}}},
		{"camel_case.json", []Record{{
			ID: 2001, HasID: true,
			DateCreated:                  utc("2021-06-01T09:00:00Z"),
			DateSent:                     utc("2021-06-01T09:05:00Z"),
			SendingUserName:              "Aoife Byrne",
			ProductType:                  "aftersales",
			LandingPageFirstWatched:      utc("2021-06-01T10:00:00Z"),
			LandingPageLastWatched:       utc("2021-06-02T11:30:00Z"),
			LandingPageWatchCount:        3,
			VideoPlayCount:               2,
			ImageLinkClicks:              1,
			GoogleClicks:                 4,
			CustomerActionState:          "Accepted",
			CustomerActionDate:           utc("2021-06-02T11:31:00Z"),
			CustomerActionPrice:          149.99,
			CustomerActionPaymentOutcome: "Paid",
			CustomerRating:               5, HasRating: true,
		}, {ID: 2002, HasID: true, ProductType: "sales", VideoPlayCount: 7}}},
		{"dotnet_dates.json", []Record{
			date(1, base),
			date(2, base.Add(100*time.Millisecond)),
			date(3, base.Add(123*time.Millisecond)),
			date(4, base.Add(123456700)),
			date(5, base.Add(123456789)),
			date(6, base),
			date(7, base),
			date(8, base),
			date(9, base),
			date(10, base.Add(500*time.Millisecond)),
			date(11, base),
			date(12, base),
			date(13, base),
			date(14, time.Time{}),
			date(15, time.Time{}),
			{ID: 16, HasID: true, DateSent: base},
		}},
		{"nulls.json", []Record{{}, {}}},
		{"unknown_nested.json", []Record{{
			ID: 3001, HasID: true,
			ProductType:           "bodyshop",
			SendingUserName:       "Tomás Ó Briain",
			CustomerActionPrice:   12.5,
			LandingPageWatchCount: 3,
			VideoPlayCount:        4,
			ImageLinkClicks:       10,
			FacebookClicks:        -2,
			CustomerRating:        4.5, HasRating: true,
		}}},
		{"bom.json", []Record{{ID: 4001, HasID: true, ProductType: "sales", CustomerActionPrice: 100}}},
		{"top_null.json", nil},
		{"empty_array.json", nil},
	}
	for _, tt := range tests {
		data := readFixture(t, tt.file)
		for _, rd := range readers {
			t.Run(tt.file+"/"+rd.name, func(t *testing.T) {
				got, err := decodeAll(t, rd.wrap(data))
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d records, want %d", len(got), len(tt.want))
				}
				for i := range got {
					if diff := diffBatch(got[i], tt.want[i]); diff != "" {
						t.Errorf("record %d: %s", i, diff)
					}
				}
			})
		}
	}
}

// diffBatch describes how got differs from want, or returns "".
func diffBatch(got, want Record) string {
	var diffs []string
	eqTime := func(name string, g, w time.Time) {
		if !g.Equal(w) || g.Location() != time.UTC {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v (UTC)", name, g, w))
		}
	}
	eqTime("DateCreated", got.DateCreated, want.DateCreated)
	eqTime("DateSent", got.DateSent, want.DateSent)
	eqTime("LandingPageFirstWatched", got.LandingPageFirstWatched, want.LandingPageFirstWatched)
	eqTime("LandingPageLastWatched", got.LandingPageLastWatched, want.LandingPageLastWatched)
	eqTime("CustomerActionDate", got.CustomerActionDate, want.CustomerActionDate)
	got.DateCreated, got.DateSent, got.LandingPageFirstWatched, got.LandingPageLastWatched, got.CustomerActionDate = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	want.DateCreated, want.DateSent, want.LandingPageFirstWatched, want.LandingPageLastWatched, want.CustomerActionDate = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		diffs = append(diffs, fmt.Sprintf("got %+v\nwant %+v", got, want))
	}
	return strings.Join(diffs, "; ")
}

func TestDecodeBadBodies(t *testing.T) {
	tests := []struct {
		name   string
		body   string // inline, or
		file   string
		reason string // substring of BodyError.Reason
		good   int    // records decoded before the error
	}{
		{file: "bad_truncated.json", reason: "truncated"},
		{file: "bad_object.json", reason: "want an array of batch records, got an object"},
		{file: "bad_trailing.json", reason: "after the end", good: 1},
		{file: "bad_utf8.json", reason: "invalid UTF-8"},
		{file: "bad_type.json", reason: "VideoPlayCount"},
		{file: "bad_trailing_comma.json", reason: "field name"},
		{file: "bad_element.json", reason: "element 1 of the array is a string", good: 1},
		{file: "bad_date.json", reason: "DateSent"},
		{file: "bad_fraction_count.json", reason: "VideoPlayCount: not a whole number"},
		{name: "empty", body: "", reason: "empty"},
		{name: "whitespace only", body: " \n\t", reason: "empty"},
		{name: "top-level string", body: `"x"`, reason: "got a string"},
		{name: "top-level number", body: `12`, reason: "got a number"},
		{name: "top-level true", body: `true`, reason: "got a boolean"},
		{name: "garbage", body: `<html>`, reason: "invalid character"},
		{name: "bad null", body: `[nul]`, reason: "invalid literal"},
		{name: "bad null in field", body: `[{"BatchId": nulL}]`, reason: "invalid literal"},
		{name: "bad true", body: `[{"X": tru}]`, reason: "invalid literal"},
		{name: "truncated literal", body: `[{"X": fal`, reason: "truncated"},
		{name: "trailing comma in array", body: `[{},]`, reason: "invalid character", good: 1},
		{name: "trailing comma in skipped array", body: `[{"X": [1,]}]`, reason: "invalid character"},
		{name: "trailing comma in skipped object", body: `[{"X": {"a":1,}}]`, reason: "field name"},
		{name: "missing comma", body: `[{} {}]`, reason: "want ',' or ']'", good: 1},
		{name: "missing colon", body: `[{"BatchId" 1}]`, reason: "want ':'"},
		{name: "unquoted key", body: `[{BatchId: 1}]`, reason: "field name"},
		{name: "single quotes", body: `[{'BatchId': 1}]`, reason: "field name"},
		{name: "unterminated string", body: `[{"Title": "abc`, reason: "truncated"},
		{name: "control character", body: "[{\"Title\": \"a\tb\"}]", reason: "control character"},
		{name: "bad escape", body: `[{"Title": "a\qb"}]`, reason: "invalid escape"},
		{name: "bad unicode escape", body: `[{"Title": "a\u12G4"}]`, reason: "invalid \\u escape"},
		{name: "invalid UTF-8 in key", body: "[{\"B\xffatchId\": 1}]", reason: "invalid UTF-8"},
		{name: "overlong UTF-8", body: "[{\"Title\": \"\xc0\xaf\"}]", reason: "invalid UTF-8"},
		{name: "UTF-8 surrogate", body: "[{\"Title\": \"\xed\xa0\x80\"}]", reason: "invalid UTF-8"},
		{name: "leading zero", body: `[{"VideoPlayCount": 01}]`, reason: "want ',' or '}'"},
		{name: "bare minus", body: `[{"VideoPlayCount": -}]`, reason: "invalid number"},
		{name: "bare fraction", body: `[{"X": 1.}]`, reason: "invalid number"},
		{name: "bare exponent", body: `[{"X": 1e}]`, reason: "invalid number"},
		{name: "plus sign", body: `[{"X": +1}]`, reason: "invalid character"},
		{name: "NaN", body: `[{"CustomerActionPrice": NaN}]`, reason: "invalid character"},
		{name: "count as boolean", body: `[{"VideoPlayCount": true}]`, reason: "VideoPlayCount: want a number, got a boolean"},
		{name: "count as object", body: `[{"GoogleClicks": {}}]`, reason: "GoogleClicks: want a number, got an object"},
		{name: "count too big", body: `[{"GoogleClicks": 99999999999999999999}]`, reason: "out of range"},
		{name: "price too big", body: `[{"CustomerActionPrice": 1e999}]`, reason: "out of range"},
		{name: "price too small", body: `[{"CustomerActionPrice": -1e999}]`, reason: "CustomerActionPrice: number out of range"},
		{name: "rating too big", body: `[{"CustomerRating": "1e400"}]`, reason: "CustomerRating: number out of range"},
		{name: "count too small", body: `[{"VideoPlayCount": -9223372036854775809}]`, reason: "VideoPlayCount: number out of range"},
		{name: "count too big as a string", body: `[{"LandingPageWatchCount": "9223372036854775808"}]`, reason: "LandingPageWatchCount: number out of range"},
		{name: "count too big with an exponent", body: `[{"ImageLinkClicks": 1e19}]`, reason: "ImageLinkClicks: number out of range"},
		{name: "count too big for a float", body: `[{"FacebookClicks": 1e999}]`, reason: "FacebookClicks: number out of range"},
		{name: "batch ID too big", body: `[{"BatchId": 18446744073709551616}]`, reason: "BatchId: number out of range"},
		{name: "string as number", body: `[{"ProductType": 5}]`, reason: "ProductType: want a string, got a number"},
		{name: "date as number", body: `[{"DateSent": 5}]`, reason: "DateSent: want a date string, got a number"},
		{name: "date as array", body: `[{"DateSent": []}]`, reason: "DateSent: want a date string, got an array"},
		{name: "number string not a number", body: `[{"BatchId": "12a"}]`, reason: "BatchId: want a number"},
		{name: "number string with space", body: `[{"BatchId": " 12"}]`, reason: "BatchId: want a number"},
		{name: "record is array", body: `[[]]`, reason: "element 0 of the array is an array"},
		{name: "record is number", body: `[null, 1]`, reason: "element 1 of the array is a number"},
		{name: "garbage after null", body: `null x`, reason: "after the end"},
		{name: "second array", body: `[][]`, reason: "after the end"},
		{name: "truncated after comma", body: `[{},`, reason: "truncated", good: 1},
		{name: "truncated in skipped", body: `[{"X": [{"a": [`, reason: "truncated"},
		{name: "truncated number", body: `[{"X": 12`, reason: "truncated"},
		{name: "unclosed array", body: `[{}`, reason: "truncated", good: 1},
		{name: "half BOM", body: "\xef\xbb[]", reason: "invalid character"},
		{name: "too deep", body: `[{"X":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}]`, reason: "nested too deeply"},
	}
	for _, tt := range tests {
		name, data := tt.name, []byte(tt.body)
		if tt.file != "" {
			name, data = tt.file, readFixture(t, tt.file)
		}
		for _, rd := range readers {
			t.Run(name+"/"+rd.name, func(t *testing.T) {
				got, err := decodeAll(t, rd.wrap(data))
				var be *BodyError
				if !errors.As(err, &be) {
					t.Fatalf("error = %v, want a *BodyError", err)
				}
				if !strings.Contains(be.Reason, tt.reason) {
					t.Errorf("reason %q does not contain %q", be.Reason, tt.reason)
				}
				if be.Offset < 0 || be.Offset > int64(len(data)) {
					t.Errorf("offset %d outside the body of %d bytes", be.Offset, len(data))
				}
				if want := fmt.Sprintf("bad response body at byte %d: %s", be.Offset, be.Reason); err.Error() != want {
					t.Errorf("Error() = %q, want %q", err.Error(), want)
				}
				if len(got) != tt.good {
					t.Errorf("decoded %d records before the error, want %d", len(got), tt.good)
				}
			})
		}
	}
}

func TestDecodeErrorOffset(t *testing.T) {
	tests := []struct {
		body string
		at   string // the error is at the first occurrence of this
	}{
		{`[{"BatchId": 1}, {"VideoPlayCount": true}]`, "true"},
		{`[{"BatchId": 1}, {"Title": "a\qb"}]`, `\q`},
		{`[{"BatchId": 1} x]`, "x"},
		{`[{"BatchId": 1}] x`, "x"},
		{`[{"DateSent": "yesterday"}]`, `"yesterday"`},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			_, err := decodeAll(t, strings.NewReader(tt.body))
			var be *BodyError
			if !errors.As(err, &be) {
				t.Fatalf("error = %v, want a *BodyError", err)
			}
			if want := int64(strings.Index(tt.body, tt.at)); be.Offset != want {
				t.Errorf("offset = %d, want %d (%s)", be.Offset, want, be.Reason)
			}
		})
	}
}

// TestDecodeTruncatedEverywhere cuts a valid body at every byte: each cut
// must be reported as truncation, never decoded as a complete body.
func TestDecodeTruncatedEverywhere(t *testing.T) {
	for _, file := range []string{"cakes_sample.json", "camel_case.json", "unknown_nested.json", "dotnet_dates.json"} {
		data := bytes.TrimRight(readFixture(t, file), " \r\n\t")
		for i := 1; i < len(data); i++ {
			_, err := decodeAll(t, bytes.NewReader(data[:i]))
			var be *BodyError
			if !errors.As(err, &be) || !strings.Contains(be.Reason, "truncated") {
				t.Fatalf("%s cut at %d: error = %v, want truncation", file, i, err)
			}
		}
	}
}

// bodyTooLarge stands for a caller's own error type, returned by its reader.
type bodyTooLarge struct{ limit int64 }

func (e *bodyTooLarge) Error() string { return fmt.Sprintf("body larger than %d bytes", e.limit) }

// failingReader returns data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestDecodeReaderErrors(t *testing.T) {
	sample := readFixture(t, "cakes_sample.json")
	tests := []struct {
		name string
		data []byte
		err  error
	}{
		{"at start", nil, &bodyTooLarge{limit: 10}},
		{"mid record", sample[:40], &bodyTooLarge{limit: 40}},
		{"mid string", sample[:60], io.ErrUnexpectedEOF},
		{"after closing bracket", bytes.TrimSpace(sample), &bodyTooLarge{limit: 99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeAll(t, &failingReader{data: tt.data, err: tt.err})
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want it to wrap %v", err, tt.err)
			}
			var be *BodyError
			if errors.As(err, &be) {
				t.Errorf("reader error reported as a body error: %v", err)
			}
			var tl *bodyTooLarge
			if _, want := tt.err.(*bodyTooLarge); want && !errors.As(err, &tl) {
				t.Errorf("errors.As cannot find *bodyTooLarge in %v", err)
			}
		})
	}
}

func TestDecodeStickyAndOffset(t *testing.T) {
	body := readFixture(t, "camel_case.json")
	d := NewDecoder(bytes.NewReader(body))
	var b Record
	var last int64
	for {
		err := d.Next(&b)
		if off := d.InputOffset(); off < last {
			t.Fatalf("InputOffset went back from %d to %d", last, off)
		} else {
			last = off
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if last != int64(len(body)) {
		t.Errorf("InputOffset after io.EOF = %d, want %d", last, len(body))
	}
	if err := d.Next(&b); err != io.EOF {
		t.Errorf("Next after io.EOF = %v, want io.EOF again", err)
	}

	d = NewDecoder(strings.NewReader(`[{"BatchId": true}, {"BatchId": 2}]`))
	first := d.Next(&b)
	if first == nil {
		t.Fatal("no error for a boolean BatchId")
	}
	if again := d.Next(&b); again != first {
		t.Errorf("Next after an error = %v, want the same error %v", again, first)
	}
}

func TestDecodeOverwritesEveryField(t *testing.T) {
	d := NewDecoder(bytes.NewReader(readFixture(t, "camel_case.json")))
	var b Record
	if err := d.Next(&b); err != nil {
		t.Fatal(err)
	}
	if err := d.Next(&b); err != nil {
		t.Fatal(err)
	}
	want := Record{ID: 2002, HasID: true, ProductType: "sales", VideoPlayCount: 7}
	if diff := diffBatch(b, want); diff != "" {
		t.Error(diff)
	}
}

// TestDecodeNoPersonalData checks that neither errors nor decoded records
// carry recipients' data or free text, for good bodies and broken ones.
func TestDecodeNoPersonalData(t *testing.T) {
	secrets := []string{"jane.doe@example.com", "+447700900123", "Mrs Jane Doe", "Brake pads for Jane", "jane"}
	good := `[{"BatchId": 9, "Title": "Mrs Jane Doe", "RecipientEmail": "jane.doe@example.com",
		"RecipientMobile": "+447700900123", "CustomerActionDescription": "Brake pads for Jane",
		"CustomerRatingAdditional": "jane", "ProductType": "sales"}]`
	bodies := map[string]string{
		"good":                 good,
		"truncated":            good[:strings.Index(good, "900123")],
		"email as field value": `[{"VideoPlayCount": "jane.doe@example.com"}]`,
		"email as date":        `[{"DateSent": "jane.doe@example.com"}]`,
		"mobile as price":      `[{"CustomerActionPrice": "+447700900123"}]`,
		"email as key":         `[{"jane.doe@example.com": 1 2}]`,
		"email in bad escape":  `[{"RecipientEmail": "jane.doe@example.com\x"}]`,
		"email bad UTF-8":      "[{\"RecipientEmail\": \"jane.doe@example.com\xff\"}]",
		"mobile after end":     `[] "+447700900123"`,
		"email top level":      `"jane.doe@example.com"`,
		"email element":        `["jane.doe@example.com"]`,
		"title as object":      `{"Title": "Mrs Jane Doe"}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			recs, err := decodeAll(t, strings.NewReader(body))
			text := fmt.Sprintf("%+v %#v", recs, recs)
			if err != nil {
				text += err.Error()
			}
			if name != "good" && err == nil {
				t.Fatalf("no error for a broken body")
			}
			for _, s := range secrets {
				if strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
					t.Errorf("output holds %q: %s", s, text)
				}
			}
		})
	}
}

func TestDecodeTokenCap(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"fits the first buffer", bufSize / 2, false},
		{"grows the buffer", maxToken / 2, false},
		{"over the cap", maxToken + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `[{"Data": "` + strings.Repeat("x", tt.size) + `", "BatchId": 5}]`
			d := NewDecoder(strings.NewReader(body))
			var b Record
			err := d.Next(&b)
			if len(d.buf) > maxToken {
				t.Errorf("buffer grew to %d bytes, over the cap of %d", len(d.buf), maxToken)
			}
			var be *BodyError
			if tt.wantErr {
				if !errors.As(err, &be) || !strings.Contains(be.Reason, "longer than") {
					t.Fatalf("error = %v, want a token length BodyError", err)
				}
				return
			}
			if err != nil || b.ID != 5 {
				t.Fatalf("Next = %v, ID %d; want ID 5", err, b.ID)
			}
		})
	}
}

func TestDecodeSteadyStateAllocs(t *testing.T) {
	body := genBody(7, 2000)
	var b Record
	allocs := testing.AllocsPerRun(3, func() {
		d := NewDecoder(bytes.NewReader(body))
		for d.Next(&b) == nil {
		}
	})
	// The decoder, its buffer, its intern table and the few distinct names
	// cost a fixed amount; anything per record would show as thousands.
	if allocs > 100 {
		t.Errorf("%v allocations to decode 2000 records, want a small constant", allocs)
	}
}

func TestDecodeInternBounded(t *testing.T) {
	var body strings.Builder
	body.WriteString("[")
	const n = maxInterned + 500
	for i := range n {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"SendingUserName": "sender %d"}`, i)
	}
	body.WriteString("]")
	d := NewDecoder(strings.NewReader(body.String()))
	var b Record
	for i := range n {
		if err := d.Next(&b); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("sender %d", i); b.SendingUserName != want {
			t.Fatalf("record %d: SendingUserName %q, want %q", i, b.SendingUserName, want)
		}
	}
	if len(d.intern) > maxInterned {
		t.Errorf("intern table holds %d strings, over the bound %d", len(d.intern), maxInterned)
	}

	long := strings.Repeat("n", maxInternLen+1)
	d = NewDecoder(strings.NewReader(`[{"SendingUserName": "short"}, {"ProductType": "` + long + `"}]`))
	for _, want := range []string{"short", long} {
		if err := d.Next(&b); err != nil {
			t.Fatal(err)
		}
		if got := b.SendingUserName + b.ProductType; got != want {
			t.Fatalf("decoded %q, want %q", got, want)
		}
	}
	if _, ok := d.intern[long]; ok || len(d.intern) != 1 {
		t.Errorf("intern table holds %d strings, want only the short one", len(d.intern))
	}
}

// diffRecord is a record with the variations .NET writers produce, for the
// differential test; the expected values are kept beside the wire form.
type diffRecord struct {
	wire map[string]any
	want Record
}

// keyCase spells a documented field name as one of the writers would.
func keyCase(r *rand.Rand, name string) string {
	switch r.IntN(4) {
	case 0:
		return strings.ToLower(name[:1]) + name[1:]
	case 1:
		return strings.ToUpper(name)
	}
	return name
}

func randDate(r *rand.Rand) (any, time.Time) {
	t := time.Unix(r.Int64N(4e9), 0).UTC()
	switch r.IntN(8) {
	case 0:
		return nil, time.Time{}
	case 1:
		t = t.Add(time.Duration(r.IntN(1e7)) * 100)
		return t.Format("2006-01-02T15:04:05.0000000Z"), t
	case 2:
		zone := time.FixedZone("", (r.IntN(29)-14)*1800)
		return t.In(zone).Format("2006-01-02T15:04:05-07:00"), t
	case 3:
		return t.Format("2006-01-02T15:04:05"), t
	case 4:
		t = t.Add(time.Duration(r.IntN(1000)) * time.Millisecond)
		return fmt.Sprintf("/Date(%d)/", t.UnixMilli()), t
	case 5:
		return "0001-01-01T00:00:00", time.Time{}
	}
	return t.Format(time.RFC3339), t
}

func randString(r *rand.Rand) string {
	const alphabet = "abc XYZ 019 <>&'\"\\/\t\n é ß ☃ 🚗 \u2028"
	runes := []rune(alphabet)
	n := r.IntN(20)
	var sb strings.Builder
	for range n {
		sb.WriteRune(runes[r.IntN(len(runes))])
	}
	return sb.String()
}

func randRecord(r *rand.Rand) diffRecord {
	w := map[string]any{}
	var b Record
	set := func(name string, v any) { w[keyCase(r, name)] = v }
	num := func(v int64) any { // counts as numbers, integral floats or strings
		switch r.IntN(6) {
		case 0:
			return strconv.FormatInt(v, 10)
		case 1:
			if -1<<53 < v && v < 1<<53 {
				return float64(v)
			}
		}
		return v
	}
	if r.IntN(8) != 0 {
		b.ID, b.HasID = r.Int64N(1<<62)-(1<<61), true
		set("BatchId", num(b.ID))
	} else if r.IntN(2) == 0 {
		set("BatchId", nil)
	}
	dates := []struct {
		name string
		dst  *time.Time
	}{
		{"DateCreated", &b.DateCreated}, {"DateSent", &b.DateSent},
		{"LandingPageFirstWatched", &b.LandingPageFirstWatched}, {"LandingPageLastWatched", &b.LandingPageLastWatched},
		{"CustomerActionDate", &b.CustomerActionDate},
	}
	for _, f := range dates {
		v, t := randDate(r)
		*f.dst = t
		set(f.name, v)
	}
	strs := []struct {
		name string
		dst  *string
	}{
		{"SendingUserName", &b.SendingUserName}, {"ProductType", &b.ProductType},
		{"CustomerActionState", &b.CustomerActionState}, {"CustomerActionPaymentOutcome", &b.CustomerActionPaymentOutcome},
	}
	for _, f := range strs {
		if r.IntN(5) == 0 {
			set(f.name, nil)
			continue
		}
		*f.dst = randString(r)
		set(f.name, *f.dst)
	}
	counts := []struct {
		name string
		dst  *int64
	}{
		{"LandingPageWatchCount", &b.LandingPageWatchCount}, {"VideoPlayCount", &b.VideoPlayCount},
		{"ImageLinkClicks", &b.ImageLinkClicks}, {"FacebookClicks", &b.FacebookClicks}, {"GoogleClicks", &b.GoogleClicks},
	}
	for _, f := range counts {
		*f.dst = r.Int64N(2000) - 10
		set(f.name, num(*f.dst))
	}
	floats := []float64{0, 12.5, 149.99, 0.1, 1e-7, 123456.78, r.Float64() * 1e4, r.NormFloat64() * 1e30, math.MaxFloat64, -5e-324}
	b.CustomerActionPrice = floats[r.IntN(len(floats))]
	if r.IntN(4) == 0 {
		set("CustomerActionPrice", strconv.FormatFloat(b.CustomerActionPrice, 'g', -1, 64))
	} else {
		set("CustomerActionPrice", b.CustomerActionPrice)
	}
	if r.IntN(3) == 0 {
		b.CustomerRating, b.HasRating = floats[r.IntN(len(floats))], true
		set("CustomerRating", b.CustomerRating)
	} else {
		set("CustomerRating", nil)
	}
	// What the decoder must skip.
	w["RecipientEmail"] = randString(r) + "@example.com"
	w["Title"] = randString(r)
	w["Data"] = map[string]any{"nested": []any{randString(r), 1.5, nil, true, map[string]any{}}}
	return diffRecord{wire: w, want: b}
}

// TestDecodeDifferential decodes random records written by encoding/json.
func TestDecodeDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var recs []diffRecord
	var wire []any
	for range 3000 {
		rec := randRecord(r)
		recs = append(recs, rec)
		wire = append(wire, rec.wire)
	}
	body, err := json.Marshal(wire)
	if err != nil {
		t.Fatal(err)
	}
	for _, rd := range readers[:2] {
		t.Run(rd.name, func(t *testing.T) {
			got, err := decodeAll(t, rd.wrap(body))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(recs) {
				t.Fatalf("got %d records, want %d", len(got), len(recs))
			}
			for i := range got {
				if diff := diffBatch(got[i], recs[i].want); diff != "" {
					t.Errorf("record %d: %s", i, diff)
				}
			}
		})
	}
}

// oracleKinds gives the expected JSON kind of each kept field by its
// lower-case name, independently of the decoder's own table.
var oracleKinds = map[string]byte{
	"batchid": 'i', "landingpagewatchcount": 'i', "videoplaycount": 'i',
	"imagelinkclicks": 'i', "facebookclicks": 'i', "googleclicks": 'i',
	"customeractionprice": 'f', "customerrating": 'f',
	"datecreated": 'd', "datesent": 'd', "landingpagefirstwatched": 'd',
	"landingpagelastwatched": 'd', "customeractiondate": 'd',
	"sendingusername": 's', "producttype": 's', "customeractionstate": 's',
	"customeractionpaymentoutcome": 's',
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// oracleValue reports whether raw, a valid JSON value, suits a field of kind k.
func oracleValue(k byte, raw []byte) bool {
	if string(raw) == "null" {
		return true
	}
	if k == 's' || k == 'd' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return false
		}
		_, err := parseTime([]byte(s))
		return k == 's' || err == nil
	}
	text := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &text) != nil {
			return false
		}
		if text == "" {
			return true
		}
		if !jsonNumber.MatchString(text) {
			return false
		}
	} else if !jsonNumber.MatchString(text) {
		return false
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return false
	}
	if k == 'f' {
		return true
	}
	if !strings.ContainsAny(text, ".eE") {
		_, err := strconv.ParseInt(text, 10, 64)
		return err == nil
	}
	return f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63
}

// oracleShape reports whether a valid JSON body is null or an array of
// nulls and objects whose kept fields all have values of the right kind.
func oracleShape(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	if tok == nil {
		return true
	}
	if tok != json.Delim('[') {
		return false
	}
	for dec.More() {
		var elem json.RawMessage
		if err := dec.Decode(&elem); err != nil {
			return false
		}
		if string(elem) == "null" {
			continue
		}
		ed := json.NewDecoder(bytes.NewReader(elem))
		if tok, err := ed.Token(); err != nil || tok != json.Delim('{') {
			return false
		}
		for ed.More() {
			key, err := ed.Token()
			if err != nil {
				return false
			}
			var raw json.RawMessage
			if err := ed.Decode(&raw); err != nil {
				return false
			}
			lower := []byte(key.(string))
			for i, c := range lower {
				if 'A' <= c && c <= 'Z' {
					lower[i] = c + 'a' - 'A'
				}
			}
			if k, ok := oracleKinds[string(lower)]; ok && !oracleValue(k, raw) {
				return false
			}
		}
	}
	return true
}

func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		f.Add(readFixture(f, file[len("testdata/"):]))
	}
	for _, s := range []string{`[]`, `null`, `[{"a":[1,{"b":"\u00e9"}]}]`, `[{"VideoPlayCount":"3.0"}]`, `[{"BatchId":1e2}]`,
		`[{"CustomerRating":"-0.5e3","GoogleClicks":"1E2","DateSent":"\/Date(0)\/","\u0062atchid":"7"}]`,
		`[{"datesent":"2021-05-13 10:53:44.5-05:00","X":[[[{"y":[]}]]],"producttype":"a\"b"},null,{}]`,
		`[{"BatchId":1,"VideoPlayCount":2},{"BatchId":2,"VideoPlayCountX":{}},{"batchid":3,"VideoPlayCount":"4"}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := decodeAll(t, bytes.NewReader(data))
		var be *BodyError
		if err != nil && !errors.As(err, &be) {
			t.Fatalf("error %v is not a *BodyError", err)
		}
		// Every split of the input across reads must give the same result.
		recs2, err2 := decodeAll(t, iotest.OneByteReader(bytes.NewReader(data)))
		if fmt.Sprint(err) != fmt.Sprint(err2) || len(recs) != len(recs2) {
			t.Fatalf("whole read: %d records, %v; byte by byte: %d records, %v", len(recs), err, len(recs2), err2)
		}
		for i := range recs {
			if diff := diffBatch(recs2[i], recs[i]); diff != "" {
				t.Fatalf("record %d differs byte by byte: %s", i, diff)
			}
		}

		body := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		valid := json.Valid(body) && utf8.Valid(body)
		switch {
		case !valid && err == nil:
			t.Fatalf("accepted a body that is not valid JSON")
		case valid && oracleShape(body) && err != nil:
			t.Fatalf("rejected a valid, well-shaped body: %v", err)
		case valid && !oracleShape(body) && err == nil:
			t.Fatalf("accepted a body of the wrong shape")
		}
	})
}

// TestSpecial8 checks the word-at-a-time test of string bytes against the
// byte table: it must find the first byte that needs a look, or say there
// is none, for every byte in every place among plain neighbours, with a
// borrow from below, and for random words.
func TestSpecial8(t *testing.T) {
	first := func(w [8]byte) int {
		for i, c := range w {
			if strByte[c] != 0 {
				return i
			}
		}
		return 8
	}
	check := func(w [8]byte) {
		t.Helper()
		m := special8(binary.LittleEndian.Uint64(w[:]))
		if got := bits.TrailingZeros64(m) / 8; got != first(w) {
			t.Fatalf("special8(% x) = %#x: first byte %d, want %d", w, m, got, first(w))
		}
	}
	for _, fill := range []byte{'a', ' ', '~', 0x21, 0x5d, 0x7f} {
		for place := range 8 {
			for c := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[place] = byte(c)
				check(w)
				for above := place + 1; above < 8; above++ {
					w[above] = byte(c) ^ 0x80 // past ASCII, or not, above a byte that may borrow
					check(w)
					w[above] = 0
					check(w)
					w[above] = fill
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		check(w)
		binary.LittleEndian.PutUint64(w[:], r.Uint64()&0x7f7f7f7f7f7f7f7f|0x2020202020202020)
		check(w)
	}
}

// TestDecodeRemembersKeysExactly decodes records whose keys change from
// one record to the next in the same place (longer, shorter, another case,
// escaped, spaced, moved, nested, past the places remembered): decoded
// together, after one another, each must decode as it does alone.
func TestDecodeRemembersKeysExactly(t *testing.T) {
	many := `{`
	for i := range 60 {
		many += fmt.Sprintf(`"K%d":%d,`, i, i)
	}
	records := []string{
		`{"BatchId":1,"VideoPlayCount":2,"ProductType":"a"}`,
		`{"BatchId":2,"VideoPlayCountX":5,"ProductType":"b"}`,
		`{"BatchId":3,"VideoPlay":7,"ProductType":"c"}`,
		`{"BatchId":4,"videoplaycount":8,"producttype":"d"}`,
		`{"BatchId":5,"Video\u0050layCount":9,"ProductType":"e"}`,
		`{"BatchId":6 , "VideoPlayCount" : 10,"ProductType":"f"}`,
		`{"BatchId":7,"VideoPlayCount":11,"ProductType":"g"}`,
		`{"ProductType":"h","BatchId":8,"VideoPlayCount":12}`,
		`{"BatchId":10,"X":{"BatchId":99,"VideoPlayCount":100},"ProductType":"j"}`,
		many + `"BatchId":11,"VideoPlayCount":13}`,
		many + `"BatchId":12,"VideoPlayCountX":14}`,
		`{"BatchId":13,"VideoPlayCount":15,"ProductType":"k"}`,
	}
	var want []Record
	for i, r := range records {
		recs, err := decodeAll(t, strings.NewReader("["+r+"]"))
		if err != nil || len(recs) != 1 {
			t.Fatalf("record %d alone: %d records, %v", i, len(recs), err)
		}
		want = append(want, recs[0])
	}
	body := "[" + strings.Join(records, ",") + "]"
	for _, r := range []struct {
		name string
		r    io.Reader
	}{
		{"whole", strings.NewReader(body)},
		{"byte by byte", iotest.OneByteReader(strings.NewReader(body))},
	} {
		got, err := decodeAll(t, r.r)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d", r.name, len(got), len(want))
		}
		for i := range got {
			if diff := diffBatch(got[i], want[i]); diff != "" {
				t.Errorf("%s: record %d: %s", r.name, i, diff)
			}
		}
	}
	// A key remembered in its place must not excuse a wrong value after it.
	bad := `{"BatchId":9,"VideoPlayCount":{"BatchId":99}}`
	if _, err := decodeAll(t, strings.NewReader("["+records[0]+","+bad+"]")); err == nil {
		t.Fatal("an object for a count was accepted after the same key in the same place")
	}
}
