package b2see

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
)

// maxRedirects is how many redirects a request follows, as Go's own client
// does when left to itself.
const maxRedirects = 10

// guardRedirects returns a copy of hc that never sends a Referer and
// follows only redirects to the scheme, host and port of the first request.
// Go's client sets Referer to the previous URL, query string and so API key
// included, and the authentication of a client built by
// prometheus/common/config goes with every request, wherever it goes. The
// check runs before hc's own: a follow_redirects setting cannot turn it off.
func guardRedirects(hc *http.Client, r *Redactor) *http.Client {
	guarded := *hc
	next := hc.CheckRedirect
	guarded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		req.Header.Del("Referer")
		code := 0
		if req.Response != nil {
			code = req.Response.StatusCode
		}
		switch {
		case !sameOrigin(req.URL, via[0].URL):
			return &RedirectError{StatusCode: code, Target: origin(req.URL, r), Why: "another host, not followed"}
		case len(via) >= maxRedirects:
			return &RedirectError{StatusCode: code, Why: fmt.Sprintf("stopped after %d redirects", maxRedirects)}
		case next != nil:
			return next(req, via)
		}
		return nil
	}
	return &guarded
}

// sameOrigin reports whether a and b have the same scheme, host and port.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// origin is what an error may show of a URL: its scheme and host.
func origin(u *url.URL, r *Redactor) string {
	s := strings.ToValidUTF8(r.Redact(strings.ToLower(u.Scheme)+"://"+u.Host), "\uFFFD")
	if runes := []rune(s); len(runes) > 100 {
		s = string(runes[:100]) + "…"
	}
	return s
}

// redirectAnswer returns the error of a redirect handed back unfollowed,
// which happens when the client's follow_redirects is off, and nil when
// resp is not a redirect.
func redirectAnswer(resp *http.Response, r *Redactor) error {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return nil
	}
	loc, err := resp.Location()
	if err != nil {
		return &RedirectError{StatusCode: resp.StatusCode, Why: "its Location is missing or not a valid URL"}
	}
	return &RedirectError{StatusCode: resp.StatusCode, Target: origin(loc, r), Why: "not followed: following redirects is turned off (follow_redirects)"}
}

// traceConnection makes ctx record whether the request's connection (TCP,
// and TLS for https) is up, so that a timeout can say whether it happened
// while connecting or while waiting for the answer. Each request of a
// redirect chain starts over.
func traceConnection(ctx context.Context) (context.Context, *atomic.Bool) {
	connected := &atomic.Bool{}
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn: func(string) { connected.Store(false) },
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	}), connected
}

// requestOp names what a request was doing when it failed before the
// answer's headers arrived.
func requestOp(connected *atomic.Bool) string {
	if connected.Load() {
		return "waiting for the answer's headers"
	}
	return "connecting"
}

// classifyTransportError turns an error of an HTTP client into a
// TimeoutError, a RedirectError or a NetworkError. It drops the *url.Error
// wrapper, whose text holds the whole URL (the Location of a redirect, or,
// for the Batch Data API, the key), and redacts secrets from what is left.
func classifyTransportError(ctx context.Context, op, host string, err error, r *Redactor) error {
	var rd *RedirectError
	if errors.As(err, &rd) {
		return rd
	}
	var ne net.Error
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &TimeoutError{Op: op}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	// Go's client quotes an unreadable Location whole in its error.
	if strings.HasPrefix(err.Error(), "failed to parse Location header") {
		return &RedirectError{Why: "its Location is not a valid URL"}
	}
	return &NetworkError{Host: host, Err: redactedError{msg: r.Redact(err.Error()), err: err}}
}

// redactedError shows a redacted text but still unwraps to the original,
// so that errors.Is(err, syscall.ECONNREFUSED) keeps working.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }
