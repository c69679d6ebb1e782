package exposition

import "testing"

func TestParse(t *testing.T) {
	s, err := Parse(`# TYPE up gauge
up{b="2",a="x\"y"} 1
up{a="z"} 2
# TYPE reads_total counter
reads_total 3
# TYPE took_seconds histogram
took_seconds_bucket{le="+Inf"} 4
took_seconds_sum 1
took_seconds_count 4
`)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{
		`up{a="x\"y",b="2"}`: 1, // labels sorted, values quoted as the text format does
		`up{a="z"}`:          2,
		`reads_total{}`:      3,
		`took_seconds{}`:     4, // a histogram's sample count
		`absent{}`:           0,
	} {
		if got := s.Value(key); got != want {
			t.Errorf("%s = %v, want %v (have %v)", key, got, want, s.Values())
		}
	}
	if got := s.Sum("up"); got != 3 {
		t.Errorf("Sum(up) = %v, want 3", got)
	}
	if _, err := Parse("up{"); err == nil {
		t.Error("a broken exposition parsed")
	}
}
