package b2seetest

import (
	"math/rand/v2"
	"time"
)

// Evolve returns rs as it might look a little later: customers watch and
// play some videos again, click links, act on offers, and the dealership
// sends a few new batches created at now. The demo runs it periodically so
// that counters grow as they would against a real account. It changes rs in
// place and may append to it.
func Evolve(rs []Record, seed uint64, now time.Time) []Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x51ed2701f3a5c3b9))
	now = now.UTC().Truncate(time.Second)
	clip := func(t time.Time) *time.Time {
		if t.After(now) {
			t = now
		}
		return &t
	}
	for i := range rs {
		r := &rs[i]
		if r.DateSent == nil || rng.IntN(20) != 0 {
			continue
		}
		t := now
		if r.LandingPageFirstWatched == nil {
			r.LandingPageFirstWatched = &t
		}
		r.LandingPageLastWatched = &t
		r.LandingPageWatchCount++
		r.VideoPlayCount += 1 + rng.IntN(2)
		switch rng.IntN(6) {
		case 0:
			r.ImageLinkClicks++
		case 1:
			r.GoogleClicks++
		case 2:
			r.FacebookClicks++
		}
		if r.CustomerActionState == nil && rng.IntN(4) == 0 {
			addAction(rng, r, now, clip)
		}
	}
	id := int64(1032005)
	if len(rs) > 0 {
		id = rs[len(rs)-1].BatchId
	}
	for range 1 + rng.IntN(3) {
		id += 1 + rng.Int64N(7)
		rs = append(rs, generateOne(rng, id, now.Add(-time.Duration(rng.IntN(60))*time.Second), now, GenerateOptions{}))
	}
	return rs
}
