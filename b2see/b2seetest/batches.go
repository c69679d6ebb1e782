package b2seetest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BatchesConfig configures the fake's batches API.
type BatchesConfig struct {
	// Statuses are the batches the API knows, by batch ID, beyond the
	// batches of the records. They take precedence over DefaultStatus.
	Statuses map[string]Status
	// DefaultStatus gives the status of a record's batch; default
	// DefaultBatchStatus.
	DefaultStatus func(id int64) Status
	// OAuth2ClientID and OAuth2ClientSecret, when the ID is set, turn on
	// the token endpoint and make the batches endpoint require a bearer
	// token it issued.
	OAuth2ClientID     string
	OAuth2ClientSecret string
}

// SetBatchStatus makes the batches API report st for batch id from now on,
// over Config.Batches and DefaultStatus: a batch that fails while a test
// watches.
func (f *Fake) SetBatchStatus(id int64, st Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statuses == nil {
		f.statuses = map[string]Status{}
	}
	f.statuses[strconv.FormatInt(id, 10)] = st
}

// Status is a batch's processing state as the batches API reports it.
type Status struct {
	Code           int
	TimeoutMinutes int
}

// ExampleStatus names one status code. The real codes are undocumented (the
// help page's Status 5 is generator filler); this mapping is the fake's
// invention, which the exporter's demo uses as its example configuration.
type ExampleStatus struct {
	Code  int
	Name  string // the provider's word for the state, where it has one
	State string // what the state means to a monitor
}

// ExampleStatuses is the fake's status mapping. DefaultBatchStatus also
// produces code 7, which is deliberately missing here so that an unmapped
// code shows up.
var ExampleStatuses = []ExampleStatus{
	{0, "defined", "pending"},
	{1, "processing", "running"},
	{2, "completed", "succeeded"},
	{3, "failed", "failed"},
	{4, "cancelled", "failed"},
}

// UnmappedStatusCode is the code DefaultBatchStatus gives one batch in 200,
// absent from ExampleStatuses.
const UnmappedStatusCode = 7

// DefaultBatchStatus is the status of a record's batch unless configured
// otherwise, fixed by the ID: most batches completed, a few percent failed
// or cancelled, a few still defined or processing (with timeouts from an
// hour to three months, so that some of them are overdue), and one in 200
// the unmapped code 7.
func DefaultBatchStatus(id int64) Status {
	h := mix(uint64(id))
	if h%200 == 0 {
		return Status{Code: UnmappedStatusCode, TimeoutMinutes: 60}
	}
	switch p := (h / 200) % 100; {
	case p < 4:
		return Status{Code: 3, TimeoutMinutes: 60}
	case p < 5:
		return Status{Code: 4, TimeoutMinutes: 60}
	case p < 7:
		return Status{Code: int(p - 5), TimeoutMinutes: []int{60, 1440, 10080, 129600}[(h>>20)%4]}
	}
	return Status{Code: 2, TimeoutMinutes: 60}
}

// mix is SplitMix64's finaliser: a cheap, well spread hash of an ID.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// envelope is the PBPRReturnOfBatch of the help page, in its JSON key order.
// Meta is a map, or the empty string the live provider sometimes sends.
type envelope struct {
	Success           bool
	Meta              any
	Code              int
	ErrorCode         int
	Data              *batchData
	ErrorSubCode      int
	ErrorDescription  *string
	StatusUrl         *string
	ContinuationToken *string
}

type batchData struct {
	Name           string
	AppTag         string
	Description    string
	Parameters     map[string]string
	ID             string
	Status         int
	TimeoutMinutes int
}

// batch answers GET /BatchAPI/v1/batches/{batchid}.
func (f *Fake) batch(r *http.Request) *response {
	if r.Method != http.MethodGet {
		resp := jsonResponse(http.StatusMethodNotAllowed,
			`{"Message":"The requested resource does not support http method '`+r.Method+`'."}`)
		resp.header.Set("Allow", "GET")
		return resp
	}
	if f.cfg.Batches.OAuth2ClientID != "" && !f.validBearer(r) {
		resp := jsonResponse(http.StatusUnauthorized, `{"Message":"Authorization has been denied for this request."}`)
		resp.header.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		return resp
	}
	id := strings.TrimPrefix(r.URL.Path, batchesPrefix)
	env, status := f.lookupBatch(id, r)
	return encodeEnvelope(r, status, env)
}

