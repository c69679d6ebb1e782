package config

import (
	"strings"
	"testing"
)

// TestPhaseOfWrongTypeIsWordedForUsers: a phase that is not a string is
// reported in the user's words, not the Go type's.
func TestPhaseOfWrongTypeIsWordedForUsers(t *testing.T) {
	_, err := Parse([]byte("accounts:\n- name: a\n  customer_id: \"1\"\n  api_key: 00000000-0000-0000-0000-000000000000\n  batches:\n    url: https://b2see.example.com\n    statuses:\n      1: {name: x, phase: [1]}\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), "a phase") || strings.Contains(err.Error(), "b2see.Phase") {
		t.Fatalf("error %v: want it to say a phase is expected", err)
	}
}
