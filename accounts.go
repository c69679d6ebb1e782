package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/config"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// accountSet holds the accounts being served. A reload builds them anew
// from the configuration and swaps them in whole, or keeps the running ones
// when the new configuration is bad. An account keeps its identity (state,
// counts, a pending Retry-After) for the life of the process, across
// reloads that change, remove or bring it back.
type accountSet struct {
	load   func() (*config.Config, error)
	logger *slog.Logger

	reloadSuccessful prometheus.Gauge
	reloadTimestamp  prometheus.Gauge

	storage string        // --storage.path
	timeout time.Duration // --b2see.timeout: the longest a read may take

	reloadMu sync.Mutex                    // one reload at a time; guards the fields below
	trackers map[string]*state.Tracker     // by account name, for the life of the process
	retired  map[string]*collector.Account // accounts a reload removed, should one bring them back
	clients  []*http.Client                // the HTTP clients of the accounts served
	mu       sync.RWMutex
	list     []*collector.Account
	byName   map[string]*collector.Account
}

func newAccountSet(load func() (*config.Config, error), storage string, timeout time.Duration, logger *slog.Logger, reg prometheus.Registerer) *accountSet {
	s := &accountSet{
		load:     load,
		storage:  storage,
		timeout:  timeout,
		trackers: map[string]*state.Tracker{},
		retired:  map[string]*collector.Account{},
		logger:   logger,
		reloadSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "b2see_config_last_reload_successful",
			Help: "1 if the last load of the configuration succeeded, 0 if it failed and the previous one is still in use.",
		}),
		reloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "b2see_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful load of the configuration.",
		}),
		byName: map[string]*collector.Account{},
	}
	reg.MustRegister(s.reloadSuccessful, s.reloadTimestamp)
	return s
}

// reload loads the configuration and applies it. Accounts that stay keep
// their state (last data, counts, a pending Retry-After); on error nothing
// changes.
func (s *accountSet) reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	clients, err := s.apply()
	if err != nil {
		closeIdle(clients)
		s.reloadSuccessful.Set(0)
		return err
	}
	// Every load builds new clients: the old ones' connections to the
	// upstream would otherwise stay open, one set per reload. A read that
	// began before the swap goes on with the old ones, and its status
	// lookups may open connections after this; it ends within the
	// timeout: close what it leaves then.
	old := s.clients
	s.clients = clients
	closeIdle(old)
	time.AfterFunc(s.timeout, func() { closeIdle(old) })
	s.reloadSuccessful.Set(1)
	s.reloadTimestamp.SetToCurrentTime()
	return nil
}

// closeIdle closes the idle connections of clients.
func closeIdle(clients []*http.Client) {
	for _, c := range clients {
		c.CloseIdleConnections()
	}
}

// apply loads the configuration and swaps its accounts in. It returns the
// HTTP clients it built, also on error, when they are of no use.
func (s *accountSet) apply() ([]*http.Client, error) {
	cfg, err := s.load()
	if err != nil {
		return nil, err
	}
	var clients []*http.Client
	opts := make([]collector.AccountOptions, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		o, cs, err := accountOptions(a, s.logger)
		clients = append(clients, cs...)
		if err != nil {
			return clients, err
		}
		o.Timeout = s.timeout
		if o.Status != nil && s.storage != "" {
			o.Status.StateFile = state.AccountFile(s.storage, a.Name, ".status")
		}
		opts = append(opts, o)
	}
	// One tracker per account name for the life of the process, even across
	// a reload that removes the account and one that brings it back: two
	// would write the same state file.
	for i, a := range cfg.Accounts {
		// What the answers cover: another customer or window shows other
		// batches, which must not count as news.
		scope := fmt.Sprintf("customer %s, %d days", a.CustomerID, a.DaysOfHistory)
		window := time.Duration(a.DaysOfHistory) * 24 * time.Hour
		tr, ok := s.trackers[a.Name]
		if ok {
			tr.SetScope(scope, window)
		} else {
			tr = state.Open(state.Options{Dir: s.storage, Account: a.Name, Window: window, Scope: scope, Logger: s.logger})
			s.trackers[a.Name] = tr
		}
		opts[i].Counters = tr
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]*collector.Account, 0, len(opts))
	byName := make(map[string]*collector.Account, len(opts))
	for _, o := range opts {
		acc, ok := s.byName[o.Name]
		if !ok {
			// Likewise its batch status memory: one Account per name.
			acc, ok = s.retired[o.Name]
			delete(s.retired, o.Name)
		}
		if ok {
			acc.Reconfigure(o)
		} else {
			acc = collector.NewAccount(o)
		}
		list = append(list, acc)
		byName[o.Name] = acc
	}
	for name, acc := range s.byName {
		if _, ok := byName[name]; !ok {
			s.retired[name] = acc
		}
	}
	s.list, s.byName = list, byName
	return clients, nil
}

