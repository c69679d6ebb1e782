// Package config reads the accounts file: the B2see accounts one exporter
// serves, where each account's API key comes from, and the HTTP settings of
// its APIs.
//
// The package reads and checks; it builds no clients and knows nothing of
// Prometheus. Its errors are single lines that name the account at fault,
// and they must never carry an API key or any other secret of the file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/prometheus/common/config"
	"go.yaml.in/yaml/v2"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// maxKeyFileSize caps what is read of an API key file: a key is 36 bytes,
// and a path pointing at a device or a large file must not hang a reload.
const maxKeyFileSize = 4 << 10

// Phase is where a batch status stands in a batch's life.
type Phase = b2see.Phase

// The phases a status can map to.
const (
	PhasePending   = b2see.PhasePending
	PhaseRunning   = b2see.PhaseRunning
	PhaseSucceeded = b2see.PhaseSucceeded
	PhaseFailed    = b2see.PhaseFailed
)

// Config is the accounts file, with defaults applied.
type Config struct {
	Accounts []*Account `yaml:"accounts"`
}

// Account is one B2see account. Parse fills every field; an Account built
// in code should start from NewAccount and be checked with Config.Validate.
type Account struct {
	// Name is the value of the account label.
	Name       string `yaml:"name"`
	CustomerID string `yaml:"customer_id"`

	// Exactly one of the three key sources is set. InlineAPIKey is only
	// accepted when Options.AllowInlineAPIKeys is.
	APIKeyFile   string        `yaml:"api_key_file,omitempty"`
	APIKeyEnv    string        `yaml:"api_key_env,omitempty"`
	InlineAPIKey config.Secret `yaml:"api_key,omitempty"`

	Settings         `yaml:",inline"`
	HTTPClientConfig config.HTTPClientConfig `yaml:"http_client_config"`

	// Batches turns on batch status tracking; nil leaves it off.
	Batches *Batches `yaml:"batches,omitempty"`

	lookupEnv func(string) (string, bool)
}

// Batches configures the batches status API of an account.
type Batches struct {
	URL              string                  `yaml:"url"`
	HTTPClientConfig config.HTTPClientConfig `yaml:"http_client_config"`
	Concurrency      int                     `yaml:"concurrency"`
	// Statuses names the status codes, which B2see does not document.
	Statuses map[int]Status `yaml:"statuses,omitempty"`
}

// Status is the meaning given to one status code.
type Status struct {
	Name  string `yaml:"name"`
	Phase Phase  `yaml:"phase"`
}

// Options control how a file is read.
type Options struct {
	// Defaults are the settings of the accounts that leave them out,
	// usually taken from the command line. Their zero fields but the
	// booleans mean those of DefaultSettings.
	Defaults Settings
	// AllowInlineAPIKeys accepts api_key in the file. Off, the key must
	// come from api_key_file or api_key_env, so that the file itself can
	// be shared and versioned.
	AllowInlineAPIKeys bool
	// LookupEnv reads api_key_env variables; os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)
}

// NewAccount returns an account with its settings from d (a zero field but
// a boolean meaning that of DefaultSettings) and the HTTP client settings
// at their defaults.
func NewAccount(d Settings) *Account {
	return &Account{Settings: d.orDefaults(), HTTPClientConfig: config.DefaultHTTPClientConfig}
}

// MaxFileSize is the most a configuration file may hold: far more than a
// thousand accounts take, and little enough that a wrong path (a log, a
// device) is refused at once instead of read into memory.
const MaxFileSize = 16 << 20

// Load reads and checks the file at path. Relative paths in it (key files,
// and the files of http_client_config) are taken from the file's directory.
// A bad or missing API key fails the load.
func Load(path string, opts Options) (*Config, error) {
	data, err := state.ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, errors.New(clean("reading the config file: "+err.Error(), nil))
	}
	return parse(data, filepath.Dir(path), opts)
}

// Parse reads and checks a file's content, as Load does. Relative paths are
// left as they are, so they are taken from the working directory.
func Parse(data []byte, opts Options) (*Config, error) {
	return parse(data, "", opts)
}

func parse(data []byte, dir string, opts Options) (*Config, error) {
	c, err := decode(data, dir, opts.Defaults)
	if err == nil {
		err = c.Validate(opts)
	}
	if err != nil {
		// Secrets can reach a message through YAML aliases or a value put
		// in the wrong field; take them out whatever the path.
		return nil, errors.New(clean(err.Error(), fileSecrets(data)))
	}
	return c, nil
}

