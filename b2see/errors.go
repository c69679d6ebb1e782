package b2see

import (
	"errors"
	"fmt"
	"time"
)

// MisconfigurationError is the documented 404 of the Batch Data API: the
// customer ID does not exist or the API key is not in the right format. It
// means the account is set up wrongly, not that there is no data.
type MisconfigurationError struct {
	StatusCode int
	Message    string // the upstream's Message, sanitised
}

func (e *MisconfigurationError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("upstream answered %d: check the customer ID, API key and URL", e.StatusCode)
	}
	return fmt.Sprintf("upstream answered %d: %s", e.StatusCode, e.Message)
}

// UnauthorizedError is a 401 or 403: the API key (or token) was refused.
type UnauthorizedError struct {
	StatusCode int
	Message    string
}

func (e *UnauthorizedError) Error() string {
	msg := fmt.Sprintf("upstream refused the credentials (%d)", e.StatusCode)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// RateLimitError is a 429. RetryAfter is what the Retry-After header asked
// for, or zero when it named no time.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("upstream is rate limiting (429), retry after %s", e.RetryAfter)
	}
	return "upstream is rate limiting (429)"
}

// StatusError is any other unexpected HTTP status, typically a 5xx from the
// upstream or a proxy in front of it.
type StatusError struct {
	StatusCode int
	Message    string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("upstream answered HTTP %d", e.StatusCode)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// TimeoutError means the request's deadline passed before the whole answer
// was read.
type TimeoutError struct {
	Op string // what was under way: "connecting", "waiting for the answer's headers", "reading the body", ...
}

func (e *TimeoutError) Error() string { return "upstream timed out while " + e.Op }

// TooLargeError means the (decompressed) body passed the configured cap,
// or, when Records is set, that the answer listed more distinct batches
// than the exporter keeps.
type TooLargeError struct {
	Limit   int64 // bytes
	Records int   // batches; 0 when the cap passed is Limit
}

func (e *TooLargeError) Error() string {
	if e.Records > 0 {
		return fmt.Sprintf("upstream answer lists more than %d distinct batches, the most the exporter keeps for an account", e.Records)
	}
	return fmt.Sprintf("upstream body is larger than the limit of %d bytes", e.Limit)
}

// RedirectError is a redirect the client did not follow: to another host
// (scheme, host or port differ), where the credentials and the exporter's
// promise to talk to no other host would go; one redirect too many; or any
// redirect, when following them is turned off. Target is the scheme and
// host of the Location, never its path or query, which could hold a key.
type RedirectError struct {
	StatusCode int    // of the redirect; 0 when unknown
	Target     string // scheme://host[:port]; "" when the Location is unusable
	Why        string
}

func (e *RedirectError) Error() string {
	msg := "upstream redirected"
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(" (%d)", e.StatusCode)
	}
	if e.Target != "" {
		msg += " to " + e.Target
	}
	return msg + ": " + e.Why
}

// NetworkError is a failure to reach the upstream or to keep the connection:
// refused, reset, DNS, TLS. Its text never holds the request URL.
type NetworkError struct {
	Host string
	Err  error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("request to %s failed: %v", e.Host, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// Reasons a request can fail, as returned by Reason. They are stable: metric
// labels and alerts use them.
const (
	ReasonMisconfigured = "misconfigured"
	ReasonUnauthorized  = "unauthorized"
	ReasonRateLimited   = "rate_limited"
	ReasonUpstreamError = "upstream_error"
	ReasonTimeout       = "timeout"
	ReasonBadBody       = "bad_body"
	ReasonTooLarge      = "too_large"
	ReasonNetwork       = "network"
	ReasonNotFound      = "not_found"
	ReasonRedirect      = "redirect"
)

// Reason classifies err into one of the Reason constants; "" for nil.
func Reason(err error) string {
	var (
		mis  *MisconfigurationError
		un   *UnauthorizedError
		rl   *RateLimitError
		st   *StatusError
		to   *TimeoutError
		body *BodyError
		big  *TooLargeError
		nf   *NotFoundError
		rd   *RedirectError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &big): // before body errors: a cap hit mid-record is not a bad body
		return ReasonTooLarge
	case errors.As(err, &to):
		return ReasonTimeout
	case errors.As(err, &mis):
		return ReasonMisconfigured
	case errors.As(err, &un):
		return ReasonUnauthorized
	case errors.As(err, &rl):
		return ReasonRateLimited
	case errors.As(err, &nf):
		return ReasonNotFound
	case errors.As(err, &st):
		return ReasonUpstreamError
	case errors.As(err, &body):
		return ReasonBadBody
	case errors.As(err, &rd):
		return ReasonRedirect
	default:
		return ReasonNetwork
	}
}

// NotFoundError is the batches API's 404 (or an envelope with Success false
// and code 404) for one batch: the batch is unknown upstream.
type NotFoundError struct {
	ID          string
	Description string
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("batch %q not found", e.ID)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}
