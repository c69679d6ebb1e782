package main

import (
	"bytes"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/b2see-exporter/b2see_exporter/collector"
)

// accountsTemplate is the per-account table of the landing page. Values
// are escaped by html/template; the last error is already redacted.
var accountsTemplate = template.Must(template.New("accounts").Parse(`
<h2>Accounts</h2>
<table id="accounts">
<thead><tr><th>Account</th><th>State</th><th>Last read</th><th>Last success</th><th>Batches</th><th>Last error</th><th></th></tr></thead>
<tbody>
{{- range . }}
<tr class="account" data-account="{{ .Name }}">
<td>{{ .Name }}</td>
<td class="state">{{ if .LastAttempt.IsZero }}not read yet{{ else if .Up }}up{{ else }}down{{ end }}</td>
<td>{{ if .LastAttempt.IsZero }}never{{ else }}<time datetime="{{ .LastAttempt.UTC.Format "2006-01-02T15:04:05Z" }}">{{ .LastAttempt.UTC.Format "2006-01-02 15:04:05 UTC" }}</time>{{ end }}</td>
<td>{{ if .LastSuccess.IsZero }}never{{ else }}{{ .LastSuccess.UTC.Format "2006-01-02 15:04:05 UTC" }}{{ end }}</td>
<td class="batches">{{ .Batches }}</td>
<td class="error">{{ .LastError }}</td>
<td><a href="probe?account={{ .Name }}">probe</a></td>
</tr>
{{- else }}
<tr><td colspan="7">No account configured.</td></tr>
{{- end }}
</tbody>
</table>
<p>Accounts are read when Prometheus scrapes; this page does not read them.</p>
`))

const accountsCSS = `
#accounts { border-collapse: collapse; margin-bottom: 1em; }
#accounts th, #accounts td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
#accounts td.state { font-weight: bold; }
`

// landingPage is exporter-toolkit's landing page with the accounts' status
// added; it is rendered per request because the status changes.
type landingPage struct {
	config   web.LandingConfig
	accounts func() []*collector.Account
	logger   *slog.Logger
}

func (h *landingPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var summaries []collector.Summary
	for _, a := range h.accounts() {
		summaries = append(summaries, a.Summary())
	}
	var buf bytes.Buffer
	if err := accountsTemplate.Execute(&buf, summaries); err != nil {
		h.logger.Error("rendering the landing page", "err", err)
		http.Error(w, "rendering the landing page failed", http.StatusInternalServerError)
		return
	}
	cfg := h.config
	cfg.Links = append([]web.LandingLinks(nil), cfg.Links...)
	cfg.ExtraHTML = buf.String()
	cfg.ExtraCSS = accountsCSS
	page, err := web.NewLandingPage(cfg)
	if err != nil {
		h.logger.Error("rendering the landing page", "err", err)
		http.Error(w, "rendering the landing page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	page.ServeHTTP(w, r)
}
