package e2e

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
)

// badSecretConfigs are files whose errors once showed a secret, with the
// secret's pieces.
var badSecretConfigs = []struct {
	name, yaml string
	secrets    []string
}{
	{
		name: "proxy URL with a bad escape",
		yaml: `accounts:
  - name: north
    customer_id: "4242"
    api_key_env: B2SEE_TEST_KEY
    http_client_config:
      proxy_url: "http://proxyuser:Pr0xyPassw0rd%zz@127.0.0.1:3128"
`,
		secrets: []string{"Pr0xyPassw0rd", "%zz", "proxyuser"},
	},
	{
		name: "unquoted secret starting with *",
		yaml: `accounts:
  - name: north
    customer_id: "4242"
    api_key: *S3cretValue
`,
		secrets: []string{"S3cretValue"},
	},
}

// The configuration's secrets stay out of --config.check's and the
// start-up's errors.
func TestConfigErrorsAtStartHideSecrets(t *testing.T) {
	for _, tc := range badSecretConfigs {
		for _, mode := range []string{"--config.check", "--web.listen-address=127.0.0.1:0"} {
			t.Run(tc.name+" "+strings.TrimPrefix(mode, "--"), func(t *testing.T) {
				cfg := filepath.Join(t.TempDir(), "b2see.yml")
				fixture.WriteFile(t, cfg, tc.yaml)
				ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
				defer cancel()
				cmd := exec.CommandContext(ctx, exporterBinary, mode, "--config.file="+cfg, "--config.allow-inline-api-keys")
				cmd.Env = append(cleanEnv(), "B2SEE_TEST_KEY="+b2seetest.DemoAPIKey)
				out, err := cmd.CombinedOutput()
				if err == nil {
					t.Fatalf("the exporter accepted the file; output:\n%s", out)
				}
				if !strings.Contains(string(out), `account 1 (\"north\")`) && !strings.Contains(string(out), "anchor") {
					t.Errorf("the error does not say what is wrong:\n%s", out)
				}
				fixture.NoLeak(t, "the error", string(out), tc.secrets)
			})
		}
	}
}

// A reload of a bad file keeps the secrets out of its log line (SIGHUP or
// POST) and of the 500 answer to POST /-/reload.
func TestConfigErrorsOnReloadHideSecrets(t *testing.T) {
	fake := b2seetest.NewServer(b2seetest.Config{Records: b2seetest.Generate(10, 1, time.Now(), 30)})
	t.Cleanup(fake.Close)
	good := `accounts:
  - name: north
    customer_id: "` + b2seetest.DefaultCustomerID + `"
    api_key_env: B2SEE_TEST_KEY
    url: ` + fake.URL + `
`
	cfg := filepath.Join(t.TempDir(), "b2see.yml")
	fixture.WriteFile(t, cfg, good)
	e := startExporter(t, []string{"B2SEE_TEST_KEY=" + b2seetest.DemoAPIKey},
		"--config.file="+cfg, "--config.allow-inline-api-keys", "--storage.path="+t.TempDir())
	logOnFailure(t, "exporter", e.logs)
	for i, tc := range badSecretConfigs {
		t.Run(tc.name, func(t *testing.T) {
			fixture.WriteFile(t, cfg, tc.yaml)
			resp, err := http.Post("http://"+e.addr+"/-/reload", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "reload failed") {
				t.Errorf("POST /-/reload: %d %q", resp.StatusCode, body)
			}
			fixture.NoLeak(t, "the answer to POST /-/reload", string(body), tc.secrets)

			e.cmd.Process.Signal(syscall.SIGHUP)
			eventually(t, 10*time.Second, "the reload by SIGHUP is logged", func() (bool, string) {
				n := strings.Count(e.logs.String(), "reloading the configuration failed")
				return n == 2*(i+1), e.logs.String()
			})
			fixture.NoLeak(t, "the log", e.logs.String(), tc.secrets)
		})
	}
}
