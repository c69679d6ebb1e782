package b2seetest_test

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
)

const (
	nsModels = "http://schemas.datacontract.org/2004/07/AS.Models.API"
	nsArrays = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"
)

// jsonEnvelope decodes the help page's JSON envelope.
type jsonEnvelope struct {
	Success           *bool
	Meta              json.RawMessage
	Code              *int
	ErrorCode         *int
	ErrorSubCode      *int
	ErrorDescription  *string
	StatusUrl         *string
	ContinuationToken *string
	Data              *struct {
		Name, AppTag, Description, ID string
		Parameters                    map[string]string
		Status, TimeoutMinutes        *int
	}
}

// xmlPair is a DataContract dictionary entry.
type xmlPair struct {
	XMLName xml.Name
	K       struct {
		XMLName xml.Name
		V       string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/2003/10/Serialization/Arrays Key"`
	V string `xml:"http://schemas.microsoft.com/2003/10/Serialization/Arrays Value"`
}

// xmlEnvelope decodes the help page's XML, with namespaces checked.
type xmlEnvelope struct {
	XMLName           xml.Name
	Code              int       `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API Code"`
	Success           bool      `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API Success"`
	ErrorDescription  string    `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API ErrorDescription"`
	StatusUrl         *xmlNilly `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API StatusUrl"`
	ContinuationToken *xmlNilly `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API ContinuationToken"`
	Meta              *struct {
		Pairs []xmlPair `xml:"http://schemas.microsoft.com/2003/10/Serialization/Arrays KeyValueOfstringstring"`
	} `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API Meta"`
	Data *struct {
		Nil        string `xml:"http://www.w3.org/2001/XMLSchema-instance nil,attr"`
		ID         string `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API ID"`
		Name       string `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API Name"`
		Status     *int   `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API Status"`
		Timeout    *int   `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API TimeoutMinutes"`
		Parameters *struct {
			Pairs []xmlPair `xml:"http://schemas.microsoft.com/2003/10/Serialization/Arrays KeyValueOfstringstring"`
		} `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API Parameters"`
	} `xml:"http://schemas.datacontract.org/2004/07/AS.Models.API Data"`
}

type xmlNilly struct {
	Nil   string `xml:"http://www.w3.org/2001/XMLSchema-instance nil,attr"`
	Value string `xml:",chardata"`
}

func batchURL(s *b2seetest.Server, id string) string {
	return s.BatchesURL + "/v1/batches/" + url.PathEscape(id)
}

func TestBatchJSON(t *testing.T) {
	rs := b2seetest.Generate(200, 3, testNow, 30)
	s := startServer(t, b2seetest.Config{Records: rs})
	c := client(t)
	var emptyMeta, objectMeta, nullStatusURL, withStatusURL int
	for _, r := range rs {
		id := strconv.FormatInt(r.BatchId, 10)
		resp, body, err := get(t, c, batchURL(s, id))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("batch %s: status %d, %v", id, resp.StatusCode, err)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		var env jsonEnvelope
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		if env.Success == nil || !*env.Success || env.Code == nil || env.ErrorCode == nil ||
			env.ErrorSubCode == nil || env.Data == nil || env.Data.Status == nil || env.Data.TimeoutMinutes == nil {
			t.Fatalf("batch %s: incomplete envelope %s", id, body)
		}
		if env.Data.ID != id {
			t.Errorf("Data.ID %q, want %q", env.Data.ID, id)
		}
		want := b2seetest.DefaultBatchStatus(r.BatchId)
		if *env.Data.Status != want.Code || *env.Data.TimeoutMinutes != want.TimeoutMinutes {
			t.Errorf("batch %s: status %d/%d, want %+v", id, *env.Data.Status, *env.Data.TimeoutMinutes, want)
		}
		switch string(env.Meta) {
		case `""`:
			emptyMeta++
		default:
			var m map[string]string
			if err := json.Unmarshal(env.Meta, &m); err != nil {
				t.Fatalf("Meta %s is neither \"\" nor a string map", env.Meta)
			}
			objectMeta++
		}
		if env.StatusUrl == nil {
			nullStatusURL++
		} else {
			withStatusURL++
		}
	}
	if emptyMeta == 0 || objectMeta == 0 || nullStatusURL == 0 || withStatusURL == 0 {
		t.Errorf("Meta empty/object %d/%d, StatusUrl null/set %d/%d: want some of each",
			emptyMeta, objectMeta, nullStatusURL, withStatusURL)
	}
}

func TestBatchNegotiation(t *testing.T) {
	rs := b2seetest.Generate(5, 3, testNow, 30)
	s := startServer(t, b2seetest.Config{Records: rs})
	id := strconv.FormatInt(rs[0].BatchId, 10)
	tests := []struct {
		accept, wantType string
	}{
		{"", "application/json"},
		{"*/*", "application/json"},
		{"application/json", "application/json"},
		{"text/json", "text/json"},
		{"application/xml", "application/xml"},
		{"text/xml", "text/xml"},
		{"text/html", "application/json"},
		{"application/json;q=0.5, application/xml", "application/xml"},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			resp, body, _ := get(t, client(t), batchURL(s, id), "Accept", tt.accept)
			ct := resp.Header.Get("Content-Type")
			if !strings.HasPrefix(ct, tt.wantType+";") {
				t.Fatalf("Content-Type %q, want %s", ct, tt.wantType)
			}
			if strings.HasSuffix(tt.wantType, "xml") {
				var env xmlEnvelope
				if err := xml.Unmarshal(body, &env); err != nil {
					t.Fatal(err)
				}
			} else if !json.Valid(body) {
				t.Fatalf("not JSON: %s", body)
			}
		})
	}
}

