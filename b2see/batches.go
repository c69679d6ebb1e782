package b2see

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// DefaultBatchesMaxBodyBytes caps an answer of the batches API: one batch
// takes about a kilobyte.
const DefaultBatchesMaxBodyBytes = 1 << 20

// DefaultLookupConcurrency is how many batch status lookups of one account
// are under way at once unless configured otherwise: enough to keep up with
// a few thousand batches, few enough to spare the batches API.
const DefaultLookupConcurrency = 4

// BatchesConfig describes the batches API of one account. Its host is not
// part of B2see's documentation, so it has no default.
type BatchesConfig struct {
	// URL is the base the path v1/batches/{batchid} is put below.
	URL string
	// HTTPClient carries authentication, TLS and proxy settings, built by
	// the caller with config.NewClientFromConfig; http.DefaultClient when
	// nil.
	HTTPClient   *http.Client
	MaxBodyBytes int64 // DefaultBatchesMaxBodyBytes when zero
	UserAgent    string
	// Secrets are taken out of upstream messages before they reach an
	// error: the bearer token, the OAuth2 client secret, the password.
	Secrets []string
}

// BatchStatus is what the exporter keeps of a batch of the batches API.
// The batch's name, description and parameters may hold personal data:
// they are never decoded.
type BatchStatus struct {
	ID             string
	Status         int // undocumented code; its meaning is configuration
	TimeoutMinutes int
}

// BatchesClient reads the batches API. It is safe for concurrent use.
type BatchesClient struct {
	cfg      BatchesConfig
	base     string // without a trailing slash
	host     string
	redactor *Redactor

	// The first request goes alone. prometheus/common's OAuth2 transport
	// sets up its token source on first use without guarding concurrent
	// first uses (a data race); once one request has gone through, the
	// others can run side by side.
	firstMu sync.Mutex
	warm    atomic.Bool
}