// accounts returns the accounts being served.
func (s *accountSet) accounts() []*collector.Account {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.list
}

// get returns the account named name.
func (s *accountSet) get(name string) (*collector.Account, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.byName[name]
	return a, ok
}

// accountOptions builds the collector's options for one configured
// account: its API key, its HTTP clients and its B2see clients. It returns
// the HTTP clients it built, also on error.
func accountOptions(a *config.Account, logger *slog.Logger) (collector.AccountOptions, []*http.Client, error) {
	key, err := a.APIKey()
	if err != nil {
		return collector.AccountOptions{}, nil, err
	}
	httpClient, err := promconfig.NewClientFromConfig(a.HTTPClientConfig, "b2see_cakes")
	if err != nil {
		return collector.AccountOptions{}, nil, fmt.Errorf("account %q: http_client_config: %w", a.Name, err)
	}
	clients := []*http.Client{httpClient}
	secrets, err := httpSecrets(a.HTTPClientConfig)
	if err != nil {
		return collector.AccountOptions{}, clients, fmt.Errorf("account %q: %w", a.Name, err)
	}
	client, err := b2see.NewClient(b2see.Config{
		URL:           a.URL,
		CakesPath:     a.CakesPath,
		CustomerID:    a.CustomerID,
		APIKey:        key,
		DaysOfHistory: a.DaysOfHistory,
		MaxBodyBytes:  int64(a.MaxBodySize),
		HTTPClient:    httpClient,
		UserAgent:     exporterName + "/" + version.Version,
		Secrets:       secrets,
	})
	if err != nil {
		return collector.AccountOptions{}, clients, fmt.Errorf("account %q: %w", a.Name, err)
	}
	opts := collector.AccountOptions{
		Name:        a.Name,
		Source:      client,
		SenderLabel: a.SenderLabel,
		MinInterval: time.Duration(a.MinInterval),
		Logger:      logger,
	}
	if a.Batches != nil {
		var batchesClient *http.Client
		opts.Status, batchesClient, err = statusOptions(a)
		if batchesClient != nil {
			clients = append(clients, batchesClient)
		}
		if err != nil {
			return collector.AccountOptions{}, clients, fmt.Errorf("account %q: batches: %w", a.Name, err)
		}
	}
	return opts, clients, nil
}

// statusOptions builds the batch status tracking of an account: a client
// of the batches API, whose authentication and TLS come from its
// http_client_config, and the meaning of the status codes. It returns the
// HTTP client it built, also on error.
func statusOptions(a *config.Account) (*collector.StatusOptions, *http.Client, error) {
	b := a.Batches
	httpClient, err := promconfig.NewClientFromConfig(b.HTTPClientConfig, "b2see_batches")
	if err != nil {
		return nil, nil, fmt.Errorf("http_client_config: %w", err)
	}
	secrets, err := httpSecrets(b.HTTPClientConfig)
	if err != nil {
		return nil, httpClient, err
	}
	client, err := b2see.NewBatchesClient(b2see.BatchesConfig{
		URL:        b.URL,
		HTTPClient: httpClient,
		UserAgent:  exporterName + "/" + version.Version,
		Secrets:    secrets,
	})
	if err != nil {
		return nil, httpClient, err
	}
	statuses := make(map[int]collector.StatusMapping, len(b.Statuses))
	for code, st := range b.Statuses {
		statuses[code] = collector.StatusMapping{Name: st.Name, Phase: string(st.Phase)}
	}
	return &collector.StatusOptions{Client: client, Statuses: statuses, Concurrency: b.Concurrency}, httpClient, nil
}

// maxSecretFileSize caps what is read of a secret file of an HTTP client
// configuration: passwords and client secrets are short, bearer tokens a
// few KiB at most, and a path pointing at a large file or a device must
// not make a load read it whole.
const maxSecretFileSize = 64 << 10

