package b2see

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

func TestRedactor(t *testing.T) {
	const password = "Pr0xyPassw0rd"
	basic := base64.StdEncoding.EncodeToString([]byte("proxyuser:" + password))
	short := base64.StdEncoding.EncodeToString([]byte("u:pw"))
	hyphenless := strings.ReplaceAll(testKey, "-", "")
	r := NewRedactor(testKey, password, "pw", "a", "two\nlines")
	tests := []struct {
		name, in, want string
	}{
		{"key", "key " + testKey + " refused", "key " + Redacted + " refused"},
		{"key upper case", "key " + strings.ToUpper(testKey), "key " + Redacted},
		{"key mixed case", "key 0A1b2C3d-4E5f-6A7b-8C9d-0E1f2A3b4C5d.", "key " + Redacted + "."},
		{"key without hyphens", "key " + hyphenless, "key " + Redacted},
		{"key without hyphens, upper case", "key " + strings.ToUpper(hyphenless) + "!", "key " + Redacted + "!"},
		{"key with some hyphens", "k=0a1b2c3d4e5f-6a7b8c9d-0e1f2a3b4c5d", "k=" + Redacted},
		{"key percent-encoded", "at /x?k=0a1b2c3d%2D4e5f%2d6a7b%2D8c9d%2D0e1f2a3b4c5d", "at /x?k=" + Redacted},
		{"key fully percent-encoded", "k " + hexEscape(testKey), "k " + Redacted},
		{"key encoded twice", "k " + strings.ReplaceAll(testKey, "-", "%252D"), "k " + Redacted},
		{"password", "proxy refused " + password, "proxy refused " + Redacted},
		{"password percent-encoded", "p=Pr0xy%50assw0rd", "p=" + Redacted},
		{"basic credentials", "got Basic " + basic, "got Basic " + Redacted},
		{"basic credentials, short password", "got Basic " + short + " there", "got Basic " + Redacted + " there"},
		{"basic credentials, URL alphabet", "t=" + base64.RawURLEncoding.EncodeToString([]byte("x:"+password+"??>")), "t=" + Redacted},
		{"short secret as a token", "user:pw@host says pw", "user:" + Redacted + "@host says " + Redacted},
		{"short secret inside words stays", "pwd and upward", "pwd and upward"},
		{"one letter", "a banana, and a", Redacted + " banana, and " + Redacted},
		{"quoted with a line break", `value "two\nlines" refused`, `value "` + Redacted + `" refused`},
		{"other GUID", "GUID 01234567-89ab-cdef-0123-456789abcdef here", "GUID " + Redacted + " here"},
		{"unknown user info", `parse "http://someone:hunter2@proxy:3128"`, `parse "http://` + Redacted + `@proxy:3128"`},
		{"unknown secret parameter", "GET /c?customerId=1&apiKey=xyz&days=3", "GET /c?customerId=1&apiKey=" + Redacted + "&days=3"},
		{"unknown token and password parameters", "/x?token=t0k&user=u&password=hunter2", "/x?token=" + Redacted + "&user=u&password=" + Redacted},
		{"unknown bearer token", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "Bearer " + Redacted},
		{"plain words stay", "Basic authentication failed for batch 1032005 (xxxxxxxx-xxxx)", "Basic authentication failed for batch 1032005 (xxxxxxxx-xxxx)"},
		{"escapes without a secret stay", "path /x%20b%zz", "path /x%20b%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// hexEscape percent-encodes every byte of s.
func hexEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[s[i]>>4])+string("0123456789abcdef"[s[i]&15])))
	}
	return b.String()
}

func TestRedactorWithoutSecrets(t *testing.T) {
	var zero *Redactor
	in := "http://u:p@h/?token=t " + testKey
	want := "http://" + Redacted + "@h/?token=" + Redacted + " " + Redacted
	for _, r := range []*Redactor{zero, NewRedactor(), NewRedactor("")} {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSanitizeMessage(t *testing.T) {
	upper := strings.ToUpper(testKey)
	tests := []struct {
		in, want string
	}{
		{"API key not in correct format (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", "API key not in correct format (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"},
		{"key " + upper + " refused", "key " + Redacted + " refused"},
		{"other GUID 01234567-89ab-cdef-0123-456789abcdef here", "other GUID " + Redacted + " here"},
		{"call 07700 900123 today", "call " + Redacted + " today"},
		{"call +44 (0)7700-900-123", "call " + Redacted},
		{"batch 1032005 of 2021-05-13", "batch 1032005 of 2021-05-13"},
		{"mail jane.doe@example.com", "mail " + Redacted},
		{"mail " + url.QueryEscape("john.doe@example.com") + " unknown", "mail " + Redacted + " unknown"},
		{"mail john.doe%2540example.com", "mail " + Redacted},
		{"line one\nline   two", "line one line two"},
	}
	for _, tt := range tests {
		if got := sanitizeMessage(tt.in, NewRedactor(testKey)); got != tt.want {
			t.Errorf("sanitizeMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
