package collector

import (
	"log/slog"
	"strconv"
)

// maxUnmappedCodes is the most status codes with no configured meaning
// that b2see_batch_status shows, and logs, one by one; the others are
// summed into status="other" and logged once together.
const maxUnmappedCodes = 20

// unmappedCodes is what a status tracker knows of the codes with no
// configured meaning. Guarded by the tracker's mu.
type unmappedCodes struct {
	logged     map[int32]bool // at most maxUnmappedCodes
	summarised bool           // the line for the codes beyond them is written
	shown      valueCap       // the codes with series of their own
}

// note logs a code with no configured meaning the first time it is seen,
// up to maxUnmappedCodes of them, then once that there are more.
func (u *unmappedCodes) note(code int32, logger *slog.Logger) {
	switch {
	case u.logged[code]:
	case len(u.logged) < maxUnmappedCodes:
		if u.logged == nil {
			u.logged = map[int32]bool{}
		}
		u.logged[code] = true
		logger.Warn("the batches API answered a status code with no configured meaning; it is exported as its number, phase unknown", "code", code)
	case !u.summarised:
		u.summarised = true
		logger.Warn(`the batches API answers more status codes with no configured meaning; further ones are not logged, and beyond the first ones b2see_batch_status sums them as status="other"`,
			"logged", maxUnmappedCodes)
	}
}

// choose picks, among the codes of byCode with no configured meaning,
// those shown one by one, as the label caps do.
func (u *unmappedCodes) choose(byCode []codeCount, statuses map[int]StatusMapping) {
	counts := map[string]int64{}
	for _, c := range byCode {
		if _, ok := statuses[int(c.code)]; !ok {
			counts[strconv.Itoa(int(c.code))] += int64(c.n)
		}
	}
	u.shown.choose(counts, maxUnmappedCodes)
}