// Account returns the account called name.
func (c *Config) Account(name string) (*Account, bool) {
	for _, a := range c.Accounts {
		if a.Name == name {
			return a, true
		}
	}
	return nil, false
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

const nameRule = "1 to 128 letters, digits, '_', '.', ':' or '-'"

var envPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks every account, their names being unique and their API
// keys readable and valid, and makes the accounts read api_key_env through
// opts.LookupEnv. It calls HTTPClientConfig.Validate, which moves a
// deprecated bearer_token into authorization. As it sets fields, it must
// run before the config is shared.
func (c *Config) Validate(opts Options) error {
	if len(c.Accounts) == 0 {
		return errors.New(`no accounts: list at least one under "accounts"`)
	}
	first := make(map[string]int, len(c.Accounts))
	var secrets []string
	for _, a := range c.Accounts {
		if a != nil {
			secrets = append(secrets, string(a.InlineAPIKey))
		}
	}
	for i, a := range c.Accounts {
		if a == nil {
			return fmt.Errorf("account %d is empty", i+1)
		}
		a.lookupEnv = opts.LookupEnv
		err := a.validate(opts.AllowInlineAPIKeys)
		if err == nil {
			if j, ok := first[a.Name]; ok {
				err = fmt.Errorf("the name is already used by account %d", j+1)
			}
			first[a.Name] = i
		}
		if err != nil {
			return errors.New(clean(accountRef(i, a.Name)+": "+err.Error(), secrets))
		}
	}
	return nil
}

// accountRef names an account in an error by its position in the file,
// counted from 1, and its name when it has one.
func accountRef(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("account %d", i+1)
	}
	if len(name) > 64 {
		name = name[:64] + "..."
	}
	return fmt.Sprintf("account %d (%q)", i+1, name)
}

func (a *Account) validate(allowInline bool) error {
	switch {
	case a.Name == "":
		return errors.New("name is required")
	case !namePattern.MatchString(a.Name):
		return errors.New("name must be " + nameRule)
	case a.CustomerID == "":
		return errors.New("customer_id is required")
	case strings.IndexFunc(a.CustomerID, badRune) >= 0:
		return errors.New("customer_id must not contain spaces or control characters")
	case a.InlineAPIKey != "" && !allowInline:
		return errors.New("api_key must not be written in the config file: put the key in a file (api_key_file) or an environment variable (api_key_env)")
	}
	switch n := countSet(a.APIKeyFile, a.APIKeyEnv, string(a.InlineAPIKey)); {
	case n == 0 && allowInline:
		return errors.New("no API key: set one of api_key_file, api_key_env and api_key")
	case n == 0:
		return errors.New("no API key: set api_key_file or api_key_env")
	case n > 1:
		return errors.New("set only one of api_key_file, api_key_env and api_key")
	}
	if a.APIKeyEnv != "" && !envPattern.MatchString(a.APIKeyEnv) {
		if b2see.ValidAPIKey(strings.TrimSpace(a.APIKeyEnv)) {
			return errors.New("api_key_env holds an API key: it must hold the name of the environment variable that has the key")
		}
		return errors.New("api_key_env must be the name of an environment variable (letters, digits and '_')")
	}
	if a.DaysOfHistory < 1 {
		return fmt.Errorf("days_of_history must be 1 or more, not %d", a.DaysOfHistory)
	}
	if err := checkURL("url", a.URL); err != nil {
		return err
	}
	if err := checkPath(a.CakesPath); err != nil {
		return err
	}
	if a.MinInterval < 0 {
		return errors.New("min_interval must not be negative")
	}
	if a.MaxBodySize < 1 {
		return errors.New("max_body_size must be at least 1 byte")
	}
	if err := a.checkLimits(); err != nil {
		return err
	}
	if err := a.HTTPClientConfig.Validate(); err != nil {
		return fmt.Errorf("http_client_config: %w", err)
	}
	if err := a.Batches.validate(); err != nil {
		return fmt.Errorf("batches: %w", err)
	}
	_, err := a.apiKey()
	return err
}

