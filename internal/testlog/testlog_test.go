package testlog

import (
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWriters is for the race detector: writers and a reader at
// once, nothing lost.
func TestConcurrentWriters(t *testing.T) {
	logger, logs := Logger()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				logger.Debug("line", "writer", i)
				_ = logs.String()
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(logs.String(), "level=DEBUG msg=line"); n != 400 {
		t.Errorf("%d lines, want 400", n)
	}
}