func (f *Fake) lookupBatch(id string, r *http.Request) (*envelope, int) {
	f.mu.Lock()
	st, ok := f.statuses[id]
	f.mu.Unlock()
	if !ok {
		st, ok = f.cfg.Batches.Statuses[id]
	}
	var rec *Record
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		f.mu.Lock()
		if i, found := f.byID[n]; found {
			rec = &Record{BatchId: n, ProductType: f.records[i].ProductType}
		}
		f.mu.Unlock()
		if !ok && rec != nil {
			ok = true
			if f.cfg.Batches.DefaultStatus != nil {
				st = f.cfg.Batches.DefaultStatus(n)
			} else {
				st = DefaultBatchStatus(n)
			}
		}
	}
	if !ok {
		desc := "Batch not found"
		return &envelope{Code: http.StatusNotFound, ErrorCode: http.StatusNotFound, ErrorDescription: &desc}, http.StatusNotFound
	}
	params := map[string]string{"customerId": f.cfg.CustomerID}
	if rec != nil {
		params["productType"] = rec.ProductType
	}
	env := &envelope{
		Success: true,
		Code:    http.StatusOK,
		Data: &batchData{
			Name:           "Batch " + id,
			AppTag:         "b2see",
			Description:    "MyVideos batch",
			Parameters:     params,
			ID:             id,
			Status:         st.Code,
			TimeoutMinutes: st.TimeoutMinutes,
		},
	}
	// The live provider sometimes sends Meta as "" and StatusUrl as null;
	// which batches get them is fixed by the ID so tests can find both.
	h := mix(uint64(len(id)) ^ uint64(hashString(id)))
	if h%3 == 0 {
		env.Meta = ""
	} else {
		env.Meta = map[string]string{"requestId": strconv.FormatUint(h%1e9, 16), "apiVersion": "1"}
	}
	if h%4 != 0 {
		u := "http://" + r.Host + batchesPrefix + id
		env.StatusUrl = &u
	}
	return env, http.StatusOK
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// encodeEnvelope renders env as JSON or DataContract XML as the request's
// Accept header prefers. Like ASP.NET Web API, anything unsupported gets the
// first formatter, JSON.
func encodeEnvelope(r *http.Request, status int, env *envelope) *response {
	ct := negotiate(r.Header.Get("Accept"))
	resp := &response{status: status, header: http.Header{}}
	resp.header.Set("Content-Type", ct+"; charset=utf-8")
	if strings.HasSuffix(ct, "xml") {
		resp.body = envelopeXML(env)
	} else {
		resp.body, _ = json.Marshal(env)
	}
	return resp
}

// negotiate picks the supported media type the Accept header rates highest.
func negotiate(accept string) string {
	supported := []string{"application/json", "text/json", "application/xml", "text/xml"}
	best, bestQ := "application/json", 0.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(s, 64); err == nil {
				q = v
			}
		}
		for _, s := range supported {
			if mt == s && q > bestQ {
				best, bestQ = s, q
			}
		}
	}
	return best
}

const (
	nsModels = "http://schemas.datacontract.org/2004/07/AS.Models.API"
	nsArrays = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"
	nsXSI    = "http://www.w3.org/2001/XMLSchema-instance"
)

