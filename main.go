// Command b2see_exporter exports the video engagement of B2see accounts
// (batches sent and watched, plays, clicks, customer actions) as Prometheus
// metrics.
package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	webflag "github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/b2see-exporter/b2see_exporter/accounts"
	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/config"
)

const exporterName = "b2see_exporter"

// defaultListenAddress lies outside 9100-9999, the fully allocated range of
// Prometheus' default port allocations.
const defaultListenAddress = ":10133"

// defaultTimeoutOffset is the --b2see.timeout-offset default: the answer
// is due that long before Prometheus' scrape timeout.
const defaultTimeoutOffset = 500 * time.Millisecond

// flags are the command line, parsed once.
type flags struct {
	telemetryPath  string
	web            *web.FlagConfig
	maxConnections int

	settings      config.Settings // the --b2see.* flags every account shares
	customerID    string
	apiKeyFile    string
	accountName   string
	timeout       time.Duration
	timeoutOffset time.Duration

	storagePath string

	batchStatus   bool
	batchesURL    string
	batchStatuses map[int]config.Status // set by --demo only: the file is the place for a mapping

	configFile      string
	configCheck     bool
	allowInlineKeys bool
	concurrency     int

	demo bool
}

func parseFlags(app *kingpin.Application, args []string, logConfig *promslog.Config) (*flags, error) {
	f := &flags{}
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&f.telemetryPath)
	f.web = webflag.AddFlags(app, defaultListenAddress)
	app.Flag("web.max-connections", "Most connections the web server holds at once on each listener; more wait until one closes. 0 for no limit.").Default(strconv.Itoa(defaultMaxConnections)).IntVar(&f.maxConnections)

	f.settings.AddFlags(app)
	app.Flag("b2see.customer-id", "B2see customer ID of the account.").Envar("B2SEE_CUSTOMER_ID").StringVar(&f.customerID)
	app.Flag("b2see.api-key-file", "File holding the account's API key. Without it the key is read from the environment variable B2SEE_API_KEY; it is never given as a flag's value.").StringVar(&f.apiKeyFile)
	app.Flag("b2see.account-name", "Value of the account label; the customer ID when empty.").StringVar(&f.accountName)
	app.Flag("b2see.timeout", "Longest time a scrape may wait for the upstream, whatever Prometheus' scrape timeout.").Default(collector.DefaultTimeout.String()).DurationVar(&f.timeout)
	app.Flag("b2see.timeout-offset", "Taken off Prometheus' scrape timeout, so the answer arrives before Prometheus gives up.").Default(defaultTimeoutOffset.String()).DurationVar(&f.timeoutOffset)

	app.Flag("b2see.batch-status", "Track each batch's status through the batches API (with flags, status codes are exported as numbers; name them in --config.file).").BoolVar(&f.batchStatus)
	app.Flag("b2see.batches-url", "Base URL of the batches API; the --b2see.url value when empty.").StringVar(&f.batchesURL)
	app.Flag("config.file", "YAML file describing the accounts; without it, the --b2see.* flags describe one account.").StringVar(&f.configFile)
	app.Flag("config.check", "Check the configuration, including every API key, and exit.").BoolVar(&f.configCheck)
	app.Flag("config.allow-inline-api-keys", "Accept api_key in the configuration file; otherwise keys must come from api_key_file or api_key_env.").BoolVar(&f.allowInlineKeys)
	app.Flag("b2see.concurrency", "How many accounts /metrics reads at once.").Default(strconv.Itoa(collector.DefaultConcurrency)).IntVar(&f.concurrency)
	app.Flag("storage.path", "Directory where the counters' state is kept across restarts.").Default("data/").StringVar(&f.storagePath)
	app.Flag("demo", "Serve metrics from a built-in fake B2see API, with no account needed.").BoolVar(&f.demo)

	promslogflag.AddFlags(app, logConfig)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		return nil, err
	}
	return f, nil
}

// init gives builds without version flags (go run, go build) a version:
// the module's, as go install records it, or "devel". The User-Agent and
// build_info carry it.
func init() {
	if version.Version != "" {
		return
	}
	version.Version = "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version.Version = strings.TrimPrefix(bi.Main.Version, "v")
	}
}

func main() {
	logConfig := &promslog.Config{}
	app := kingpin.New(exporterName, "Prometheus exporter for B2see video engagement.")
	f, err := parseFlags(app, os.Args[1:], logConfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", exporterName, err)
		os.Exit(2)
	}
	logger := promslog.New(logConfig)
	if err := run(f, logger); err != nil {
		logger.Error(err.Error())
		os.Exit(1)
	}
}

