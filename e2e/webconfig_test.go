package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
	"golang.org/x/crypto/bcrypt"
)

// selfSignedCert writes a certificate for 127.0.0.1 and its key into dir.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "b2see_exporter test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	fixture.WriteFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	fixture.WriteFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	const password = "correct horse battery staple"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	fixture.WriteFile(t, webConfig, "tls_server_config:\n  cert_file: "+certFile+"\n  key_file: "+keyFile+
		"\nbasic_auth_users:\n  prometheus: "+string(hash)+"\n")

	addr := freeAddr(t)
	p := startProcess(t, "exporter", nil, exporterBinary, "--demo", "--web.listen-address="+addr,
		"--web.config.file="+webConfig, "--storage.path="+t.TempDir())
	logs := p.logs

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	get := func(scheme, user, pass string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, scheme+"://"+addr+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	p.waitReady(t, client, "https://"+addr+"/", 20*time.Second, func(*http.Response) bool { return true })

	tests := []struct {
		name, scheme, user, pass string
		want                     int // 0: the request must fail
	}{
		{"right credentials", "https", "prometheus", password, 200},
		{"no credentials", "https", "", "", 401},
		{"wrong password", "https", "prometheus", "wrong", 401},
		{"unknown user", "https", "grafana", password, 401},
		{"plain HTTP", "http", "prometheus", password, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, err := get(tt.scheme, tt.user, tt.pass)
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			if code != tt.want {
				t.Fatalf("status %d, want %d", code, tt.want)
			}
			if code == 200 && !strings.Contains(body, "b2see_up") {
				t.Error("no metrics behind the right credentials")
			}
			if code != 200 && strings.Contains(body, "b2see_") {
				t.Error("metrics served without the right credentials")
			}
		})
	}
	// An unknown CA is refused by the client: the certificate is really used.
	bare := &http.Client{Timeout: 5 * time.Second}
	if _, err := bare.Get("https://" + addr + "/metrics"); err == nil {
		t.Error("a client without the test CA accepted the certificate")
	}
	fixture.NoLeak(t, "logs", logs.String(), []string{password, string(hash)})
}

// TestBasicAuthProtectsEveryPath: with basic auth in --web.config.file,
// no path answers, reads the upstream or reloads without the credentials.
func TestBasicAuthProtectsEveryPath(t *testing.T) {
	dir := t.TempDir()
	const password = "correct horse battery staple"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	fixture.WriteFile(t, webConfig, "basic_auth_users:\n  prometheus: "+string(hash)+"\n")
	addr := freeAddr(t)
	p := startProcess(t, "exporter", nil, exporterBinary, "--demo", "--web.listen-address="+addr,
		"--web.config.file="+webConfig, "--storage.path="+t.TempDir())
	client := &http.Client{Timeout: 10 * time.Second}
	p.waitReady(t, client, "http://"+addr+"/", 20*time.Second, func(*http.Response) bool { return true })

	tests := []struct {
		method, path string
		authorised   int // the status with the right credentials
	}{
		{http.MethodGet, "/", 200},
		{http.MethodGet, "/metrics", 200},
		{http.MethodGet, "/probe?account=demo", 200},
		{http.MethodGet, "/probe?account=nobody", 400},
		{http.MethodGet, "/probe", 400},
		{http.MethodGet, "/no/such/page", 404},
		{http.MethodPost, "/-/reload", 200},
		{http.MethodGet, "/-/reload", 405},
		{http.MethodPut, "/metrics", 405},
	}
	do := func(method, path, user, pass string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range tests {
		for _, cred := range []struct{ user, pass string }{{"", ""}, {"prometheus", "wrong"}, {"grafana", password}} {
			code, body := do(tt.method, tt.path, cred.user, cred.pass)
			if code != http.StatusUnauthorized || strings.Contains(body, "b2see") || strings.Contains(body, "reloaded") {
				t.Errorf("%s %s as %q: %d %.60q, want 401 and nothing else", tt.method, tt.path, cred.user, code, body)
			}
		}
	}
	if strings.Contains(p.logs.String(), "configuration reloaded") {
		t.Fatal("a request without the credentials reloaded the configuration")
	}
	for _, tt := range tests {
		if code, _ := do(tt.method, tt.path, "prometheus", password); code != tt.authorised {
			t.Errorf("%s %s with the credentials: %d, want %d", tt.method, tt.path, code, tt.authorised)
		}
	}
	if got := strings.Count(p.logs.String(), "configuration reloaded"); got != 1 {
		t.Errorf("%d reloads logged, want the 1 with the credentials", got)
	}
}
