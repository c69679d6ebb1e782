package b2see

// Phase is where a batch stands in its life, as a monitor sees it: what a
// status code of the batches API means. The codes are undocumented, so
// which code has which phase is configuration; the phases are these.
type Phase string

// The phases, and PhaseUnknown for a code with no configured meaning.
const (
	PhaseUnknown   Phase = "unknown"
	PhasePending   Phase = "pending"
	PhaseRunning   Phase = "running"
	PhaseSucceeded Phase = "succeeded"
	PhaseFailed    Phase = "failed"
)

// Phases are the phases a status code may be given, in the order of a
// batch's life.
var Phases = []Phase{PhasePending, PhaseRunning, PhaseSucceeded, PhaseFailed}