// NewBatchesClient checks cfg and returns a client.
func NewBatchesClient(cfg BatchesConfig) (*BatchesClient, error) {
	if cfg.URL == "" {
		return nil, errors.New("no batches API URL")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultBatchesMaxBodyBytes
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, errors.New("the body size limit must not be negative")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	base, err := parseBaseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	cfg.Secrets = append([]string(nil), cfg.Secrets...)
	r := NewRedactor(cfg.Secrets...)
	cfg.HTTPClient = guardRedirects(cfg.HTTPClient, r)
	return &BatchesClient{cfg: cfg, base: strings.TrimSuffix(base.String(), "/"), host: base.Host, redactor: r}, nil
}

// Endpoint is the URL of the batch id.
func (c *BatchesClient) Endpoint(id string) string {
	return c.base + "/v1/batches/" + url.PathEscape(id)
}

// Status reads the status of the batch id, the decimal BatchId of a cakes
// record. Its errors are of this package's types: a batch the API does not
// know is a *NotFoundError.
func (c *BatchesClient) Status(ctx context.Context, id string) (BatchStatus, error) {
	if id == "" {
		return BatchStatus{}, errors.New("no batch ID")
	}
	traced, connected := traceConnection(ctx)
	req, err := http.NewRequestWithContext(traced, http.MethodGet, c.Endpoint(id), nil)
	if err != nil {
		return BatchStatus{}, fmt.Errorf("building the request: %s", c.redactor.Redact(err.Error()))
	}
	req.Header.Set("Accept", "application/json, application/xml;q=0.9")
	if c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	if !c.warm.Load() {
		c.firstMu.Lock()
		if c.warm.Load() {
			c.firstMu.Unlock()
		} else {
			defer func() {
				c.warm.Store(true)
				c.firstMu.Unlock()
			}()
		}
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return BatchStatus{}, c.transportError(ctx, requestOp(connected), err)
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()
	body, err := io.ReadAll(&limitReader{r: resp.Body, limit: c.cfg.MaxBodyBytes})
	if err != nil {
		var big *TooLargeError
		if errors.As(err, &big) {
			return BatchStatus{}, big
		}
		if ctx.Err() != nil {
			return BatchStatus{}, &TimeoutError{Op: "reading the body"}
		}
		return BatchStatus{}, c.transportError(ctx, "reading the body", err)
	}
	if err := redirectAnswer(resp, c.redactor); err != nil {
		return BatchStatus{}, err
	}
	env, decErr := decodeEnvelope(resp.Header.Get("Content-Type"), body)

	if resp.StatusCode != http.StatusOK {
		msg := ""
		if env != nil {
			msg = env.message()
		}
		return BatchStatus{}, c.failure(id, resp.StatusCode, resp.Header.Get("Retry-After"), msg)
	}
	if decErr != nil {
		return BatchStatus{}, decErr
	}
	if !*env.Success {
		code := resp.StatusCode
		for _, c := range []int{env.Code, env.ErrorCode} {
			if c >= 400 && c <= 599 {
				code = c
				break
			}
		}
		return BatchStatus{}, c.failure(id, code, "", env.message())
	}
	if env.Data == nil || env.Data.Status == nil {
		return BatchStatus{}, &BodyError{Reason: "the answer has no Data.Status"}
	}
	st := BatchStatus{ID: env.Data.ID, Status: *env.Data.Status, TimeoutMinutes: env.Data.TimeoutMinutes}
	if st.ID == "" {
		st.ID = id
	}
	return st, nil
}

// failure turns a refusal, by HTTP status or by an envelope with Success
// false, into the matching error type.
func (c *BatchesClient) failure(id string, code int, retryAfter, msg string) error {
	msg = sanitizeMessage(msg, c.redactor)
	switch {
	case code == http.StatusNotFound:
		return &NotFoundError{ID: id, Description: msg}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &UnauthorizedError{StatusCode: code, Message: msg}
	case code == http.StatusTooManyRequests:
		return &RateLimitError{RetryAfter: ParseRetryAfter(retryAfter, time.Now())}
	default:
		return &StatusError{StatusCode: code, Message: msg}
	}
}

// oauthErrorCode is the shape of RFC 6749's error codes. Anything else a
// token endpoint says is left out of errors: it may echo the credentials.
var oauthErrorCode = regexp.MustCompile(`^[a-z_]{1,40}$`)

// transportError turns an error of the HTTP client into one of this
// package's types. A refused OAuth2 token request, made inside the
// client's transport, is an UnauthorizedError.
func (c *BatchesClient) transportError(ctx context.Context, op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := 0
		if re.Response != nil {
			code = re.Response.StatusCode
		}
		msg := "the OAuth2 token request was refused"
		if oauthErrorCode.MatchString(re.ErrorCode) {
			msg += ": " + re.ErrorCode
		}
		switch code {
		case http.StatusTooManyRequests:
			return &RateLimitError{}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			return &UnauthorizedError{StatusCode: code, Message: msg}
		}
		return &StatusError{StatusCode: code, Message: msg}
	}
	return classifyTransportError(ctx, op, c.host, err, c.redactor)
}

// envelope is the batches API's PBPRReturnOfBatch, reduced to what the
// exporter uses. Meta, StatusUrl and ContinuationToken are not decoded, so
// whatever they hold ("" for Meta, null for StatusUrl) cannot fail a
// decode; nor are the batch's Name, Description and Parameters, which may
// hold personal data.
type envelope struct {
	Success          *bool `xml:"Success"`
	Code             int   `xml:"Code"`
	ErrorCode        int   `xml:"ErrorCode"`
	ErrorSubCode     int   `xml:"ErrorSubCode"`
	ErrorDescription string
	// Message is what ASP.NET itself answers with, outside the envelope:
	// {"Message": "Authorization has been denied for this request."}.
	Message string
	Data    *envelopeData
}

type envelopeData struct {
	Nil            string `json:"-" xml:"http://www.w3.org/2001/XMLSchema-instance nil,attr"`
	ID             string
	Status         *int
	TimeoutMinutes int
}

func (e *envelope) message() string {
	if e.ErrorDescription != "" {
		return e.ErrorDescription
	}
	return e.Message
}

// bodyFormat picks the decoder of an answer. The Content-Type is trusted
// only when the body's first byte agrees with it: proxies and error pages
// mislabel bodies.
func bodyFormat(contentType string, body []byte) string {
	declared := ""
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		switch {
		case mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json"):
			declared = "json"
		case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
			declared = "xml"
		}
	}
	sniffed := ""
	if trimmed := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n"); len(trimmed) > 0 {
		switch trimmed[0] {
		case '{':
			sniffed = "json"
		case '<':
			sniffed = "xml"
		}
	}
	if sniffed != "" {
		return sniffed
	}
	return declared
}

// decodeEnvelope decodes an answer as JSON or XML. An answer without a
// Success member is not an envelope (an HTML page, ASP.NET's own
// {"Message": ...}): it is returned, for its message, with an error.
func decodeEnvelope(contentType string, body []byte) (*envelope, error) {
	var env envelope
	switch bodyFormat(contentType, body) {
	case "json":
		body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, &BodyError{Reason: "invalid JSON envelope: " + jsonErrorReason(err)}
		}
	case "xml":
		d := xml.NewDecoder(bytes.NewReader(body))
		d.Strict = true
		if err := d.Decode(&env); err != nil {
			return nil, &BodyError{Reason: "invalid XML envelope: " + xmlErrorReason(err)}
		}
		if env.Data != nil && env.Data.Nil == "true" {
			env.Data = nil
		}
	default:
		return nil, &BodyError{Reason: "the answer is neither JSON nor XML"}
	}
	if env.Success == nil {
		return &env, &BodyError{Reason: "the answer has no Success member"}
	}
	return &env, nil
}

// jsonErrorReason describes a JSON error without quoting the body: a type
// error's text names only the field and types, a syntax error its offset.
func jsonErrorReason(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("%s is a JSON %s", te.Field, te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	return "cannot decode"
}

// xmlErrorReason does the same for XML, whose errors may quote the body.
func xmlErrorReason(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error on line %d", se.Line)
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	return "cannot decode a member"
}