func TestBatchXMLShape(t *testing.T) {
	rs := b2seetest.Generate(60, 5, testNow, 30)
	s := startServer(t, b2seetest.Config{Records: rs})
	c := client(t)
	var emptyMeta, fullMeta int
	for _, r := range rs {
		id := strconv.FormatInt(r.BatchId, 10)
		_, body, _ := get(t, c, batchURL(s, id), "Accept", "application/xml")
		var env xmlEnvelope
		if err := xml.Unmarshal(body, &env); err != nil {
			t.Fatalf("%v in %s", err, body)
		}
		if env.XMLName.Space != nsModels || env.XMLName.Local != "PBPRReturnOfBatch7NMnQmOk" {
			t.Fatalf("root %v", env.XMLName)
		}
		if !env.Success || env.Code != 200 {
			t.Errorf("Success %v Code %d", env.Success, env.Code)
		}
		if env.Data == nil || env.Data.ID != id || env.Data.Status == nil || env.Data.Timeout == nil {
			t.Fatalf("Data incomplete in %s", body)
		}
		if env.ContinuationToken == nil || env.ContinuationToken.Nil != "true" {
			t.Errorf("ContinuationToken is not i:nil in %s", body)
		}
		if env.Data.Parameters == nil || len(env.Data.Parameters.Pairs) == 0 {
			t.Fatalf("no Parameters pairs in %s", body)
		}
		for _, p := range env.Data.Parameters.Pairs {
			if p.XMLName.Space != nsArrays || p.K.XMLName.Space != nsArrays || p.K.V == "" {
				t.Errorf("pair %+v not in the Arrays namespace", p)
			}
		}
		if env.Meta == nil {
			t.Fatalf("no Meta element in %s", body)
		}
		if len(env.Meta.Pairs) == 0 {
			emptyMeta++
		} else {
			fullMeta++
		}
	}
	if emptyMeta == 0 || fullMeta == 0 {
		t.Errorf("Meta empty/full %d/%d: want some of each", emptyMeta, fullMeta)
	}
}

