package b2see

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultURL is the documented base of B2see's public API.
const DefaultURL = "https://app.b2see.co.uk/PublicAPI"

// DefaultCakesPath is the documented path of the Batch Data API. The
// documentation shows it as /MyVideos/v1/cakes/:id and never explains :id;
// the customer ID is put there by default, and the path is configurable.
const DefaultCakesPath = "/MyVideos/v1/cakes/{customer_id}"

// DefaultMaxBodyBytes caps a cakes answer: about 13 times the 77 MB that
// 100,000 batches take.
const DefaultMaxBodyBytes = 1 << 30

// CustomerIDPlaceholder is replaced by the (path-escaped) customer ID in a
// cakes path.
const CustomerIDPlaceholder = "{customer_id}"

// Config describes one account of the Batch Data API.
type Config struct {
	URL           string // base URL; DefaultURL when empty
	CakesPath     string // path below URL; DefaultCakesPath when empty
	CustomerID    string
	APIKey        string
	DaysOfHistory int
	MaxBodyBytes  int64        // DefaultMaxBodyBytes when zero
	HTTPClient    *http.Client // http.DefaultClient when nil
	UserAgent     string
	// Secrets of the HTTP client (a proxy password, a bearer token), taken
	// out of upstream messages like the API key.
	Secrets []string
}

// Client reads the Batch Data API of one account. It is safe for concurrent
// use.
type Client struct {
	cfg      Config
	endpoint string // full URL without the query string
	host     string
	query    string // encoded query string, with the key
	redactor *Redactor
}

// NewClient checks cfg and returns a client. Its errors never contain the
// API key.
func NewClient(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.CakesPath == "" {
		cfg.CakesPath = DefaultCakesPath
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.CustomerID == "" {
		return nil, errors.New("no customer ID")
	}
	if !ValidAPIKey(cfg.APIKey) {
		return nil, errors.New("the API key is not " + APIKeyShape)
	}
	if cfg.DaysOfHistory < 1 {
		return nil, fmt.Errorf("days of history must be 1 or more, not %d", cfg.DaysOfHistory)
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, errors.New("the body size limit must not be negative")
	}
	base, err := parseBaseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(cfg.CakesPath, "/") {
		return nil, fmt.Errorf("the cakes path %q must start with /", cfg.CakesPath)
	}
	path := strings.ReplaceAll(cfg.CakesPath, CustomerIDPlaceholder, url.PathEscape(cfg.CustomerID))
	endpoint, err := url.Parse(strings.TrimSuffix(base.String(), "/") + path)
	if err != nil || endpoint.RawQuery != "" || endpoint.Fragment != "" {
		return nil, fmt.Errorf("the cakes path %q does not make a valid URL", cfg.CakesPath)
	}
	q := url.Values{}
	q.Set("customerId", cfg.CustomerID)
	q.Set("apiKey", cfg.APIKey)
	q.Set("daysOfHistory", strconv.Itoa(cfg.DaysOfHistory))
	r := NewRedactor(append([]string{cfg.APIKey}, cfg.Secrets...)...)
	cfg.HTTPClient = guardRedirects(cfg.HTTPClient, r)
	return &Client{cfg: cfg, endpoint: endpoint.String(), host: base.Host, query: q.Encode(), redactor: r}, nil
}

// parseBaseURL checks that raw is an absolute http or https URL with a host
// and no query, and returns it parsed.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("the URL %q is not valid", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("the URL %q must start with http:// or https://", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("the URL %q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("the URL %q must not have a query, fragment or credentials", u.Redacted())
	}
	return u, nil
}

// Endpoint is the URL the client reads, without its query string: safe to
// show.
func (c *Client) Endpoint() string { return c.endpoint }

