package config

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
)

// The keys of testdata/keys and of the environment the tests give.
const (
	northKey = "0b6f3a52-7c1e-4d8a-9f20-5e6c1d2b3a41"
	southKey = "9d2c4e1f-3a5b-4c6d-8e7f-0a1b2c3d4e5f"
	badKey   = "not-a-guid-but-still-secret-7731" // content of keys/bad.key and B2SEE_BAD_KEY
)

var testEnv = map[string]string{
	"B2SEE_NORTH_KEY": northKey,
	"B2SEE_SOUTH_KEY": " " + southKey + "\n",
	"B2SEE_BAD_KEY":   badKey,
}

func lookupTestEnv(name string) (string, bool) {
	v, ok := testEnv[name]
	return v, ok
}

// testDefaults differ from every package default, so that a test can tell
// which one an account got.
var testDefaults = Settings{
	URL:           "https://defaults.example.com/api",
	CakesPath:     "/v2/cakes/{customer_id}",
	DaysOfHistory: 7,
	SenderLabel:   true,
	MinInterval:   model.Duration(2 * time.Minute),
	MaxBodySize:   64 * units.MiB,
}

func testOptions() Options {
	return Options{Defaults: testDefaults, LookupEnv: lookupTestEnv}
}

func mustLoad(t *testing.T, path string, opts Options) *Config {
	t.Helper()
	c, err := Load(path, opts)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return c
}

func mustAccount(t *testing.T, c *Config, name string) *Account {
	t.Helper()
	a, ok := c.Account(name)
	if !ok {
		t.Fatalf("no account %q", name)
	}
	return a
}

func TestLoadDefaults(t *testing.T) {
	a := mustAccount(t, mustLoad(t, "testdata/good_minimal.yml", testOptions()), "north")
	if a.CustomerID != "4242" {
		t.Errorf("CustomerID = %q, want 4242", a.CustomerID)
	}
	if a.URL != testDefaults.URL || a.CakesPath != testDefaults.CakesPath || a.DaysOfHistory != testDefaults.DaysOfHistory ||
		a.SenderLabel != testDefaults.SenderLabel || a.MinInterval != testDefaults.MinInterval || a.MaxBodySize != testDefaults.MaxBodySize {
		t.Errorf("defaults not applied: got %+v, want the values of %+v", a, testDefaults)
	}
	if !reflect.DeepEqual(a.HTTPClientConfig, config.DefaultHTTPClientConfig) {
		t.Errorf("HTTPClientConfig = %+v, want the default", a.HTTPClientConfig)
	}
	if a.Batches != nil {
		t.Errorf("Batches = %+v, want nil when the file has no batches", a.Batches)
	}

	// With zero Defaults the b2see package's own defaults apply.
	a = mustAccount(t, mustLoad(t, "testdata/good_minimal.yml", Options{}), "north")
	if a.URL != b2see.DefaultURL || a.CakesPath != b2see.DefaultCakesPath || a.DaysOfHistory != DefaultDaysOfHistory ||
		a.MaxBodySize != b2see.DefaultMaxBodyBytes || a.SenderLabel || a.MinInterval != 0 {
		t.Errorf("zero Defaults: got %+v", a)
	}
}

