package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/b2see-exporter/b2see_exporter/collector"
)

// scrapeTimeout is how long a scrape may read the upstream: Prometheus'
// X-Prometheus-Scrape-Timeout-Seconds less offset, so that the answer
// arrives before Prometheus gives up, and never more than limit.
func scrapeTimeout(r *http.Request, limit, offset time.Duration) time.Duration {
	v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return limit
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || secs <= 0 {
		return limit
	}
	t := time.Duration(secs*float64(time.Second)) - offset
	if t <= 0 {
		// A timeout shorter than the offset: use what there is.
		t = time.Duration(secs * float64(time.Second))
	}
	return min(t, limit)
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
	accounts *accountSet
	metrics  metricsHandler
}

func (h *probeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("account")
	if name == "" {
		http.Error(w, "missing the account parameter: /probe?account=NAME", http.StatusBadRequest)
		return
	}
	acc, ok := h.accounts.get(name)
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
