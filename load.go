package main

import (
	"errors"
	"fmt"
	"os"

	promconfig "github.com/prometheus/common/config"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/config"
)

// configLoader returns how the configuration is (re)loaded: from
// --config.file when given, else the one account of the --b2see.* flags.
func configLoader(f *flags) (func() (*config.Config, error), error) {
	// Zero would silently mean the defaults below.
	if f.settings.DaysOfHistory < 1 {
		return nil, fmt.Errorf("--b2see.days-of-history must be 1 or more, not %d", f.settings.DaysOfHistory)
	}
	if f.settings.MaxBodySize < 1 {
		return nil, fmt.Errorf("--b2see.max-body-size must be 1 byte or more, not %s", f.settings.MaxBodySize)
	}
	opts := config.Options{Defaults: f.settings, AllowInlineAPIKeys: f.allowInlineKeys}
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
				Concurrency:      b2see.DefaultLookupConcurrency,
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