func TestLoadFull(t *testing.T) {
	c := mustLoad(t, "testdata/good_full.yml", testOptions())
	if len(c.Accounts) != 2 {
		t.Fatalf("got %d accounts, want 2", len(c.Accounts))
	}
	north := mustAccount(t, c, "north")
	want := Account{
		Name: "north", CustomerID: "4242", APIKeyFile: filepath.Join("testdata", "keys", "north.key"),
		Settings: Settings{
			DaysOfHistory: 14, URL: "https://b2see.example.com/PublicAPI", CakesPath: "/MyVideos/v1/cakes/{customer_id}",
			SenderLabel: false, MinInterval: model.Duration(time.Minute), MaxBodySize: 256 * units.MiB,
		},
		HTTPClientConfig: config.DefaultHTTPClientConfig,
		Batches: &Batches{
			URL: "https://b2see.example.com/PublicAPI", HTTPClientConfig: config.DefaultHTTPClientConfig, Concurrency: 8,
			Statuses: map[int]Status{
				0: {"defined", PhasePending}, 1: {"processing", PhaseRunning},
				2: {"done", PhaseSucceeded}, 3: {"failed", PhaseFailed},
			},
		},
	}
	north.lookupEnv = nil
	if !reflect.DeepEqual(*north, want) {
		t.Errorf("north:\n got %+v\nwant %+v", *north, want)
	}

	south := mustAccount(t, c, "south.branch-2")
	switch {
	case south.CustomerID != "0042":
		t.Errorf("CustomerID = %q, want 0042 as written", south.CustomerID)
	case south.APIKeyEnv != "B2SEE_SOUTH_KEY" || south.APIKeyFile != "":
		t.Errorf("key source: file %q, env %q", south.APIKeyFile, south.APIKeyEnv)
	case south.DaysOfHistory != 90 || !south.SenderLabel || south.MinInterval != 0:
		t.Errorf("explicit values lost: %+v", south)
	case south.URL != testDefaults.URL || south.MaxBodySize != testDefaults.MaxBodySize:
		t.Errorf("defaults not applied: %+v", south)
	case south.Batches == nil || south.Batches.URL != "http://127.0.0.1:8080/api" || south.Batches.Concurrency != b2see.DefaultLookupConcurrency:
		t.Errorf("Batches = %+v", south.Batches)
	}
	if _, ok := c.Account("west"); ok {
		t.Error(`Account("west") found an account`)
	}
}

func TestLoadHTTPClientConfig(t *testing.T) {
	a := mustAccount(t, mustLoad(t, "testdata/good_http.yml", testOptions()), "north")
	h := a.HTTPClientConfig
	if h.OAuth2 == nil || h.OAuth2.ClientID != "exporter" || h.OAuth2.TokenURL != "https://auth.example.com/v1/authtoken" ||
		!reflect.DeepEqual(h.OAuth2.Scopes, []string{"batches.read"}) {
		t.Fatalf("oauth2 = %+v", h.OAuth2)
	}
	if h.FollowRedirects || !h.EnableHTTP2 {
		t.Errorf("follow_redirects %v, enable_http2 %v: want false as set, true by default", h.FollowRedirects, h.EnableHTTP2)
	}
	if a.Batches == nil || a.Batches.HTTPClientConfig.Authorization == nil {
		t.Fatalf("batches = %+v", a.Batches)
	}
	// Relative paths are taken from the file's directory, not the working
	// directory: the files exist only there.
	for what, path := range map[string]string{
		"oauth2 client_secret_file": h.OAuth2.ClientSecretFile,
		"tls_config ca_file":        h.TLSConfig.CAFile,
		"batches credentials_file":  a.Batches.HTTPClientConfig.Authorization.CredentialsFile,
		"batches ca_file":           a.Batches.HTTPClientConfig.TLSConfig.CAFile,
	} {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	// The settings make working clients: the CA file is read and parsed.
	for what, hc := range map[string]config.HTTPClientConfig{"cakes": h, "batches": a.Batches.HTTPClientConfig} {
		if _, err := config.NewClientFromConfig(hc, "b2see_exporter"); err != nil {
			t.Errorf("%s client: %v", what, err)
		}
	}
}

func TestLoadRelativeToFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	fixture.WriteFile(t, filepath.Join(dir, "keys", "north.key"), northKey+"\n")
	other := filepath.Join(t.TempDir(), "south.key")
	fixture.WriteFile(t, other, southKey)
	fixture.WriteFile(t, filepath.Join(dir, "b2see.yml"), "accounts:\n"+
		"  - {name: north, customer_id: '1', api_key_file: keys/north.key}\n"+
		"  - {name: south, customer_id: '2', api_key_file: '"+other+"'}\n")

	c := mustLoad(t, filepath.Join(dir, "b2see.yml"), Options{})
	for name, want := range map[string]string{"north": northKey, "south": southKey} {
		key, err := mustAccount(t, c, name).APIKey()
		if err != nil || key != want {
			t.Errorf("%s: APIKey() = %q, %v; want %q", name, key, err, want)
		}
	}

	// Parse has no file, so a relative path stays relative to the working
	// directory, where keys/north.key does not exist.
	_, err := Parse([]byte("accounts: [{name: north, customer_id: '1', api_key_file: keys/north.key}]"), Options{})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Parse with a relative key file: %v, want a missing file", err)
	}
}

