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
	for i := range s.obs {
		o := &s.obs[i]
		o.ProductType = f(LabelProductType, o.ProductType)
		o.Sender = f(LabelSender, o.Sender)
		o.ActionLabel = ""
		if o.ActionState != "" {
			o.ActionLabel = f(LabelActionState, o.ActionState)
		}
	}
}

// actionLabel is the state label an entry of o into its action state counts
// under.
func (o *Observation) actionLabel() string {
	if o.ActionLabel != "" {
		return o.ActionLabel
	}
	return o.ActionState
}
