package state

// Label names a field of an Observation that becomes a label value of the
// counters.
type Label uint8

// The fields MapLabels rewrites.
const (
	LabelProductType Label = iota
	LabelSender
	LabelActionState
)

// MapLabels rewrites the label values of the staged records with f before
// they are committed, so that a caller who learns only at the end of a read
// which values keep series of their own can fold the others into one. The
// product type and sender name the series the batch's growth goes to. The
// action state is still compared as the upstream gave it, so that a state
// whose label changes from one read to the next is not taken for a new
// entry; only the totals an entry adds to are those of f's label. f is not
// called for a record with no action state.
func (s *Staged) MapLabels(f func(field Label, value string) string) {
	s.flush()
	for i := range s.series {
		k := &s.series[i]
		k.productType = fitString(f(LabelProductType, k.productType))
		k.sender = fitString(f(LabelSender, k.sender))
	}
	s.labels = make([]string, len(s.states)) // labels[0] stays "": no state
	for i := 1; i < len(s.states); i++ {
		s.labels[i] = fitString(f(LabelActionState, s.states[i]))
	}
}

// labelOf is the label of the read's state i, under which an entry into
// it counts.
func (s *Staged) labelOf(i uint32) string {
	if int(i) < len(s.labels) { // a state staged after MapLabels is its own label
		return s.labels[i]
	}
	return s.states[i]
}