func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad_*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yml"), func(t *testing.T) {
			want := wantError(t, file)
			_, err := Load(file, testOptions())
			if err == nil {
				t.Fatalf("no error, want %q", want)
			}
			if got := err.Error(); got != want {
				t.Errorf("error\n got %q\nwant %q", got, want)
			}
			checkSafe(t, err.Error(), secretsOf(t, file)...)
		})
	}
}

// wantError reads the first line of a bad config, "# error: <message>".
func wantError(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	want, ok := strings.CutPrefix(strings.TrimSpace(line), "# error: ")
	if !ok {
		t.Fatalf("%s does not start with '# error: '", file)
	}
	return want
}

// secretsOf lists the secrets a test config can reach: every key of
// testdata/keys and of the test environment, and the inline secrets of
// the file.
func secretsOf(t *testing.T, file string) []string {
	t.Helper()
	out := []string{northKey, southKey, badKey, "oauth2-client-secret-value-5521", "batches-bearer-token-value-8812"}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		for _, field := range []string{"api_key:", "password:", "client_secret:"} {
			if _, v, ok := strings.Cut(line, field); ok {
				v, _, _ = strings.Cut(strings.TrimSpace(v), ",")
				out = append(out, strings.Trim(strings.TrimPrefix(v, "&k "), "}' "))
			}
		}
	}
	return out
}

// checkSafe fails when msg spans lines or holds one of secrets.
func checkSafe(t *testing.T, msg string, secrets ...string) {
	t.Helper()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, s := range secrets {
		if holdsSecret(msg, s) {
			t.Errorf("error %q holds the secret %q", msg, s)
		}
	}
}

// holdsSecret reports whether msg shows secret: anywhere when it is long,
// and as a whole token, not touching a letter or digit, when it is short
// (a one-letter password may stay inside the message's words).
func holdsSecret(msg, secret string) bool {
	switch {
	case strings.TrimSpace(secret) == "":
		return false
	case len(secret) >= 8:
		return strings.Contains(strings.ToLower(msg), strings.ToLower(secret))
	}
	token := regexp.MustCompile(`(?i)(^|[^\pL\pN])` + regexp.QuoteMeta(secret) + `([^\pL\pN]|$)`)
	return token.MatchString(msg)
}

func TestInlineAPIKeys(t *testing.T) {
	opts := testOptions()
	if _, err := Load("testdata/good_inline.yml", opts); err == nil || !strings.Contains(err.Error(), "api_key must not be written") {
		t.Fatalf("inline key refused by default: got %v", err)
	}
	opts.AllowInlineAPIKeys = true
	a := mustAccount(t, mustLoad(t, "testdata/good_inline.yml", opts), "north")
	if key, err := a.APIKey(); err != nil || key != northKey {
		t.Errorf("APIKey() = %q, %v", key, err)
	}

	// A malformed inline key is not echoed.
	a.InlineAPIKey = "inline-key-typo-1234"
	_, err := a.APIKey()
	if err == nil {
		t.Fatal("malformed inline key accepted")
	}
	checkSafe(t, err.Error(), string(a.InlineAPIKey))
}

func TestMarshalHidesSecrets(t *testing.T) {
	opts := testOptions()
	opts.AllowInlineAPIKeys = true
	c := mustLoad(t, "testdata/good_inline.yml", opts)
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{northKey, "inline-basic-password-6610"} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("marshalled config holds %q:\n%s", s, out)
		}
	}
	if !bytes.Contains(out, []byte("<secret>")) {
		t.Errorf("marshalled config does not show that secrets were hidden:\n%s", out)
	}
}

