package b2seetest

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DemoAPIKey is the API key a Fake accepts unless Config.APIKey says
// otherwise. It is GUID-shaped like real keys and obviously not one.
const DemoAPIKey = "deadbeef-b2c0-4e5a-9d7f-0123456789ab"

// DefaultCustomerID is the customer ID a Fake accepts unless
// Config.CustomerID says otherwise.
const DefaultCustomerID = "4242"

// Paths the fake serves, mirroring the documented base URLs.
const (
	cakesPrefix   = "/PublicAPI/MyVideos/v1/cakes/"
	batchesPrefix = "/BatchAPI/v1/batches/"
	tokenPath     = "/BatchAPI/v1/authtoken"
)

// defaultDaysOfHistory is what the fake assumes when the query has no
// daysOfHistory; the documentation does not say (a guess).
const defaultDaysOfHistory = 30

// Config configures a Fake. The zero value is a working fake.
type Config struct {
	// CustomerID is the only customerId the cakes endpoint knows; default
	// DefaultCustomerID.
	CustomerID string
	// APIKey is the only key the cakes endpoint accepts; default DemoAPIKey.
	APIKey string
	// Records are served by the cakes endpoint. Nil means
	// Generate(500, 1, Now(), 90); an empty slice means no records.
	Records []Record
	// Now is the fake's clock, for daysOfHistory and token expiry; default
	// time.Now.
	Now func() time.Time
	// Gzip compresses the cakes body when the request accepts gzip.
	Gzip bool
	// Batches configures the batches API.
	Batches BatchesConfig
}

// Endpoint names one of the fake's endpoints, for faults and counting.
type Endpoint int

// The endpoints of the fake.
const (
	Cakes   Endpoint = iota // GET /PublicAPI/MyVideos/v1/cakes/{anything}
	Batches                 // GET /BatchAPI/v1/batches/{batchid}
	Token                   // POST /BatchAPI/v1/authtoken
	numEndpoints
)

// Fake is an http.Handler serving both upstream APIs. It is safe for
// concurrent use.
type Fake struct {
	cfg      Config
	requests [numEndpoints]atomic.Int64
	done     chan struct{} // closed when the server closes: ends hangs and drips
	doneOnce sync.Once

	mu       sync.Mutex
	records  []Record
	created  []time.Time     // DateCreated of records, ascending
	byID     map[int64]int   // BatchId to index in records
	rendered map[int]*render // cakes bodies by number of records included
	faults   [numEndpoints]Fault
	tokens   map[string]time.Time // issued bearer tokens and their expiry
	statuses map[string]Status    // set by SetBatchStatus
	bombs    map[int64][]byte     // gzip bombs by decompressed size
}

// render is one cached cakes body, plain and (lazily) gzipped.
type render struct {
	plain []byte
	gz    []byte
}

// New returns a Fake configured by cfg.
func New(cfg Config) *Fake {
	if cfg.CustomerID == "" {
		cfg.CustomerID = DefaultCustomerID
	}
	if cfg.APIKey == "" {
		cfg.APIKey = DemoAPIKey
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Fake{cfg: cfg, done: make(chan struct{}), tokens: map[string]time.Time{}}
	rs := cfg.Records
	if rs == nil {
		rs = Generate(500, 1, cfg.Now(), 90)
	}
	f.SetRecords(rs)
	return f
}

// SetRecords replaces the records served.
func (f *Fake) SetRecords(rs []Record) {
	f.UpdateRecords(func([]Record) []Record { return rs })
}

// UpdateRecords replaces the records by fn's result, computed under the
// fake's lock, so that a test can change data between scrapes without
// racing the handler. fn may modify and return its argument.
func (f *Fake) UpdateRecords(fn func([]Record) []Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rs := append([]Record(nil), fn(f.records)...)
	f.records = rs
	f.created = make([]time.Time, len(rs))
	f.byID = make(map[int64]int, len(rs))
	for i := range rs {
		f.created[i] = rs[i].DateCreated
		f.byID[rs[i].BatchId] = i
	}
	sort.Slice(f.created, func(i, j int) bool { return f.created[i].Before(f.created[j]) })
	f.rendered = map[int]*render{}
}

// Records returns a copy of the records served.
func (f *Fake) Records() []Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Record(nil), f.records...)
}

// SetFault makes every following request to e misbehave as ft says; the
// zero Fault restores normal service.
func (f *Fake) SetFault(e Endpoint, ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[e] = ft
}

// Requests returns how many requests e has received, counting those a fault
// spoiled.
func (f *Fake) Requests(e Endpoint) int {
	return int(f.requests[e].Load())
}

