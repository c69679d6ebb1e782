package main

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
)

// TestHTTPClientConfig runs an account whose two APIs need what only
// http_client_config gives: the cakes API over TLS with a private CA, and
// the batches API behind OAuth2 client credentials, its token endpoint
// over the same TLS.
func TestHTTPClientConfig(t *testing.T) {
	const clientSecret = "s3cr3t-oauth2-client-secret"
	fake := b2seetest.New(b2seetest.Config{
		Records: b2seetest.Generate(30, 4, time.Now(), 10),
		Batches: b2seetest.BatchesConfig{OAuth2ClientID: "exporter", OAuth2ClientSecret: clientSecret},
	})
	srv := httptest.NewUnstartedServer(fake)
	// The case without the CA makes a handshake fail, as it should.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	defer fake.Close()

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	fixture.WriteFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	secretFile := filepath.Join(dir, "oauth2.secret")
	fixture.WriteFile(t, secretFile, clientSecret)
	keyFile := filepath.Join(dir, "api.key")
	fixture.WriteFile(t, keyFile, b2seetest.DemoAPIKey)

	e := newTestExporter(t, `accounts:
  - name: tls
    customer_id: "`+b2seetest.DefaultCustomerID+`"
    api_key_file: `+keyFile+`
    url: `+srv.URL+`/PublicAPI
    http_client_config:
      tls_config: {ca_file: `+caFile+`}
    batches:
      url: `+srv.URL+`/BatchAPI
      statuses:
        2: {name: completed, phase: succeeded}
      http_client_config:
        tls_config: {ca_file: `+caFile+`}
        oauth2:
          client_id: exporter
          client_secret_file: `+secretFile+`
          token_url: `+srv.URL+`/BatchAPI/v1/authtoken
          tls_config: {ca_file: `+caFile+`}
`)
	code, body := e.do(t, http.MethodGet, "/probe?account=tls")
	if code != 200 {
		t.Fatalf("probe: %d", code)
	}
	m := parseMetrics(t, body)
	if m.Value(`b2see_up{account="tls"}`) != 1 {
		t.Fatalf("not up over TLS:\n%s", e.logs)
	}
	if fake.Requests(b2seetest.Token) < 1 {
		t.Error("no OAuth2 token was asked for")
	}
	if ok := m.Value(`b2see_upstream_requests_total{account="tls",endpoint="batches",outcome="success"}`); ok != 30 {
		t.Errorf("successful lookups = %v, want 30 (one per batch)\nlogs:\n%s", ok, e.logs)
	}
	if n := m.Sum("b2see_batch_status"); n != 30 {
		t.Errorf("batches with a status = %v, want 30", n)
	}
	fixture.NoLeak(t, "metrics", body, []string{clientSecret, b2seetest.DemoAPIKey})
	fixture.NoLeak(t, "logs", e.logs.String(), []string{clientSecret, b2seetest.DemoAPIKey})

	// Without the CA the same account cannot connect, and says why.
	e2 := newTestExporter(t, strings.ReplaceAll(`accounts:
  - name: tls
    customer_id: "`+b2seetest.DefaultCustomerID+`"
    api_key_file: `+keyFile+`
    url: `+srv.URL+`/PublicAPI
`, "\t", ""))
	_, body = e2.do(t, http.MethodGet, "/probe?account=tls")
	if m := parseMetrics(t, body); m.Value(`b2see_up{account="tls"}`) != 0 || m.Value(`b2see_scrape_errors_total{account="tls",reason="network"}`) != 1 {
		t.Errorf("without the CA: up %v, network errors %v", m.Value(`b2see_up{account="tls"}`), m.Value(`b2see_scrape_errors_total{account="tls",reason="network"}`))
	}
}