func (b *Batches) validate() error {
	if b == nil {
		return nil
	}
	if err := checkURL("url", b.URL); err != nil {
		return err
	}
	if err := b.HTTPClientConfig.Validate(); err != nil {
		return fmt.Errorf("http_client_config: %w", err)
	}
	if b.Concurrency < 1 {
		return fmt.Errorf("concurrency must be 1 or more, not %d", b.Concurrency)
	}
	codes := make([]int, 0, len(b.Statuses))
	for code := range b.Statuses {
		codes = append(codes, code)
	}
	slices.Sort(codes) // so that the same file always gives the same error
	for _, code := range codes {
		s := b.Statuses[code]
		switch {
		case s.Name == "":
			return fmt.Errorf("status %d: name is required", code)
		case !namePattern.MatchString(s.Name):
			return fmt.Errorf("status %d: name must be %s", code, nameRule)
		case !slices.Contains(b2see.Phases, s.Phase):
			return fmt.Errorf("status %d: phase %q must be one of pending, running, succeeded and failed", code, s.Phase)
		}
	}
	return nil
}

func checkURL(field, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return fmt.Errorf("%s is empty", field)
	case err != nil:
		// The parser's message quotes the whole URL, credentials and all.
		return fmt.Errorf("%s is not a valid URL", field)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s %q must start with http:// or https://", field, u.Redacted())
	case u.Host == "":
		return fmt.Errorf("%s %q has no host", field, u.Redacted())
	case u.User != nil:
		return fmt.Errorf("%s %q must not hold credentials: use http_client_config", field, u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("%s %q must not have a query or fragment", field, u.Redacted())
	}
	return nil
}

func checkPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("cakes_path %q must start with /", p)
	case strings.ContainsAny(p, "?#") || strings.IndexFunc(p, badRune) >= 0:
		return fmt.Errorf("cakes_path %q must not hold '?', '#', spaces or control characters", p)
	}
	return nil
}

func badRune(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

func countSet(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}

// APIKey reads the account's key from its source now, so that a key file
// changed since the last call is seen, and checks its shape. Its errors name
// the source at fault but never hold the key.
func (a *Account) APIKey() (string, error) {
	key, err := a.apiKey()
	if err != nil {
		ref := "account"
		if a.Name != "" {
			ref = fmt.Sprintf("account %q", a.Name)
		}
		return "", errors.New(clean(ref+": "+err.Error(), []string{string(a.InlineAPIKey)}))
	}
	return key, nil
}

const guidShape = b2see.APIKeyShape

func (a *Account) apiKey() (string, error) {
	switch {
	case a.APIKeyFile != "":
		return readKeyFile(a.APIKeyFile)
	case a.APIKeyEnv != "":
		lookup := a.lookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		v, ok := lookup(a.APIKeyEnv)
		key := strings.TrimSpace(v)
		switch {
		case !ok:
			return "", fmt.Errorf("the environment variable %s (api_key_env) is not set", a.APIKeyEnv)
		case key == "":
			return "", fmt.Errorf("the environment variable %s (api_key_env) is empty", a.APIKeyEnv)
		case !b2see.ValidAPIKey(key):
			return "", fmt.Errorf("the API key in the environment variable %s (api_key_env) is not %s", a.APIKeyEnv, guidShape)
		}
		return key, nil
	case a.InlineAPIKey != "":
		key := strings.TrimSpace(string(a.InlineAPIKey))
		if !b2see.ValidAPIKey(key) {
			return "", errors.New("api_key is not " + guidShape)
		}
		return key, nil
	}
	return "", errors.New("no API key: set api_key_file or api_key_env")
}

func readKeyFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading the API key file (api_key_file): %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return "", fmt.Errorf("reading the API key file (api_key_file): %w", err)
	}
	if len(b) > maxKeyFileSize {
		return "", fmt.Errorf("the API key file %q is larger than %d bytes", path, maxKeyFileSize)
	}
	// Windows editors start a UTF-8 file with a byte order mark; the key
	// is the same without it. UTF-16 is another encoding: say so.
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(b, []byte("\xff\xfe")) || bytes.HasPrefix(b, []byte("\xfe\xff")) {
		return "", fmt.Errorf("the API key file %q is UTF-16 (it starts with a byte order mark): save it as UTF-8 or ASCII", path)
	}
	key := strings.TrimSpace(string(b))
	switch {
	case key == "":
		return "", fmt.Errorf("the API key file %q is empty", path)
	case !b2see.ValidAPIKey(key):
		// The path could spell the content; clean takes it out then.
		return "", errors.New(clean(fmt.Sprintf("the API key in the file %q is not %s", path, guidShape), []string{key}))
	}
	return key, nil
}

// The file's shape as read, with pointers where leaving a field out must be
// told apart from setting it to its zero value.
type rawConfig struct {
	Accounts []accountNode `yaml:"accounts"`
}