// envelopeXML renders env as the help page's DataContract XML: members in
// alphabetical order, the base class's before Data, i:nil for nulls, and
// maps as KeyValueOfstringstring pairs in the Arrays namespace.
func envelopeXML(env *envelope) []byte {
	var b strings.Builder
	text := func(s string) { _ = xml.EscapeText(&b, []byte(s)) }
	elem := func(name, value string) {
		b.WriteString("<" + name + ">")
		text(value)
		b.WriteString("</" + name + ">")
	}
	opt := func(name string, s *string) {
		if s == nil {
			b.WriteString("<" + name + ` i:nil="true"/>`)
			return
		}
		elem(name, *s)
	}
	dict := func(name, prefix string, m map[string]string) {
		b.WriteString("<" + name + ` xmlns:` + prefix + `="` + nsArrays + `">`)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString("<" + prefix + ":KeyValueOfstringstring>")
			elem(prefix+":Key", k)
			elem(prefix+":Value", m[k])
			b.WriteString("</" + prefix + ":KeyValueOfstringstring>")
		}
		b.WriteString("</" + name + ">")
	}

	b.WriteString(`<PBPRReturnOfBatch7NMnQmOk xmlns:i="` + nsXSI + `" xmlns="` + nsModels + `">`)
	elem("Code", strconv.Itoa(env.Code))
	opt("ContinuationToken", env.ContinuationToken)
	elem("ErrorCode", strconv.Itoa(env.ErrorCode))
	opt("ErrorDescription", env.ErrorDescription)
	elem("ErrorSubCode", strconv.Itoa(env.ErrorSubCode))
	switch m := env.Meta.(type) {
	case map[string]string:
		dict("Meta", "d2p1", m)
	case string: // an empty dictionary: the XML has no "" form
		dict("Meta", "d2p1", nil)
	default:
		b.WriteString(`<Meta i:nil="true" xmlns:d2p1="` + nsArrays + `"/>`)
	}
	opt("StatusUrl", env.StatusUrl)
	elem("Success", strconv.FormatBool(env.Success))
	if d := env.Data; d == nil {
		b.WriteString(`<Data i:nil="true"/>`)
	} else {
		b.WriteString("<Data>")
		elem("AppTag", d.AppTag)
		elem("Description", d.Description)
		elem("ID", d.ID)
		elem("Name", d.Name)
		dict("Parameters", "d3p1", d.Parameters)
		elem("Status", strconv.Itoa(d.Status))
		elem("TimeoutMinutes", strconv.Itoa(d.TimeoutMinutes))
		b.WriteString("</Data>")
	}
	b.WriteString("</PBPRReturnOfBatch7NMnQmOk>")
	return []byte(b.String())
}

// tokenLifetime is how long an issued token is valid, as the provider's
// documentation says of its tokens ("about an hour").
const tokenLifetime = time.Hour

// token implements the client-credentials grant of RFC 6749 section 4.4.
func (f *Fake) token(r *http.Request) *response {
	c := f.cfg.Batches
	if c.OAuth2ClientID == "" {
		return jsonResponse(http.StatusNotFound, `{"Message":"No HTTP resource was found that matches the request URI."}`)
	}
	if r.Method != http.MethodPost {
		resp := jsonResponse(http.StatusMethodNotAllowed, `{"error":"invalid_request"}`)
		resp.header.Set("Allow", "POST")
		return resp
	}
	if err := r.ParseForm(); err != nil {
		return oauthError(http.StatusBadRequest, "invalid_request")
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(c.OAuth2ClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(c.OAuth2ClientSecret)) != 1 {
		resp := oauthError(http.StatusUnauthorized, "invalid_client")
		if basic {
			resp.header.Set("WWW-Authenticate", `Basic realm="authtoken"`)
		}
		return resp
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			return oauthError(http.StatusBadRequest, "invalid_request")
		}
		return oauthError(http.StatusBadRequest, "unsupported_grant_type")
	}
	var raw [20]byte
	_, _ = rand.Read(raw[:])
	tok := hex.EncodeToString(raw[:])
	f.mu.Lock()
	f.tokens[tok] = f.cfg.Now().Add(tokenLifetime)
	f.mu.Unlock()
	body, _ := json.Marshal(map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(tokenLifetime / time.Second),
	})
	resp := &response{status: http.StatusOK, header: http.Header{}, body: body}
	resp.header.Set("Content-Type", "application/json;charset=UTF-8")
	resp.header.Set("Cache-Control", "no-store")
	resp.header.Set("Pragma", "no-cache")
	return resp
}

func oauthError(status int, code string) *response {
	resp := jsonResponse(status, `{"error":"`+code+`"}`)
	resp.header.Set("Cache-Control", "no-store")
	return resp
}

// validBearer reports whether r carries an unexpired token this fake issued.
func (f *Fake) validBearer(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	exp, ok := f.tokens[strings.TrimSpace(tok)]
	return ok && f.cfg.Now().Before(exp)
}
