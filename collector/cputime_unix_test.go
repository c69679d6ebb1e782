//go:build unix

package collector_test

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the processor time the process has used, user and system:
// unlike the time on the clock, it does not grow while other work on the
// machine holds the processors.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
