package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/b2see-exporter/b2see_exporter/accounts"
	"github.com/b2see-exporter/b2see_exporter/collector"
)

// minScrapeTimeout is the least time a scrape waits for the upstream,
// whatever its X-Prometheus-Scrape-Timeout-Seconds asks: a tiny value
// would only ever answer b2see_up 0.
const minScrapeTimeout = time.Second

// scrapeTimeout is how long a scrape may wait for the upstream:
// Prometheus' X-Prometheus-Scrape-Timeout-Seconds less offset, so that the
// answer arrives before Prometheus gives up, at least minScrapeTimeout,
// and never more than limit.
func scrapeTimeout(r *http.Request, limit, offset time.Duration) time.Duration {
	v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return limit
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || !(secs > 0) {
		return limit
	}
	if secs > limit.Seconds() {
		return limit // also keeps the conversion below in range
	}
	t := time.Duration(secs*float64(time.Second)) - offset
	return min(max(t, minScrapeTimeout), limit)
}

// metricsHandler serves the exporter's own metrics (from gatherer) and those
// of the accounts that accounts returns, read within the scrape's deadline.
// A fresh registry per request carries that deadline to the collector.
type metricsHandler struct {
	gatherer    prometheus.Gatherer
	accounts    func() []*collector.Account
	timeout     time.Duration
	offset      time.Duration
	concurrency int
	logger      *slog.Logger
}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), scrapeTimeout(r, h.timeout, h.offset))
	defer cancel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.New(ctx, h.accounts(), h.concurrency))
	gatherers := prometheus.Gatherers{reg}
	if h.gatherer != nil {
		gatherers = append(gatherers, h.gatherer)
	}
	promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(h.logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
		// OpenMetrics 1.0 when the scraper asks for it, as Prometheus does
		// first; the text format otherwise. Created timestamps travel in the
		// protobuf format only: as _created lines in OpenMetrics text,
		// Prometheus would store each as a series of its own unless its
		// created-timestamp feature is on, doubling the counters' series.
		EnableOpenMetrics: true,
	}).ServeHTTP(w, r)
}

// probeHandler serves one account, named by the account parameter: the
// multi-target pattern, where each account is a Prometheus target of its
// own. It serves only that account's metrics.
type probeHandler struct {
	accounts *accounts.Set
	metrics  metricsHandler
}

func (h *probeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("account")
	if name == "" {
		http.Error(w, "missing the account parameter: /probe?account=NAME", http.StatusBadRequest)
		return
	}
	acc, ok := h.accounts.Get(name)
	if !ok {
		if len(name) > 100 {
			name = name[:100] + "…"
		}
		http.Error(w, fmt.Sprintf("unknown account %q: see the accounts on the landing page", name), http.StatusBadRequest)
		return
	}
	m := h.metrics
	m.accounts = func() []*collector.Account { return []*collector.Account{acc} }
	m.concurrency = 1
	m.ServeHTTP(w, r)
}

// readOnly answers 405 to every method but GET and HEAD: the pages read
// the upstream, which no other method may make them do.
func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "only GET and HEAD are allowed here", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// reloadHandler reloads the configuration on POST. Any web page can make a
// browser POST to the exporter; such requests are refused: those whose
// Sec-Fetch-Site or Origin header says they come from another site, and
// those with a form's content type, the only posts a page can send
// without the browser asking the exporter first. curl -X POST and
// Prometheus' tools send none of these.
func reloadHandler(reload func() error) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "reload with POST", http.StatusMethodNotAllowed)
			return
		}
		if formContentType(r.Header.Get("Content-Type")) {
			http.Error(w, "a form post is refused, against cross-site requests: POST with no body, as curl -X POST does", http.StatusUnsupportedMediaType)
			return
		}
		if err := reload(); err != nil {
			http.Error(w, "reload failed, the running configuration stays: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "configuration reloaded")
	})
	return http.NewCrossOriginProtection().Handler(h)
}

// formContentType reports whether ct is one a browser sends cross-site
// without asking first: that of an HTML form.
func formContentType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
		return true
	}
	return false
}