// accountNode keeps each account's decoding error to itself, so that the
// error can be put to the account's position in the list.
type accountNode struct {
	raw      rawAccount
	settings reflect.Value // a rawAccountType, for the options of Settings
	err      error
}

func (n *accountNode) UnmarshalYAML(unmarshal func(any) error) error {
	p := reflect.New(rawAccountType)
	n.err = unmarshal(p.Interface())
	n.settings = p.Elem()
	n.raw = n.settings.Field(0).Interface().(rawAccount)
	return nil
}

type rawAccount struct {
	Name             string        `yaml:"name"`
	CustomerID       string        `yaml:"customer_id"`
	APIKeyFile       string        `yaml:"api_key_file"`
	APIKeyEnv        string        `yaml:"api_key_env"`
	APIKey           config.Secret `yaml:"api_key"`
	HTTPClientConfig *httpConfig   `yaml:"http_client_config"`
	Batches          *rawBatches   `yaml:"batches"`
}

type rawBatches struct {
	URL              string         `yaml:"url"`
	HTTPClientConfig *httpConfig    `yaml:"http_client_config"`
	Concurrency      *int           `yaml:"concurrency"`
	Statuses         map[int]Status `yaml:"statuses"`
}

// httpConfig names itself in the errors of common/config's checks, which
// run while decoding and carry no line number.
type httpConfig config.HTTPClientConfig

func (h *httpConfig) UnmarshalYAML(unmarshal func(any) error) error {
	err := unmarshal((*config.HTTPClientConfig)(h))
	var (
		te  *yaml.TypeError
		ue  *url.Error
		esc url.EscapeError
	)
	switch {
	case err == nil || errors.As(err, &te):
		return err
	case errors.As(err, &ue) && errors.As(ue.Err, &esc):
		// The parser quotes the URL and the bad escape, which may be a
		// piece of a password.
		return errors.New("http_client_config: a URL (proxy_url, token_url) holds an invalid %-escape")
	case errors.As(err, &ue):
		return fmt.Errorf("http_client_config: a URL (proxy_url, token_url) is not valid: %v", ue.Err)
	}
	return fmt.Errorf("http_client_config: %w", err)
}

// decode reads data into a Config with defaults applied and relative paths
// joined to dir, without checking values.
func decode(data []byte, dir string, d Settings) (*Config, error) {
	var raw rawConfig
	if err := yaml.UnmarshalStrict(data, &raw); err != nil {
		return nil, yamlError(err)
	}
	c := &Config{Accounts: make([]*Account, 0, len(raw.Accounts))}
	for i, n := range raw.Accounts {
		if n.err != nil {
			return nil, fmt.Errorf("%s: %w", accountRef(i, n.raw.Name), yamlError(n.err))
		}
		a, err := n.raw.account(n.settings, dir, d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", accountRef(i, n.raw.Name), err)
		}
		c.Accounts = append(c.Accounts, a)
	}
	return c, nil
}

// account is the account r describes; settings holds the options the
// file sets (see rawAccountType).
func (r *rawAccount) account(settings reflect.Value, dir string, d Settings) (*Account, error) {
	a := NewAccount(d)
	a.Name = r.Name
	a.CustomerID = r.CustomerID
	a.APIKeyFile = config.JoinDir(dir, r.APIKeyFile)
	a.APIKeyEnv = r.APIKeyEnv
	a.InlineAPIKey = r.APIKey
	if err := a.Settings.apply(settings); err != nil {
		return nil, err
	}
	if r.HTTPClientConfig != nil {
		a.HTTPClientConfig = config.HTTPClientConfig(*r.HTTPClientConfig)
	}
	a.HTTPClientConfig.SetDirectory(dir)
	if r.Batches != nil {
		b := &Batches{
			URL:              r.Batches.URL,
			HTTPClientConfig: config.DefaultHTTPClientConfig,
			Concurrency:      b2see.DefaultLookupConcurrency,
			Statuses:         r.Batches.Statuses,
		}
		if b.URL == "" {
			b.URL = a.URL
		}
		if r.Batches.HTTPClientConfig != nil {
			b.HTTPClientConfig = config.HTTPClientConfig(*r.Batches.HTTPClientConfig)
		}
		b.HTTPClientConfig.SetDirectory(dir)
		if r.Batches.Concurrency != nil {
			b.Concurrency = *r.Batches.Concurrency
		}
		a.Batches = b
	}
	return a, nil
}