// A marshalled config reads back as the same config, so the field names
// of Account are those of the file.
func TestMarshalRoundTrip(t *testing.T) {
	for _, file := range []string{"testdata/good_full.yml", "testdata/good_http.yml"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			c := mustLoad(t, file, testOptions())
			out, err := yaml.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(out, testOptions())
			if err != nil {
				t.Fatalf("Parse(marshalled): %v\n%s", err, out)
			}
			for _, cfg := range []*Config{c, back} {
				for _, a := range cfg.Accounts {
					a.lookupEnv = nil
				}
			}
			if !reflect.DeepEqual(c, back) {
				t.Errorf("round trip changed the config:\n%s", out)
			}
		})
	}
}

func TestAPIKeyFileChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "north.key")
	a := NewAccount(Settings{})
	a.Name, a.CustomerID, a.APIKeyFile = "north", "4242", path

	steps := []struct {
		content, want, wantErr string
	}{
		{content: northKey + "\n", want: northKey},
		{content: "\t" + southKey + "\r\n", want: southKey},
		{content: badKey, wantErr: `account "north": the API key in the file "` + path + `" is not a GUID`},
		{content: "\n \n", wantErr: `account "north": the API key file "` + path + `" is empty`},
		{content: strings.Repeat(northKey, 200), wantErr: `account "north": the API key file "` + path + `" is larger than 4096 bytes`},
		// Windows editors write a byte order mark first.
		{content: "\ufeff" + northKey + "\r\n", want: northKey},
		{content: "\xff\xfe" + strings.Join(strings.Split(southKey, ""), "\x00"), wantErr: `account "north": the API key file "` + path + `" is UTF-16 (it starts with a byte order mark)`},
		{content: northKey, want: northKey},
	}
	for i, s := range steps {
		fixture.WriteFile(t, path, s.content)
		key, err := a.APIKey()
		if s.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), s.wantErr) {
				t.Errorf("step %d: APIKey() = %q, %v; want error %q", i, key, err, s.wantErr)
			} else {
				checkSafe(t, err.Error(), s.content, strings.TrimSpace(s.content), northKey)
			}
			continue
		}
		if err != nil || key != s.want {
			t.Errorf("step %d: APIKey() = %q, %v; want %q", i, key, err, s.want)
		}
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := a.APIKey(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("removed key file: %v, want an error naming %s", err, path)
	}
}

