package main

import (
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"

	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/config"
)

// TestFlagDefaults: the flags default to the packages' constants, and to
// the values the README's flag table gives.
func TestFlagDefaults(t *testing.T) {
	f, err := parseFlags(kingpin.New("test", ""), nil, &promslog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if f.settings != config.DefaultSettings() {
		t.Errorf("account flags %+v, want config.DefaultSettings %+v", f.settings, config.DefaultSettings())
	}
	if f.timeout != collector.DefaultTimeout {
		t.Errorf("--b2see.timeout %v, want collector.DefaultTimeout", f.timeout)
	}
	if f.timeoutOffset != 500*time.Millisecond {
		t.Errorf("--b2see.timeout-offset %v, want 500ms", f.timeoutOffset)
	}
	if f.concurrency != collector.DefaultConcurrency {
		t.Errorf("--b2see.concurrency %d, want collector.DefaultConcurrency", f.concurrency)
	}
	if s := f.settings; s.DaysOfHistory != 30 || s.MaxBodySize != 1<<30 || !s.SenderLabel || s.MinInterval != 0 {
		t.Errorf("account flags %+v, want 30 days, 1GiB, sender label on, no minimum interval", s)
	}
}
