package accounts

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/config"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// accountOptions builds the collector's options for one configured
// account: its API key, its HTTP clients and its B2see clients, and the
// secrets to redact from what the upstream answers. It returns
// the HTTP clients it built, also on error.
func accountOptions(a *config.Account, userAgent string, logger *slog.Logger) (collector.AccountOptions, []*http.Client, error) {
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
		UserAgent:     userAgent,
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
		Caps: collector.LabelCaps{
			ProductTypes: int(a.MaxProductTypes), Senders: int(a.MaxSenders), ActionStates: int(a.MaxActionStates),
			PaymentOutcomes: int(a.MaxPaymentOutcomes), Ratings: int(a.MaxRatings),
		},
		MaxSeries: int(a.MaxSeries),
	}
	if a.Batches != nil {
		var batchesClient *http.Client
		opts.Status, batchesClient, err = statusOptions(a, userAgent)
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
func statusOptions(a *config.Account, userAgent string) (*collector.StatusOptions, *http.Client, error) {
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
		UserAgent:  userAgent,
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