func TestBatchStatuses(t *testing.T) {
	rs := b2seetest.Generate(3, 3, testNow, 30)
	s := startServer(t, b2seetest.Config{
		Records: rs,
		Batches: b2seetest.BatchesConfig{
			Statuses:      map[string]b2seetest.Status{"extra-1": {Code: 9, TimeoutMinutes: 15}, strconv.FormatInt(rs[1].BatchId, 10): {Code: 4}},
			DefaultStatus: func(id int64) b2seetest.Status { return b2seetest.Status{Code: 1, TimeoutMinutes: int(id % 1000)} },
		},
	})
	tests := []struct {
		id          string
		wantHTTP    int
		wantCode    int
		wantTimeout int
	}{
		{"extra-1", 200, 9, 15},
		{strconv.FormatInt(rs[0].BatchId, 10), 200, 1, int(rs[0].BatchId % 1000)},
		{strconv.FormatInt(rs[1].BatchId, 10), 200, 4, 0}, // Statuses before DefaultStatus
		{"123", 404, 0, 0},
		{"no-such-batch", 404, 0, 0},
	}
	for _, tt := range tests {
		for _, accept := range []string{"application/json", "text/xml"} {
			t.Run(tt.id+" "+accept, func(t *testing.T) {
				resp, body, _ := get(t, client(t), batchURL(s, tt.id), "Accept", accept)
				if resp.StatusCode != tt.wantHTTP {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantHTTP)
				}
				var success bool
				var desc string
				var code int
				if accept == "text/xml" {
					var env xmlEnvelope
					if err := xml.Unmarshal(body, &env); err != nil {
						t.Fatal(err)
					}
					success, desc = env.Success, env.ErrorDescription
					if env.Data != nil && env.Data.Status != nil {
						code = *env.Data.Status
					}
				} else {
					var env jsonEnvelope
					if err := json.Unmarshal(body, &env); err != nil || env.Success == nil {
						t.Fatalf("%v in %s", err, body)
					}
					success = *env.Success
					if env.ErrorDescription != nil {
						desc = *env.ErrorDescription
					}
					if env.Data != nil {
						code = *env.Data.Status
					}
				}
				if tt.wantHTTP == 404 {
					if success || desc != "Batch not found" {
						t.Errorf("Success %v, ErrorDescription %q", success, desc)
					}
					return
				}
				if !success || code != tt.wantCode {
					t.Errorf("Success %v, Status %d, want %d", success, code, tt.wantCode)
				}
			})
		}
	}
}

func TestDefaultBatchStatusDistribution(t *testing.T) {
	rs := b2seetest.Generate(20000, 11, testNow, 90)
	mapped := map[int]string{}
	for _, e := range b2seetest.ExampleStatuses {
		mapped[e.Code] = e.State
	}
	states := map[string]int{}
	var overdue, inTime int
	for _, r := range rs {
		st := b2seetest.DefaultBatchStatus(r.BatchId)
		if st != b2seetest.DefaultBatchStatus(r.BatchId) {
			t.Fatal("DefaultBatchStatus is not deterministic")
		}
		state, ok := mapped[st.Code]
		if !ok {
			state = "unmapped"
		}
		states[state]++
		if state == "pending" || state == "running" {
			if testNow.Sub(r.DateCreated) > time.Duration(st.TimeoutMinutes)*time.Minute {
				overdue++
			} else {
				inTime++
			}
		}
	}
	frac := func(s string) float64 { return float64(states[s]) / float64(len(rs)) }
	checks := []struct {
		state    string
		min, max float64
	}{
		{"succeeded", 0.85, 0.96},
		{"failed", 0.02, 0.08},
		{"pending", 0.003, 0.03},
		{"running", 0.003, 0.03},
		{"unmapped", 0.002, 0.01},
	}
	for _, c := range checks {
		if f := frac(c.state); f < c.min || f > c.max {
			t.Errorf("%s: %.4f of batches, want %.3f..%.3f", c.state, f, c.min, c.max)
		}
	}
	if overdue == 0 || inTime == 0 {
		t.Errorf("pending/running overdue %d, in time %d: want some of each", overdue, inTime)
	}
}

func TestOAuth2(t *testing.T) {
	var offset atomicDuration
	rs := b2seetest.Generate(3, 3, testNow, 30)
	s := startServer(t, b2seetest.Config{
		Records: rs,
		Now:     func() time.Time { return testNow.Add(offset.Load()) },
		Batches: b2seetest.BatchesConfig{OAuth2ClientID: "exporter", OAuth2ClientSecret: "s3cret"},
	})
	c := client(t)
	u := batchURL(s, strconv.FormatInt(rs[0].BatchId, 10))

	if resp, _, _ := get(t, c, u); resp.StatusCode != 401 {
		t.Fatalf("without a token: status %d, want 401", resp.StatusCode)
	}
	if resp, _, _ := get(t, c, u, "Authorization", "Bearer made-up"); resp.StatusCode != 401 {
		t.Fatalf("with a made-up token: status %d, want 401", resp.StatusCode)
	}

	tests := []struct {
		name       string
		form       url.Values
		basic      []string
		method     string
		wantStatus int
		wantError  string
	}{
		{"basic auth", url.Values{"grant_type": {"client_credentials"}}, []string{"exporter", "s3cret"}, "", 200, ""},
		{"form credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {"exporter"}, "client_secret": {"s3cret"}}, nil, "", 200, ""},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}}, []string{"exporter", "nope"}, "", 401, "invalid_client"},
		{"no credentials", url.Values{"grant_type": {"client_credentials"}}, nil, "", 401, "invalid_client"},
		{"password grant", url.Values{"grant_type": {"password"}}, []string{"exporter", "s3cret"}, "", 400, "unsupported_grant_type"},
		{"no grant", url.Values{}, []string{"exporter", "s3cret"}, "", 400, "invalid_request"},
		{"GET", nil, []string{"exporter", "s3cret"}, http.MethodGet, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, s.TokenURL, strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic != nil {
				req.SetBasicAuth(tt.basic[0], tt.basic[1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int    `json:"expires_in"`
				Error       string `json:"error"`
			}
			if tt.wantStatus == 405 {
				return
			}
			if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
				t.Fatal(err)
			}
			if tok.Error != tt.wantError {
				t.Errorf("error %q, want %q", tok.Error, tt.wantError)
			}
			if tt.wantStatus != 200 {
				return
			}
			if tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 || tok.AccessToken == "" {
				t.Fatalf("token %+v", tok)
			}
			if resp, _, _ := get(t, c, u, "Authorization", "Bearer "+tok.AccessToken); resp.StatusCode != 200 {
				t.Errorf("with the token: status %d, want 200", resp.StatusCode)
			}
			offset.Store(61 * time.Minute)
			defer offset.Store(0)
			if resp, _, _ := get(t, c, u, "Authorization", "Bearer "+tok.AccessToken); resp.StatusCode != 401 {
				t.Errorf("with an expired token: status %d, want 401", resp.StatusCode)
			}
		})
	}
}

func TestTokenEndpointOffWithoutOAuth2(t *testing.T) {
	s := startServer(t, b2seetest.Config{})
	resp, err := client(t).PostForm(s.TokenURL, url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
}

func TestSetBatchStatus(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rs := b2seetest.Generate(20, 5, now, 10)
	srv := b2seetest.NewServer(b2seetest.Config{Records: rs, Now: func() time.Time { return now },
		Batches: b2seetest.BatchesConfig{DefaultStatus: func(int64) b2seetest.Status { return b2seetest.Status{Code: 1, TimeoutMinutes: 60} }}})
	defer srv.Close()
	id := rs[3].BatchId
	status := func() float64 {
		resp, err := http.Get(srv.BatchesURL + "/v1/batches/" + strconv.FormatInt(id, 10))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env struct{ Data struct{ Status float64 } }
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			t.Fatal(err)
		}
		return env.Data.Status
	}
	if got := status(); got != 1 {
		t.Fatalf("status %v before, want the default 1", got)
	}
	srv.SetBatchStatus(id, b2seetest.Status{Code: 3, TimeoutMinutes: 60})
	if got := status(); got != 3 {
		t.Errorf("status %v after SetBatchStatus, want 3", got)
	}
}
