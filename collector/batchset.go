package collector

import "slices"

// batchSet is the set of the batch IDs a read has counted, so that each
// batch counts once (see window.add). An answer that lists its batches in
// ascending order of ID, as one in order of creation does when IDs grow
// with it, needs no hashing: an ID above all before it is new, and is
// appended to a sorted list, and an ID already in the list is found by
// binary search. The first new ID out of order moves the list into a hash
// set, which takes every ID from then on, so that no order of the answer
// costs more than a hash set would.
type batchSet struct {
	sorted []int64            // the IDs, ascending, until hashed is made
	hashed map[int64]struct{} // the IDs once one came out of order; nil until then
}

// add adds id and reports whether it was not in the set yet.
func (s *batchSet) add(id int64) bool {
	if s.hashed == nil {
		n := len(s.sorted)
		if n == 0 || id > s.sorted[n-1] {
			s.sorted = append(s.sorted, id)
			return true
		}
		if _, found := slices.BinarySearch(s.sorted, id); found {
			return false
		}
		s.hashed = make(map[int64]struct{}, 2*n)
		for _, v := range s.sorted {
			s.hashed[v] = struct{}{}
		}
		s.sorted = nil
	}
	if _, dup := s.hashed[id]; dup {
		return false
	}
	s.hashed[id] = struct{}{}
	return true
}
