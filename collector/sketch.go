package collector

import (
	"math"
	"math/bits"
)

// sketchBits is the size of a distinctSketch's bitmap: 128 KiB, enough to
// count a million distinct values (the most a read can bring, see
// maxBatches) within about 1%.
const sketchBits = 1 << 20

// distinctSketch estimates how many distinct values it was given by
// linear counting: each value's hash sets one bit of a bitmap, and n
// values leave about m·e^(-n/m) of its m bits unset. It takes no memory
// until it is given a value.
type distinctSketch struct {
	bits []uint64
}

func (s *distinctSketch) add(h uint64) {
	if s.bits == nil {
		s.bits = make([]uint64, sketchBits/64)
	}
	i := h % sketchBits // the hash's low bits: the values added are never in the tally
	s.bits[i/64] |= 1 << (i % 64)
}

func (s *distinctSketch) reset() { clear(s.bits) }

// estimate is the number of distinct values added.
func (s *distinctSketch) estimate() int {
	if s.bits == nil {
		return 0
	}
	set := 0
	for _, w := range s.bits {
		set += bits.OnesCount64(w)
	}
	unset := sketchBits - set
	if unset == 0 {
		unset = 1 // saturated: far more values than a read can bring
	}
	return int(math.Round(sketchBits * math.Log(float64(sketchBits)/float64(unset))))
}