func run(f *flags, logger *slog.Logger) error {
	if f.demo {
		stop := startDemo(f, logger)
		defer stop()
	}
	load, err := configLoader(f)
	if err != nil {
		return err
	}
	if f.configCheck {
		cfg, err := load()
		if err != nil {
			return err
		}
		if err := accounts.Check(cfg, userAgent(), logger); err != nil {
			return err
		}
		fmt.Printf("configuration OK: %d account(s)\n", len(cfg.Accounts))
		return nil
	}
	if f.maxConnections < 0 {
		return fmt.Errorf("--web.max-connections must be 0 (no limit) or more, not %d", f.maxConnections)
	}
	if f.concurrency < 1 {
		return fmt.Errorf("--b2see.concurrency must be 1 or more, not %d", f.concurrency)
	}
	if f.timeout <= 0 || f.timeoutOffset < 0 {
		return fmt.Errorf("--b2see.timeout must be positive and --b2see.timeout-offset not negative, not %s and %s", f.timeout, f.timeoutOffset)
	}

	logger.Info("starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())
	prometheus.MustRegister(versioncollector.NewCollector(exporterName))
	set := newAccountSet(f, load, logger, prometheus.DefaultRegisterer)
	if err := set.Reload(); err != nil {
		return err
	}

	reload := func() error {
		if err := set.Reload(); err != nil {
			logger.Error("reloading the configuration failed; keeping the running one", "err", err)
			return err
		}
		logger.Info("configuration reloaded", "accounts", len(set.Accounts()))
		return nil
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			_ = reload()
		}
	}()

	listeners, err := listen(f.web, f.maxConnections)
	if err != nil {
		return err
	}
	server := newServer(newHandler(f, set, reload, prometheus.DefaultGatherer, logger), defaultLimits)
	return web.ServeMultiple(listeners, server, f.web, logger)
}

// newAccountSet is the accounts that load describes, as the flags say to
// keep them.
func newAccountSet(f *flags, load func() (*config.Config, error), logger *slog.Logger, reg prometheus.Registerer) *accounts.Set {
	return accounts.New(accounts.Options{
		Load:       load,
		StorageDir: f.storagePath,
		Timeout:    f.timeout,
		UserAgent:  userAgent(),
		Logger:     logger,
		Registerer: reg,
	})
}

// userAgent is what the exporter calls itself to the upstream.
func userAgent() string { return exporterName + "/" + version.Version }

// newHandler routes the exporter's pages: metrics, probe, reload and the
// landing page.
func newHandler(f *flags, set *accounts.Set, reload func() error, gatherer prometheus.Gatherer, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(f.telemetryPath, readOnly(&metricsHandler{
		gatherer:    gatherer,
		accounts:    set.Accounts,
		timeout:     f.timeout,
		offset:      f.timeoutOffset,
		concurrency: f.concurrency,
		logger:      logger,
	}))
	mux.Handle("/probe", readOnly(&probeHandler{
		accounts: set,
		metrics: metricsHandler{
			timeout: f.timeout,
			offset:  f.timeoutOffset,
			logger:  logger,
		},
	}))
	mux.Handle("/-/reload", reloadHandler(reload))
	if f.telemetryPath != "/" {
		mux.Handle("/", readOnly(&landingPage{
			config: web.LandingConfig{
				Name:        "B2see Exporter",
				Description: "Prometheus exporter for B2see video engagement",
				Version:     version.Info(),
				Links:       []web.LandingLinks{{Address: f.telemetryPath, Text: "Metrics"}},
				Form: web.LandingForm{
					Action: "probe",
					Inputs: []web.LandingFormInput{{Label: "Account", Type: "text", Name: "account", Placeholder: "name"}},
				},
				Profiling: "false",
			},
			accounts: set.Accounts,
			logger:   logger,
		}))
	}
	return mux
}

// startDemo starts the fake B2see API in-process and points the flags at
// it. Its data changes every few seconds, so that counters move.
func startDemo(f *flags, logger *slog.Logger) (stop func()) {
	srv := b2seetest.NewServer(b2seetest.Config{Records: b2seetest.Generate(2000, 1, time.Now(), 90)})
	f.settings.URL, f.settings.CakesPath, f.customerID, f.apiKeyFile = srv.URL, b2see.DefaultCakesPath, b2seetest.DefaultCustomerID, ""
	// The demo tracks batch statuses with the fake's documented example
	// mapping; real codes are undocumented and need a configuration file.
	f.batchStatus, f.batchesURL = true, srv.BatchesURL
	f.batchStatuses = map[int]config.Status{}
	for _, st := range b2seetest.ExampleStatuses {
		f.batchStatuses[st.Code] = config.Status{Name: st.Name, Phase: config.Phase(st.State)}
	}
	if f.accountName == "" {
		f.accountName = "demo"
	}
	os.Setenv(apiKeyEnv, b2seetest.DemoAPIKey)
	logger.Info("demo mode: reading the built-in fake B2see API", "url", srv.URL)

	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for seed := uint64(1); ; seed++ {
			select {
			case <-done:
				return
			case now := <-tick.C:
				srv.UpdateRecords(func(rs []b2seetest.Record) []b2seetest.Record { return b2seetest.Evolve(rs, seed, now) })
			}
		}
	}()
	return func() { close(done); srv.Close() }
}