// Cakes reads the account's batch records and calls fn with each, in the
// order of the answer. The *Record passed to fn is reused: fn must copy what
// it keeps. Records are decoded one at a time, so the decoder's memory does
// not grow with the size of the answer; what fn keeps is fn's.
//
// If fn returns an error, Cakes stops and returns it. Otherwise the error,
// if any, is one of the types of this package (check with errors.As or
// classify with Reason); a partial read always returns an error, so a
// caller that stages what fn saw can discard it.
func (c *Client) Cakes(ctx context.Context, fn func(*Record) error) error {
	traced, connected := traceConnection(ctx)
	req, err := http.NewRequestWithContext(traced, http.MethodGet, c.endpoint+"?"+c.query, nil)
	if err != nil {
		return fmt.Errorf("building the request: %s", c.redactor.Redact(err.Error()))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Encoding", "gzip")
	if c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return c.transportError(ctx, requestOp(connected), err)
	}
	defer func() {
		// Drain a little so the connection can be reused, but never read a
		// large unread body just for that.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()

	body, err := c.decompressed(resp)
	if resp.StatusCode != http.StatusOK {
		// The status says what went wrong, whatever the body's encoding.
		if err != nil {
			body = strings.NewReader("")
		}
		return c.statusError(resp, body)
	}
	if err != nil {
		return c.bodyError(ctx, err)
	}

	dec := NewDecoder(body)
	var b Record
	for {
		err := dec.Next(&b)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return c.bodyError(ctx, err)
		}
		if err := fn(&b); err != nil {
			return err
		}
	}
}

// decompressed is the body of resp as sent, gzip undone, and capped at the
// configured size: the cap applies to what expands, not to the wire.
func (c *Client) decompressed(resp *http.Response) (io.Reader, error) {
	body := io.Reader(resp.Body)
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, err
		}
		body = zr
	}
	return &limitReader{r: body, limit: c.cfg.MaxBodyBytes}, nil
}

// statusError turns a non-200 answer into the matching error type, with the
// upstream's message when its body carries one.
func (c *Client) statusError(resp *http.Response, body io.Reader) error {
	if err := redirectAnswer(resp, c.redactor); err != nil {
		return err
	}
	msg := c.errorMessage(body)
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound:
		return &MisconfigurationError{StatusCode: code, Message: msg}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &UnauthorizedError{StatusCode: code, Message: msg}
	case code == http.StatusTooManyRequests:
		return &RateLimitError{RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	default:
		return &StatusError{StatusCode: code, Message: msg}
	}
}

// errorMessage extracts the message of an error body: the Message (or
// message, ExceptionMessage, ErrorDescription) of a JSON object, or a JSON
// string. Anything else, an HTML page for instance, gives "".
func (c *Client) errorMessage(body io.Reader) string {
	raw, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	raw = bytes.TrimPrefix(bytes.TrimSpace(raw), []byte("\xef\xbb\xbf"))
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return sanitizeMessage(s, c.redactor)
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) != nil {
		return ""
	}
	for _, key := range []string{"message", "exceptionmessage", "errordescription", "error_description", "error"} {
		for k, v := range obj {
			if s, ok := v.(string); ok && strings.EqualFold(k, key) && s != "" {
				return sanitizeMessage(s, c.redactor)
			}
		}
	}
	return ""
}

// bodyError classifies an error met while reading the body.
func (c *Client) bodyError(ctx context.Context, err error) error {
	var (
		body *BodyError
		big  *TooLargeError
	)
	switch {
	case errors.As(err, &big):
		return big
	case ctx.Err() != nil:
		return &TimeoutError{Op: "reading the body"}
	case errors.As(err, &body):
		return body
	case isCorruptGzip(err):
		return &BodyError{Reason: "the body is not valid gzip"}
	}
	return c.transportError(ctx, "reading the body", err)
}

// isCorruptGzip reports whether err is gzip or deflate refusing the bytes
// it was given, as opposed to the connection failing under it.
func isCorruptGzip(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.As(err, &corrupt) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum)
}

// transportError classifies an error of the HTTP client; see
// classifyTransportError.
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	return classifyTransportError(ctx, op, c.host, err, c.redactor)
}

// ParseRetryAfter reads a Retry-After header: a number of seconds or an
// HTTP date. It returns zero when the header is absent or unreadable, and
// never a negative duration.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	// A wait longer than a week is an upstream mistake, not a plan: keep
	// polling weekly rather than stop for years.
	const longest = 7 * 24 * time.Hour
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return min(time.Duration(min(secs, int64(longest/time.Second)))*time.Second, longest)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), longest)
	}
	return 0
}

// limitReader reads at most limit bytes and then fails with a
// TooLargeError, unlike io.LimitReader, whose silent EOF would look like a
// truncated body.
type limitReader struct {
	r           io.Reader
	limit, read int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.read > l.limit {
		return 0, &TooLargeError{Limit: l.limit}
	}
	if max := l.limit - l.read + 1; int64(len(p)) > max {
		p = p[:max]
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	if l.read > l.limit {
		return n - int(l.read-l.limit), &TooLargeError{Limit: l.limit}
	}
	return n, err
}
