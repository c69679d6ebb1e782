package b2seetest

import "net/http/httptest"

// Server is a Fake listening on a loopback address, for tests and for the
// exporter's demo mode.
type Server struct {
	*Fake
	// URL is the base of the cakes API, like the documented
	// https://app.b2see.co.uk/PublicAPI.
	URL string
	// BatchesURL is the base of the batches API, under which v1/batches/{id}
	// and v1/authtoken live.
	BatchesURL string
	// TokenURL is the OAuth2 token endpoint.
	TokenURL string

	srv *httptest.Server
}

// NewServer starts a Fake configured by cfg on a loopback address. Call
// Close when done.
func NewServer(cfg Config) *Server {
	f := New(cfg)
	srv := httptest.NewServer(f)
	return &Server{
		Fake:       f,
		URL:        srv.URL + "/PublicAPI",
		BatchesURL: srv.URL + "/BatchAPI",
		TokenURL:   srv.URL + tokenPath,
		srv:        srv,
	}
}

// Close ends the requests that faults hold up and shuts the server down.
func (s *Server) Close() {
	s.Fake.Close()
	s.srv.CloseClientConnections()
	s.srv.Close()
}
