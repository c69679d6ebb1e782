package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
)

// TestLandingPageErrorsAreSafe serves the landing page after failed reads
// whose upstream strings are hostile: a redirect whose Location holds the
// key, percent-encoded, and a message full of HTML. The page shows the
// error, without the key and with the HTML escaped.
func TestLandingPageErrorsAreSafe(t *testing.T) {
	const key = "10000000-0000-0000-0000-000000000001" // north's, in twoFakes
	encoded := strings.ReplaceAll(key, "-", "%2D")
	tests := []struct {
		name  string
		fault b2seetest.Fault
		want  string // in the page
	}{
		{
			name:  "redirect to another host",
			fault: b2seetest.Fault{Status: 302, Header: http.Header{"Location": {"http://localhost:1/maintenance?apiKey=" + encoded}}},
			want:  "upstream redirected (302) to http://localhost:1: another host, not followed",
		},
		{
			name:  "redirect to a Location that does not parse",
			fault: b2seetest.Fault{Status: 302, Header: http.Header{"Location": {"http://localhost:1/maintenance%zz?apiKey=" + encoded}}},
			want:  "upstream redirected: its Location is not a valid URL",
		},
		{
			name: "HTML in the message",
			fault: b2seetest.Fault{Status: 500, ContentType: "application/json",
				Body: []byte(`{"Message":"<script>alert(1)</script><img src=x onerror=alert(2)>"}`)},
			want: "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			north, _, cfg, _ := fixture.TwoAccounts(t)
			north.SetFault(b2seetest.Cakes, tt.fault)
			e := newTestExporter(t, cfg)
			if code, _ := e.do(t, http.MethodGet, "/metrics"); code != 200 {
				t.Fatalf("/metrics answered %d", code)
			}
			code, page := e.do(t, http.MethodGet, "/")
			if code != 200 {
				t.Fatalf("/ answered %d", code)
			}
			if !strings.Contains(page, tt.want) {
				t.Errorf("the page does not show %q:\n%s", tt.want, page)
			}
			for _, bad := range []string{"<script>alert", "<img src", "maintenance", "apiKey", key, encoded, strings.ReplaceAll(key, "-", "")} {
				if strings.Contains(page, bad) {
					t.Errorf("the page holds %q", bad)
				}
			}
			fixture.NoLeak(t, "the logs", e.logs.String(), []string{key, encoded, "maintenance"})
		})
	}
}
