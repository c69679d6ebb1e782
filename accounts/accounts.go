// Package accounts keeps the accounts an exporter serves through the life
// of the process: it builds each account's clients and collector options
// from the configuration, swaps a reloaded configuration in whole, and
// keeps one identity per account name (its collector.Account and its
// state.Tracker) across reloads that change, remove or bring it back.
//
// It knows nothing of HTTP routes or flags: main hands it a function that
// loads the configuration.
package accounts

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/config"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// Options configure a Set.
type Options struct {
	// Load reads the configuration, at start and on each reload.
	Load func() (*config.Config, error)
	// StorageDir is where the accounts' state files are kept (--storage.path).
	StorageDir string
	// Timeout is the longest a read may take (--b2see.timeout).
	Timeout time.Duration
	// UserAgent is sent to the upstream APIs.
	UserAgent string
	Logger    *slog.Logger
	// Registerer takes the reload gauges.
	Registerer prometheus.Registerer
}

// owned is everything one account name owns for the life of the process.
type owned struct {
	account *collector.Account
	tracker *state.Tracker
	clients []*http.Client // built from the configuration in use
	served  bool           // in the configuration in use; false once a reload removed it
}

// Set holds the accounts being served. A reload builds them anew from the
// configuration and swaps them in whole, or keeps the running ones when
// the new configuration is bad.
type Set struct {
	opts Options

	reloadSuccessful prometheus.Gauge
	reloadTimestamp  prometheus.Gauge

	reloadMu sync.Mutex // one reload at a time

	mu     sync.RWMutex
	byName map[string]*owned // every name ever configured, served or not
	list   []*collector.Account
}

// New returns an empty Set; Reload fills it.
func New(opts Options) *Set {
	s := &Set{
		opts: opts,
		reloadSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "b2see_config_last_reload_successful",
			Help: "1 if the last load of the configuration succeeded, 0 if it failed and the previous one is still in use.",
		}),
		reloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "b2see_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful load of the configuration.",
		}),
		byName: map[string]*owned{},
	}
	opts.Registerer.MustRegister(s.reloadSuccessful, s.reloadTimestamp)
	return s
}

// Reload loads the configuration and applies it. Accounts that stay keep
// their state (last data, counts, a pending Retry-After); on error nothing
// changes.
func (s *Set) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old, err := s.apply()
	if err != nil {
		s.reloadSuccessful.Set(0)
		return err
	}
	// Every load builds new clients: the old ones' connections to the
	// upstream would otherwise stay open, one set per reload. A read that
	// began before the swap goes on with the old ones, and its status
	// lookups may open connections after this; it ends within the
	// timeout: close what it leaves then.
	closeIdle(old)
	time.AfterFunc(s.opts.Timeout, func() { closeIdle(old) })
	s.reloadSuccessful.Set(1)
	s.reloadTimestamp.SetToCurrentTime()
	return nil
}

// built is one configured account, its clients and options built.
type built struct {
	opts    collector.AccountOptions
	clients []*http.Client
	scope   string
	window  time.Duration
}

// apply loads the configuration and swaps its accounts in. It returns the
// HTTP clients the swap replaced.
func (s *Set) apply() ([]*http.Client, error) {
	cfg, err := s.opts.Load()
	if err != nil {
		return nil, err
	}
	accounts := make([]built, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		o, clients, err := accountOptions(a, s.opts.UserAgent, s.opts.Logger)
		if err != nil {
			closeIdle(clients)
			for _, b := range accounts {
				closeIdle(b.clients)
			}
			return nil, err
		}
		o.Timeout = s.opts.Timeout
		if o.Status != nil && s.opts.StorageDir != "" {
			o.Status.StateFile = state.AccountFile(s.opts.StorageDir, a.Name, ".status")
		}
		accounts = append(accounts, built{
			opts:    o,
			clients: clients,
			// What the answers cover: another customer or window shows
			// other batches, which must not count as new ones.
			scope:  fmt.Sprintf("customer %s, %d days", a.CustomerID, a.DaysOfHistory),
			window: time.Duration(a.DaysOfHistory) * 24 * time.Hour,
		})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var replaced []*http.Client
	for _, o := range s.byName {
		replaced = append(replaced, o.clients...)
		o.clients, o.served = nil, false
	}
	list := make([]*collector.Account, 0, len(accounts))
	for _, b := range accounts {
		list = append(list, s.own(b).account)
	}
	s.list = list
	return replaced, nil
}

// own gives b the tracker and account its name owns, making them on its
// first appearance. One of each per name for the life of the process,
// even across a reload that removes the account and one that brings it
// back: two would write the same state files. s.mu is held.
func (s *Set) own(b built) *owned {
	name := b.opts.Name
	o, ok := s.byName[name]
	if ok {
		o.tracker.SetScope(b.scope, b.window)
		b.opts.Counters = o.tracker
		o.account.Reconfigure(b.opts)
	} else {
		tr := state.Open(state.Options{Dir: s.opts.StorageDir, Account: name, Window: b.window, Scope: b.scope, Logger: s.opts.Logger})
		b.opts.Counters = tr
		o = &owned{account: collector.NewAccount(b.opts), tracker: tr}
		s.byName[name] = o
	}
	o.clients, o.served = b.clients, true
	return o
}

// Accounts returns the accounts being served, in the configuration's order.
func (s *Set) Accounts() []*collector.Account {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.list
}

// Get returns the account named name, if it is served.
func (s *Set) Get(name string) (*collector.Account, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.byName[name]
	if !ok || !o.served {
		return nil, false
	}
	return o.account, true
}

// Check builds the clients of every account of cfg, as a load would, and
// returns the first error: --config.check.
func Check(cfg *config.Config, userAgent string, logger *slog.Logger) error {
	for _, a := range cfg.Accounts {
		_, clients, err := accountOptions(a, userAgent, logger)
		closeIdle(clients)
		if err != nil {
			return err
		}
	}
	return nil
}

// closeIdle closes the idle connections of clients.
func closeIdle(clients []*http.Client) {
	for _, c := range clients {
		c.CloseIdleConnections()
	}
}