var (
	unknownAnchor = regexp.MustCompile(`(?s)unknown anchor '.*' referenced`)
	unknownField  = regexp.MustCompile(`(?s)^line (\d+): field (.*) not found in type (?:\S+|struct \{.*\})$`) // struct: rawAccountType
	wrongType     = regexp.MustCompile("(?s)^line (\\d+): cannot unmarshal (!!\\w+)(?: `.*`)? into (.+)$")
)

// yamlTags and goTypes word the decoder's type errors for users; the
// decoder's own wording quotes the value, which may be a secret.
var (
	yamlTags = map[string]string{
		"!!str": "a string", "!!int": "an integer", "!!float": "a number", "!!bool": "true or false",
		"!!seq": "a list", "!!map": "a mapping", "!!timestamp": "a timestamp", "!!binary": "binary data",
	}
	goTypes = map[string]string{
		"string":                "a string",
		"int":                   "an integer",
		"bool":                  "true or false",
		"config.rawConfig":      `a mapping with "accounts"`,
		"[]config.accountNode":  "a list of accounts",
		"config.rawAccount":     "an account (a mapping)",
		"config.rawBatches":     "batches (a mapping)",
		"map[int]config.Status": "statuses (a mapping from status code to name and phase)",
		"config.Status":         "a status (name and phase)",
		"b2see.Phase":           "a phase",
		"config.plain":          "a mapping", // the types of common/config decode through a type of that name
	}
)

// yamlError turns a decoding error into one line, rewording the
// decoder's type errors.
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		// The decoder quotes an alias's name: the value itself, when an
		// unquoted value starts with '*'.
		return errors.New(unknownAnchor.ReplaceAllLiteralString(err.Error(), "unknown anchor referenced: quote a value that starts with '*'"))
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := unknownField.FindStringSubmatch(e); m != nil {
			e = fmt.Sprintf("line %s: unknown field %q", m[1], m[2])
		} else if m := wrongType.FindStringSubmatch(e); m != nil {
			want := strings.TrimLeft(m[3], "*")
			if w, ok := goTypes[want]; ok {
				want = w
			}
			got := m[2]
			if g, ok := yamlTags[got]; ok {
				got = g
			}
			e = fmt.Sprintf("line %s: expected %s, found %s", m[1], want, got)
		}
		msgs = append(msgs, e)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// secretFields are the keys whose values are secrets, here and in
// common/config's HTTP client settings.
var secretFields = map[string]bool{
	"api_key": true, "bearer_token": true, "password": true, "credentials": true,
	"client_secret": true, "client_certificate_key": true, "key": true, "secrets": true,
	"proxy_connect_header": true,
}

// fileSecrets finds the values of secret fields anywhere in the file,
// aliases resolved, and the user info of every URL in it, even when the
// file does not decode as a Config.
func fileSecrets(data []byte) []string {
	var doc any
	_ = yaml.Unmarshal(data, &doc) // a partial document still names some secrets
	var out []string
	var walk func(v any, secret bool)
	walk = func(v any, secret bool) {
		switch v := v.(type) {
		case map[any]any:
			for k, e := range v {
				ks, _ := k.(string)
				walk(e, secret || secretFields[ks])
			}
		case []any:
			for _, e := range v {
				walk(e, secret)
			}
		case nil:
		default:
			s := fmt.Sprint(v)
			if secret {
				out = append(out, s)
			}
			out = append(out, userInfo(s)...)
		}
	}
	walk(doc, false)
	return out
}

// userInfo returns the user info of a URL-shaped string, and its password,
// as written and percent-decoded; nothing for other strings. It reads
// what the URL parser might refuse: a space, a bad escape.
func userInfo(s string) []string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	i := strings.LastIndex(rest, "@")
	if i <= 0 {
		return nil
	}
	out := []string{rest[:i]}
	if _, pw, ok := strings.Cut(rest[:i], ":"); ok {
		out = append(out, pw)
	}
	for _, v := range out {
		if d, err := url.PathUnescape(v); err == nil && d != v {
			out = append(out, d)
		}
	}
	return out
}

// clean makes msg safe to log: secrets and anything shaped like an API key
// are taken out (see b2see.Redactor), and control characters, line breaks
// among them, become spaces so the message stays on one line.
func clean(msg string, secrets []string) string {
	r := b2see.NewRedactor(secrets...)
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, r.Redact(msg))
	// A secret holding a space may show once a line break is a space.
	return r.Redact(msg)
}