func TestAPIKeyEnv(t *testing.T) {
	env := map[string]string{}
	c := &Config{Accounts: []*Account{NewAccount(Settings{})}}
	a := c.Accounts[0]
	a.Name, a.CustomerID, a.APIKeyEnv = "north", "4242", "NORTH_KEY"
	opts := Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}

	tests := []struct {
		value   *string
		want    string
		wantErr string
	}{
		{value: nil, wantErr: `account 1 ("north"): the environment variable NORTH_KEY (api_key_env) is not set`},
		{value: ptr(""), wantErr: `account 1 ("north"): the environment variable NORTH_KEY (api_key_env) is empty`},
		{value: ptr(badKey), wantErr: `account 1 ("north"): the API key in the environment variable NORTH_KEY (api_key_env) is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`},
		{value: ptr(northKey + "\n"), want: northKey},
		{value: ptr(southKey), want: southKey},
	}
	for i, tc := range tests {
		delete(env, "NORTH_KEY")
		if tc.value != nil {
			env["NORTH_KEY"] = *tc.value
		}
		err := c.Validate(opts)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("case %d: Validate() = %v, want %q", i, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("case %d: Validate() = %v", i, err)
			continue
		}
		// Validate made the account read the environment of opts.
		if key, err := a.APIKey(); err != nil || key != tc.want {
			t.Errorf("case %d: APIKey() = %q, %v; want %q", i, key, err, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// An account built in code, as from command line flags, is checked like
// one from a file.
func TestValidateBuiltAccount(t *testing.T) {
	t.Setenv("B2SEE_TEST_KEY", northKey)
	build := func(change func(*Account)) *Config {
		a := NewAccount(Settings{})
		a.Name, a.CustomerID, a.APIKeyEnv = "4242", "4242", "B2SEE_TEST_KEY"
		change(a)
		return &Config{Accounts: []*Account{a}}
	}
	tests := []struct {
		name    string
		change  func(*Account)
		wantErr string
	}{
		{"valid", func(*Account) {}, ""},
		{"negative min_interval", func(a *Account) { a.MinInterval = -1 }, `account 1 ("4242"): min_interval must not be negative`},
		{"zero max_body_size", func(a *Account) { a.MaxBodySize = 0 }, `account 1 ("4242"): max_body_size must be at least 1 byte`},
		{"cakes path with query", func(a *Account) { a.CakesPath = "/cakes?x=1" }, `account 1 ("4242"): cakes_path "/cakes?x=1" must not hold '?', '#', spaces or control characters`},
		{"url with query", func(a *Account) { a.URL = "https://b2see.example.com/?apiKey=x" }, `account 1 ("4242"): url "https://b2see.example.com/?apiKey=<redacted>" must not have a query or fragment`},
		{"customer id with space", func(a *Account) { a.CustomerID = "42 42" }, `account 1 ("4242"): customer_id must not contain spaces or control characters`},
		{"bad http config", func(a *Account) { a.HTTPClientConfig.BearerToken = "x"; a.HTTPClientConfig.BearerTokenFile = "y" },
			`account 1 ("4242"): http_client_config: at most one of bearer_token & bearer_token_file must be configured`},
		{"batches status", func(a *Account) {
			a.Batches = &Batches{URL: "https://b2see.example.com", Concurrency: 1, Statuses: map[int]Status{7: {Name: "x", Phase: "Failed"}}}
		}, `account 1 ("4242"): batches: status 7: phase "Failed" must be one of pending, running, succeeded and failed`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := build(tc.change).Validate(Options{})
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("Validate() = %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("Validate() = %v, want %q", err, tc.wantErr)
			}
		})
	}
	if err := (&Config{}).Validate(Options{}); err == nil {
		t.Error("a config without accounts validated")
	}
}

// Secrets that reach a message by an unusual path, an alias or a value
// put in the wrong field, are still taken out.
func TestErrorsHideMisplacedSecrets(t *testing.T) {
	tests := []struct {
		name, yaml string
		secrets    []string
	}{
		{"key as name", "accounts: [{name: &k " + northKey + ", customer_id: '1', api_key_env: NORTH}]", []string{northKey}},
		{"key as customer id", "accounts: [{name: n, customer_id: '" + northKey + " ', api_key_env: NORTH}]", []string{northKey}},
		{"key as url", "accounts: [{name: n, customer_id: '1', api_key_env: NORTH, url: 'x" + northKey + "'}]", []string{northKey}},
		{"secret aliased into min_interval", "accounts: [{name: n, customer_id: '1', api_key: &k long-inline-secret, min_interval: *k}]", []string{"long-inline-secret"}},
		{"password aliased into url", "accounts: [{name: n, customer_id: '1', api_key_env: NORTH, http_client_config: {basic_auth: {username: u, password: &p 'ftp://pass-word-1'}}, url: *p}]", []string{"pass-word-1"}},
		{"secret with a line break", "accounts: [{name: n, customer_id: '1', api_key: &k \"two\\nlines-secret\", cakes_path: *k}]", []string{"two\nlines-secret", `two\nlines-secret`}},
		{"key file named like a key", "accounts: [{name: n, customer_id: '1', api_key_file: " + northKey + "}]", []string{northKey}},
		{"proxy URL with a bad escape", "accounts: [{name: n, customer_id: '1', api_key_env: NORTH, http_client_config: {proxy_url: 'http://proxyuser:Pr0xyPassw0rd%zz@127.0.0.1:3128'}}]",
			[]string{"Pr0xyPassw0rd", "%zz", "proxyuser"}},
		{"proxy URL aliased into cakes_path", "accounts: [{name: n, customer_id: '1', api_key_env: NORTH, http_client_config: {proxy_url: &p 'http://proxyuser:s3cr@127.0.0.1:3128'}, cakes_path: *p}]",
			[]string{"s3cr", "proxyuser"}},
		{"URL with credentials as the name", "accounts: [{name: &p 'http://proxyuser:pa ss%41@127.0.0.1:3128', customer_id: '1', api_key_env: NORTH, http_client_config: {proxy_url: *p}}]",
			[]string{"pa ss", "proxyuser", "pa ssA"}},
		{"unquoted secret starting with *", "accounts:\n  - name: n\n    customer_id: '1'\n    api_key: *s3cretvalue\n", []string{"s3cretvalue"}},
		{"unquoted secret starting with *, flow style", "accounts: [{name: n, customer_id: '1', api_key: *s3cretvalue}]", []string{"s3cretvalue"}},
		{"short password aliased into url", "accounts: [{name: n, customer_id: '1', api_key_env: NORTH, http_client_config: {basic_auth: {username: u, password: &p pw}}, url: *p}]", []string{"pw"}},
		{"short bearer token aliased into url", "accounts: [{name: n, customer_id: '1', api_key_env: NORTH, batches: {http_client_config: {bearer_token: &t tok}}, url: *t}]", []string{"tok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), Options{AllowInlineAPIKeys: true, LookupEnv: lookupTestEnv})
			if err == nil {
				t.Fatal("no error")
			}
			checkSafe(t, err.Error(), tc.secrets...)
		})
	}
}

// A one-letter secret goes from the message without taking the letter out
// of its words.
func TestOneLetterSecretKeepsMessagesReadable(t *testing.T) {
	_, err := Parse([]byte("accounts: [{name: n, customer_id: '1', api_key_env: NORTH, http_client_config: {basic_auth: {username: u, password: &p t}}, cakes_path: *p}]"),
		Options{LookupEnv: lookupTestEnv})
	const want = `account 1 ("n"): cakes_path "<redacted>" must start with /`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// The fuzzed file sits beside copies of the test keys, so that its
	// relative key paths reach them.
	dir := f.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata")); err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, "fuzz.yml")
	fixed := []string{northKey, southKey, badKey, "oauth2-client-secret-value-5521", "batches-bearer-token-value-8812"}

	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, allow := range []bool{false, true} {
			c, err := Load(path, Options{AllowInlineAPIKeys: allow, LookupEnv: lookupTestEnv})
			if err == nil {
				if len(c.Accounts) == 0 {
					t.Fatal("a config without accounts loaded")
				}
				continue
			}
			checkSafe(t, err.Error(), append(inlineKeys(data), fixed...)...)
		}
	})
}

// inlineKeys finds the api_key values of a file, independently of the
// package's own search.
func inlineKeys(data []byte) []string {
	var doc struct {
		Accounts []struct {
			APIKey any `yaml:"api_key"`
		} `yaml:"accounts"`
	}
	_ = yaml.Unmarshal(data, &doc)
	var out []string
	for _, a := range doc.Accounts {
		if s, ok := a.APIKey.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestOversizedKeyFileIsNotRead: a key file far larger than a key is
// refused with one line, without being read whole.
func TestOversizedKeyFileIsNotRead(t *testing.T) {
	path := fixture.SparseFile(t, "north.key", 1<<30)
	a := NewAccount(Settings{})
	a.Name, a.CustomerID, a.APIKeyFile = "north", "4242", path
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := a.APIKey()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if want := `account "north": the API key file "` + path + `" is larger than 4096 bytes`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("refusing the file allocated %d bytes, want under 16 MiB", alloc)
	}
	if took > 2*time.Second {
		t.Errorf("refusing the file took %v", took)
	}
}