// httpSecrets lists the secrets of an HTTP client configuration, inline or
// in files (read now, at each load, as the client reads them), to be
// redacted from any upstream message that would echo them. A file larger
// than any secret is an error; one that cannot be read is left for the
// client to report when it uses it.
func httpSecrets(c promconfig.HTTPClientConfig) ([]string, error) {
	var out []string
	var err error
	add := func(s promconfig.Secret, file string) {
		if s != "" {
			out = append(out, string(s))
		}
		v, ferr := readSecretFile(file)
		if ferr != nil && err == nil {
			err = ferr
		}
		if v != "" {
			out = append(out, v)
		}
	}
	add(c.BearerToken, c.BearerTokenFile)
	if c.Authorization != nil {
		add(c.Authorization.Credentials, c.Authorization.CredentialsFile)
	}
	if b := c.BasicAuth; b != nil {
		user := b.Username
		if b.UsernameFile != "" {
			var ferr error
			if user, ferr = readSecretFile(b.UsernameFile); ferr != nil && err == nil {
				err = ferr
			}
		}
		n := len(out)
		add(b.Password, b.PasswordFile)
		// An echoed Authorization header holds user:password.
		for _, pw := range slices.Clone(out[n:]) {
			out = append(out, user+":"+pw)
		}
	}
	if c.OAuth2 != nil {
		add(c.OAuth2.ClientSecret, c.OAuth2.ClientSecretFile)
	}
	if u := c.ProxyURL.URL; u != nil && u.User != nil {
		pw, _ := u.User.Password()
		add(promconfig.Secret(pw), "")
		add(promconfig.Secret(u.User.Username()+":"+pw), "")
	}
	for _, values := range c.ProxyConnectHeader {
		for _, v := range values {
			add(v, "")
		}
	}
	if c.HTTPHeaders != nil {
		for _, h := range c.HTTPHeaders.Headers {
			for _, v := range h.Secrets {
				add(v, "")
			}
			for _, f := range h.Files {
				add("", f)
			}
		}
	}
	return out, err
}

// readSecretFile returns the trimmed content of file, or "" when there is
// none or it cannot be read (the HTTP client reports that). A file larger
// than any secret is an error.
func readSecretFile(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := state.ReadFile(file, maxSecretFileSize)
	if errors.Is(err, state.ErrTooLarge) {
		return "", fmt.Errorf("http_client_config: the secret file %q is larger than %d bytes", file, maxSecretFileSize)
	}
	if err != nil {
		return "", nil
	}
	return strings.TrimSpace(string(b)), nil
}

// configLoader returns how the configuration is (re)loaded: from
// --config.file when given, else the one account of the --b2see.* flags.
func configLoader(f *flags) (func() (*config.Config, error), error) {
	// Zero would silently mean the defaults below.
	if f.daysOfHistory < 1 {
		return nil, fmt.Errorf("--b2see.days-of-history must be 1 or more, not %d", f.daysOfHistory)
	}
	if f.maxBodySize < 1 {
		return nil, fmt.Errorf("--b2see.max-body-size must be 1 byte or more, not %s", f.maxBodySize)
	}
	opts := config.Options{
		Defaults: config.Defaults{
			URL:           f.url,
			CakesPath:     f.cakesPath,
			DaysOfHistory: f.daysOfHistory,
			SenderLabel:   f.senderLabel,
			MinInterval:   model.Duration(f.minInterval),
			MaxBodySize:   f.maxBodySize,
		},
		AllowInlineAPIKeys: f.allowInlineKeys,
	}
	if f.configFile != "" {
		if f.demo {
			return nil, errors.New("--demo serves its own account: leave out --config.file")
		}
		if f.customerID != "" || f.apiKeyFile != "" || f.accountName != "" || f.batchStatus || f.batchesURL != "" {
			return nil, errors.New("--config.file describes the accounts: leave out --b2see.customer-id (B2SEE_CUSTOMER_ID), --b2see.api-key-file, --b2see.account-name, --b2see.batch-status and --b2see.batches-url")
		}
		return func() (*config.Config, error) { return config.Load(f.configFile, opts) }, nil
	}
	return func() (*config.Config, error) {
		if f.customerID == "" {
			return nil, errors.New("no customer ID: set --b2see.customer-id or B2SEE_CUSTOMER_ID, or --config.file (or use --demo)")
		}
		a := config.NewAccount(opts.Defaults)
		a.Name = f.accountName
		if a.Name == "" {
			a.Name = f.customerID
		}
		a.CustomerID = f.customerID
		if f.apiKeyFile != "" {
			a.APIKeyFile = f.apiKeyFile
		} else {
			if _, ok := os.LookupEnv(apiKeyEnv); !ok {
				return nil, errors.New("no API key: set --b2see.api-key-file or " + apiKeyEnv)
			}
			a.APIKeyEnv = apiKeyEnv
		}
		if f.batchStatus {
			batchesURL := f.batchesURL
			if batchesURL == "" {
				batchesURL = a.URL
			}
			a.Batches = &config.Batches{
				URL:              batchesURL,
				HTTPClientConfig: promconfig.DefaultHTTPClientConfig,
				Concurrency:      config.DefaultBatchConcurrency,
				Statuses:         f.batchStatuses,
			}
		}
		cfg := &config.Config{Accounts: []*config.Account{a}}
		if err := cfg.Validate(opts); err != nil {
			return nil, err
		}
		return cfg, nil
	}, nil
}

// apiKeyEnv holds the key when no key file is given.
const apiKeyEnv = "B2SEE_API_KEY"
