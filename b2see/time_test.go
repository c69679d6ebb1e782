package b2see

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	base := time.Date(2021, 5, 13, 10, 53, 44, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2021-05-13T10:53:44Z", base},
		{"2021-05-13t10:53:44z", base},
		{"2021-05-13T10:53:44.5Z", base.Add(500 * time.Millisecond)},
		{"2021-05-13T10:53:44.12Z", base.Add(120 * time.Millisecond)},
		{"2021-05-13T10:53:44.1234567Z", base.Add(123456700)},
		{"2021-05-13T10:53:44.123456789Z", base.Add(123456789)},
		{"2021-05-13T10:53:44.1234567891234Z", base.Add(123456789)},
		{"2021-05-13T10:53:44.0000000", base},
		{"2021-05-13T11:53:44+01:00", base},
		{"2021-05-13T11:53:44+0100", base},
		{"2021-05-13T11:53:44+01", base},
		{"2021-05-13T05:53:44-05:00", base},
		{"2021-05-13T16:23:44+05:30", base},
		{"2021-05-14T00:53:44.25+14:00", base.Add(250 * time.Millisecond)},
		{"2021-05-13T10:53:44", base},
		{"2021-05-13 10:53:44", base},
		{"2021-05-13T10:53", base.Add(-44 * time.Second)},
		{"2021-05-13", time.Date(2021, 5, 13, 0, 0, 0, 0, time.UTC)},
		{"2020-02-29T00:00:00Z", time.Date(2020, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"/Date(1620903224000)/", base},
		{"/Date(1620903224123)/", base.Add(123 * time.Millisecond)},
		{"/Date(1620903224000+0100)/", base},
		{"/Date(1620903224000-0500)/", base},
		{"/Date(-86400000)/", time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"/Date(0)/", time.Unix(0, 0)},
		{"0001-01-01T00:00:00", time.Time{}},
		{"0001-01-01T00:00:00Z", time.Time{}},
		{"0001-01-01T00:00:00.0000000+00:00", time.Time{}},
		{"0001-01-01T00:00:00+01:00", time.Time{}},
		{"", time.Time{}},
		{"9999-12-31T23:59:59.9999999Z", time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTime([]byte(tt.in))
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("location %v, want UTC", got.Location())
			}
			if tt.want.IsZero() != got.IsZero() {
				t.Errorf("IsZero = %v, want %v", got.IsZero(), tt.want.IsZero())
			}
		})
	}
}

func TestParseTimeInvalid(t *testing.T) {
	for _, in := range []string{
		"yesterday",
		"2021",
		"2021-05",
		"2021/05/13",
		"13/05/2021 10:53:44",
		"2021-5-13T10:53:44Z",
		"2021-05-13X10:53:44Z",
		"2021-05-13T",
		"2021-05-13T10",
		"2021-05-13T10:5",
		"2021-05-13T10:53:4",
		"2021-05-13T10:53:44.",
		"2021-05-13T10:53:44.Z",
		"2021-05-13T10:53:44ZZ",
		"2021-05-13T10:53:44 ",
		"2021-05-13T10:53:44+1",
		"2021-05-13T10:53:44+01:0",
		"2021-05-13T10:53:44+24:00",
		"2021-05-13T10:53:44+01:60",
		"2021-05-13T10:53:44 PM",
		"2021-00-13T10:53:44Z",
		"2021-13-13T10:53:44Z",
		"2021-05-00T10:53:44Z",
		"2021-04-31T10:53:44Z",
		"2021-02-29T10:53:44Z",
		"1900-02-29T10:53:44Z",
		"2021-05-13T24:00:00Z",
		"2021-05-13T10:60:00Z",
		"2021-05-13T10:53:60Z",
		"0000-01-01T00:00:00Z",
		"-001-01-01T00:00:00Z",
		"/Date()/",
		"/Date(abc)/",
		"/Date(1620903224000",
		"/Date(1620903224000)",
		"Date(1620903224000)/",
		"/Date(1620903224000+01)/",
		"/Date(1620903224000+0160)/",
		"/Date(1620903224000 +0100)/",
		"/Date(-)/",
		"/Date(99999999999999999999)/",
		"/Date(253402300800000)/",
	} {
		t.Run(in, func(t *testing.T) {
			if got, err := parseTime([]byte(in)); err == nil {
				t.Errorf("parsed as %v, want an error", got)
			}
		})
	}
}

// TestParseTimeAgreesWithTimePackage checks the hand-written ISO path against
// time.Parse over a spread of instants, offsets and precisions.
func TestParseTimeAgreesWithTimePackage(t *testing.T) {
	layouts := []string{
		"2006-01-02T15:04:05Z07:00",
		"2006-01-02T15:04:05.9999999Z07:00",
		"2006-01-02T15:04:05.000Z07:00",
	}
	zones := []*time.Location{time.UTC, time.FixedZone("", 3600), time.FixedZone("", -5*3600), time.FixedZone("", 5*3600+1800)}
	for i := int64(0); i < 2000; i++ {
		instant := time.Unix(-62135596800+2*86400+(i*4962006437+i*i*1237)%315000000000, i*i*7919%1e9)
		for _, layout := range layouts {
			for _, zone := range zones {
				s := instant.In(zone).Format(layout)
				want, err := time.Parse(layout, s)
				if err != nil {
					t.Fatal(err)
				}
				got, err := parseTime([]byte(s))
				if err != nil {
					t.Fatalf("%s: %v", s, err)
				}
				if !got.Equal(want) && !(got.IsZero() && want.UTC().Equal(time.Time{})) {
					t.Fatalf("%s: got %v, want %v", s, got, want.UTC())
				}
			}
		}
	}
}

func BenchmarkParseTime(b *testing.B) {
	in := []byte("2021-05-13T10:53:44.1234567Z")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseTime(in); err != nil {
			b.Fatal(err)
		}
	}
}
