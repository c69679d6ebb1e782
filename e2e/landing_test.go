package e2e

import (
	"bytes"
	"context"
	"flag"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write "+screenshotFile+" from the demo's landing page in a real browser")

// screenshotFile is the landing page picture the README shows.
const screenshotFile = "../docs/landing-page.png"

// browser runs headless Chromium once with args after the flags that keep
// it quiet and self-contained, and returns what it prints.
func browser(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
	}, args...)...)
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, &stderr)
	}
	return stdout.String()
}

// pageRow is what a person reads in one account's row of the landing page.
type pageRow struct {
	cells    map[string]string // visible text by column heading
	lastRead string            // the datetime attribute of the last read
	probe    string            // the probe link's href
}

var (
	headingRE  = regexp.MustCompile(`(?s)<th[^>]*>(.*?)</th>`)
	rowRE      = regexp.MustCompile(`(?s)<tr class="account" data-account="([^"]*)">(.*?)</tr>`)
	cellRE     = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
	tagRE      = regexp.MustCompile(`<[^>]*>`)
	datetimeRE = regexp.MustCompile(`<time datetime="([^"]*)"`)
	probeRE    = regexp.MustCompile(`<a href="([^"]*)">probe</a>`)
)

func visible(s string) string {
	return strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(s, "")))
}

// accountRows reads the accounts table of the DOM Chromium dumped.
func accountRows(t *testing.T, dom string) map[string]pageRow {
	t.Helper()
	start := strings.Index(dom, `<table id="accounts">`)
	if start < 0 {
		t.Fatalf("no accounts table in the page:\n%s", dom)
	}
	table := dom[start:]
	if i := strings.Index(table, "</table>"); i >= 0 {
		table = table[:i]
	}
	var headings []string
	for _, m := range headingRE.FindAllStringSubmatch(table, -1) {
		headings = append(headings, visible(m[1]))
	}
	rows := map[string]pageRow{}
	for _, m := range rowRE.FindAllStringSubmatch(table, -1) {
		r := pageRow{cells: map[string]string{}}
		for i, c := range cellRE.FindAllStringSubmatch(m[2], -1) {
			if i < len(headings) {
				r.cells[headings[i]] = visible(c[1])
			}
		}
		if d := datetimeRE.FindStringSubmatch(m[2]); d != nil {
			r.lastRead = d[1]
		}
		if p := probeRE.FindStringSubmatch(m[2]); p != nil {
			r.probe = html.UnescapeString(p[1])
		}
		rows[html.UnescapeString(m[1])] = r
	}
	if len(rows) == 0 {
		t.Fatalf("no account row in the page:\n%s", dom)
	}
	return rows
}

// TestLandingPageInBrowser loads the landing page of a demo exporter in
// Chromium after one scrape and checks what a person would see.
func TestLandingPageInBrowser(t *testing.T) {
	chromium := progtest.Require(t, "chromium", "chromium-browser")
	e := startExporter(t, nil, "--demo", "--storage.path="+t.TempDir())
	logOnFailure(t, "exporter", e.logs)
	before := time.Now().Add(-time.Second)
	if code, _ := e.get(t, "/metrics"); code != 200 {
		t.Fatalf("/metrics answered %d", code)
	}
	pageURL := "http://" + e.addr + "/"
	dom := browser(t, chromium, "--dump-dom", pageURL)

	row, ok := accountRows(t, dom)["demo"]
	if !ok {
		t.Fatalf("no row for account demo:\n%s", dom)
	}
	if got := row.cells["Account"]; got != "demo" {
		t.Errorf("Account = %q, want demo", got)
	}
	if got := row.cells["State"]; got != "up" {
		t.Errorf("State = %q, want up", got)
	}
	read, err := time.Parse(time.RFC3339, row.lastRead)
	if err != nil {
		t.Errorf("last read %q: %v", row.lastRead, err)
	} else if read.Before(before.Truncate(time.Second)) || read.After(time.Now()) {
		t.Errorf("last read %v, want the scrape's time, between %v and now", read, before)
	}
	if got := row.cells["Last read"]; got == "" || got == "never" {
		t.Errorf("Last read shows %q", got)
	}
	if n, err := strconv.Atoi(row.cells["Batches"]); err != nil || n <= 0 {
		t.Errorf("Batches = %q, want a count above 0", row.cells["Batches"])
	}
	if got := row.cells["Last error"]; got != "" {
		t.Errorf("Last error = %q after a good read", got)
	}

	// The probe link leads to that account's metrics.
	base, _ := url.Parse(pageURL)
	link, err := base.Parse(row.probe)
	if row.probe == "" || err != nil {
		t.Fatalf("probe link %q: %v", row.probe, err)
	}
	resp, err := http.Get(link.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("probe link %s answered %d", link, resp.StatusCode)
	}
	if link.Query().Get("account") != "demo" {
		t.Errorf("probe link %s is not for account demo", link)
	}

	if *updateScreenshot {
		path, err := filepath.Abs(screenshotFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		browser(t, chromium, "--screenshot="+path, "--window-size=1000,560", "--hide-scrollbars", pageURL)
		png, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("%s is not a PNG: %v", path, err)
		}
		t.Logf("wrote %s", screenshotFile)
	}
}

// TestLandingPageShowsFailure loads the landing page after failed reads in
// Chromium: the account is down and the error shown keeps the key hidden.
func TestLandingPageShowsFailure(t *testing.T) {
	chromium := progtest.Require(t, "chromium", "chromium-browser")
	tests := []struct {
		name  string
		fault b2seetest.Fault
		want  string // in the error shown
	}{
		{
			name:  "error page echoing the key",
			fault: b2seetest.Fault{Status: 500, ContentType: "text/html", Body: []byte("<html><body>no such key " + b2seetest.DemoAPIKey + "</body></html>")},
			want:  "HTTP 500",
		},
		{
			name:  "connection reset",
			fault: b2seetest.Fault{ResetAfter: 10},
			want:  "connection reset",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records := b2seetest.Generate(50, 3, time.Now(), 30)
			fake := b2seetest.NewServer(b2seetest.Config{Records: records})
			t.Cleanup(fake.Close)
			fake.SetFault(b2seetest.Cakes, tt.fault)
			e := startExporter(t, []string{"B2SEE_API_KEY=" + b2seetest.DemoAPIKey},
				"--b2see.url="+fake.URL,
				"--b2see.customer-id="+b2seetest.DefaultCustomerID,
				"--b2see.account-name=north",
				"--storage.path="+t.TempDir(),
			)
			logOnFailure(t, "exporter", e.logs)
			if code, _ := e.get(t, "/metrics"); code != 200 {
				t.Fatalf("/metrics answered %d", code)
			}
			dom := browser(t, chromium, "--dump-dom", "http://"+e.addr+"/")
			row, ok := accountRows(t, dom)["north"]
			if !ok {
				t.Fatalf("no row for account north:\n%s", dom)
			}
			if got := row.cells["State"]; got != "down" {
				t.Errorf("State = %q, want down", got)
			}
			if got := row.cells["Last success"]; got != "never" {
				t.Errorf("Last success = %q, want never", got)
			}
			if got := row.cells["Last error"]; !strings.Contains(got, tt.want) {
				t.Errorf("Last error = %q, want it to mention %q", got, tt.want)
			}
			secrets := append([]string{b2seetest.DemoAPIKey, url.QueryEscape(b2seetest.DemoAPIKey)}, b2seetest.PersonalData(records)...)
			fixture.NoLeak(t, "the landing page", dom, secrets)
		})
	}
}