// ServeHTTP serves both APIs.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var e Endpoint
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, cakesPrefix):
		e = Cakes
	case strings.HasPrefix(p, batchesPrefix) && len(p) > len(batchesPrefix):
		e = Batches
	case p == tokenPath:
		e = Token
	default:
		http.NotFound(w, r)
		return
	}
	f.requests[e].Add(1)
	f.mu.Lock()
	ft := f.faults[e]
	f.mu.Unlock()

	f.wait(w, r, ft)
	var resp *response
	if ft.Status != 0 || ft.RetryAfter > 0 {
		resp = ft.statusResponse()
	} else {
		switch e {
		case Cakes:
			resp = f.cakes(r)
		case Batches:
			resp = f.batch(r)
		case Token:
			resp = f.token(r)
		}
		if resp.status == http.StatusOK {
			resp = f.corrupt(resp, ft, r)
		}
	}
	f.deliver(w, r, resp, ft)
}

// Close ends every hang, delay and drip in progress or to come, so that a
// server's own Close, which waits for its handlers, can return. A Server's
// Close calls it; call it before closing any other server f is mounted on.
func (f *Fake) Close() {
	f.doneOnce.Do(func() { close(f.done) })
}

// cakes answers the Batch Data API.
func (f *Fake) cakes(r *http.Request) *response {
	if r.Method != http.MethodGet {
		resp := jsonResponse(http.StatusMethodNotAllowed,
			`{"Message":"The requested resource does not support http method '`+r.Method+`'."}`)
		resp.header.Set("Allow", "GET")
		return resp
	}
	q := r.URL.Query()
	// The order of the checks is a guess: a malformed key fails before the
	// customer is looked up, as parameter validation usually comes first.
	if !isGUID(q.Get("apiKey")) {
		return jsonResponse(http.StatusNotFound,
			`{"Success": false, "Message": "API key not in correct format (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"}`)
	}
	if q.Get("customerId") != f.cfg.CustomerID {
		return jsonResponse(http.StatusNotFound, `{"Success": false, "Message": "CustomerID does not exist"}`)
	}
	if !strings.EqualFold(q.Get("apiKey"), f.cfg.APIKey) {
		// The documentation does not say what a well-formed wrong key gets.
		// This is the guess: ASP.NET Web API's stock answer of its
		// [Authorize] filter.
		return jsonResponse(http.StatusUnauthorized, `{"Message":"Authorization has been denied for this request."}`)
	}
	days := defaultDaysOfHistory
	if s := q.Get("daysOfHistory"); s != "" {
		d, err := strconv.Atoi(s)
		if err != nil || d < 0 {
			// ASP.NET's model binding answer to an unparsable integer (a guess).
			return jsonResponse(http.StatusBadRequest, `{"Message":"The request is invalid."}`)
		}
		days = d
	}
	body, gz := f.cakesBody(days, acceptsGzip(r))
	resp := &response{status: http.StatusOK, header: http.Header{}, body: body}
	resp.header.Set("Content-Type", "application/json; charset=utf-8")
	if gz {
		resp.header.Set("Content-Encoding", "gzip")
	}
	if f.cfg.Gzip {
		resp.header.Set("Vary", "Accept-Encoding")
	}
	return resp
}

// cakesBody returns the cached body of the records created within days
// before now, rendering it first if needed. The records included depend only
// on how many of the newest pass the cut-off, so that count is the cache key:
// a moving clock does not spoil the cache until a record drops out.
func (f *Fake) cakesBody(days int, wantGzip bool) (body []byte, gzipped bool) {
	now := f.cfg.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	first := 0
	if days <= 1e6 { // larger reaches back past year 0: everything
		cutoff := now.Add(-time.Duration(days) * 24 * time.Hour)
		first = sort.Search(len(f.created), func(i int) bool { return !f.created[i].Before(cutoff) })
	}
	n := len(f.created) - first
	c := f.rendered[n]
	if c == nil {
		if len(f.rendered) >= 8 {
			clear(f.rendered) // a handful of filters in use at once is plenty
		}
		var oldest time.Time
		if n > 0 {
			oldest = f.created[first]
		}
		c = &render{plain: renderRecords(f.records, n, oldest)}
		f.rendered[n] = c
	}
	if !wantGzip || !f.cfg.Gzip {
		return c.plain, false
	}
	if c.gz == nil {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		_, _ = zw.Write(c.plain)
		_ = zw.Close()
		c.gz = b.Bytes()
	}
	return c.gz, true
}

// renderRecords renders, in their order, the n records created at or after
// oldest, appending into one buffer sized up front so that the rendered body
// is the only large allocation.
func renderRecords(rs []Record, n int, oldest time.Time) []byte {
	if n == 0 {
		return []byte("[]")
	}
	b := make([]byte, 0, n*820+2) // a full record takes about 750 bytes
	b = append(b, '[')
	for i := range rs {
		if rs[i].DateCreated.Before(oldest) {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendRecord(b, &rs[i])
	}
	return append(b, ']')
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") &&
			strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// isGUID reports whether s has the shape xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// response is what a handler wants to send, before faults spoil the
// delivery. Exactly one of body and stream is used.
type response struct {
	status int
	header http.Header
	body   []byte
	stream func(w func([]byte) error) error // bodies too large to hold
}

func jsonResponse(status int, body string) *response {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	return &response{status: status, header: h, body: []byte(body)}
}
