package collector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// DefaultConcurrency bounds how many accounts are read at once.
const DefaultConcurrency = 4

// Collector is a prometheus.Collector over some accounts, made for one
// scrape request: it reads each account within that request's deadline.
type Collector struct {
	ctx         context.Context
	accounts    []*Account
	concurrency int
}

// New returns a collector that reads accounts within ctx, at most
// concurrency at a time (DefaultConcurrency when not positive).
func New(ctx context.Context, accounts []*Account, concurrency int) *Collector {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	return &Collector{ctx: ctx, accounts: accounts, concurrency: concurrency}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector. One failing account never hides
// the others: each emits its own b2see_up.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	var g errgroup.Group
	g.SetLimit(c.concurrency)
	for _, a := range c.accounts {
		g.Go(func() error {
			a.collect(c.ctx, ch)
			return nil
		})
	}
	_ = g.Wait() // collect reports failures as metrics, never as errors
}
