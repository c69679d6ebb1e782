//go:build !unix

package collector_test

import (
	"testing"
	"time"
)

// cpuTime is 0 where the process's processor time is not read: the
// benchmarks that use it leave out what they would make of it.
func cpuTime(*testing.B) time.Duration { return 0 }
