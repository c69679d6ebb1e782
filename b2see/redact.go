package b2see

import (
	"cmp"
	"encoding/base64"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Redacted is what a secret is replaced by in errors, logs and pages.
const Redacted = "<redacted>"

// shortSecret is the length under which a secret is redacted only as a
// whole token, with no letter or digit touching it on either side. A
// one-letter password must not take every "a" out of a message, yet it
// still goes from "user:a@", "password=a" or a quoted "a". Longer secrets
// are redacted wherever they appear.
const shortSecret = 8

// guidPattern is the shape of an API key, xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.
// The redactor takes out any GUID: one in a message could be another
// account's key.
var guidPattern = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// APIKeyShape says what a valid API key looks like, for errors.
const APIKeyShape = "a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"

// ValidAPIKey reports whether key has the documented GUID shape,
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.
func ValidAPIKey(key string) bool {
	loc := guidPattern.FindStringIndex(key)
	return loc != nil && loc[0] == 0 && loc[1] == len(key)
}

// The places where text carries a secret whatever its value, taken out even
// when the secret is not known: a URL's user info, the value of a query
// parameter named for a secret, and long credentials after an HTTP
// authentication scheme (16 characters at least, so that "Basic
// authentication" stays readable).
var (
	userInfoPattern    = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@"'<>]+@`)
	secretParamPattern = regexp.MustCompile(`(?i)([?&;](?:api_?key|access_?token|token|password|passwd|pwd|secret|client_?secret)=)[^&;\s"'<>#]+`)
	authSchemePattern  = regexp.MustCompile(`(?i)\b(basic|bearer)(\s+)[A-Za-z0-9._~+/-]{16,}=*`)
	// base64Run is a word that may be base64: an Authorization header
	// echoed back holds user:password so.
	base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{4,}={0,2}`)
)

// Redactor takes secrets out of text: the API key, passwords, tokens. It
// finds them in any letter case (.NET may echo a GUID either way), a GUID
// with or without its hyphens, quoted as Go quotes strings, percent-encoded
// (once or more, as in a URL or a Location header) and base64-encoded (as
// in an echoed Authorization header). It also takes out every GUID and the
// secret-bearing places listed above, so a Redactor without secrets still
// protects unknown ones.
//
// A Redactor is built once per client: errors can come by the thousand in
// a scrape (batches unknown upstream), and secrets do not change. It is
// safe for concurrent use; the zero value takes out only what needs no
// secret.
type Redactor struct {
	long  *regexp.Regexp   // secrets of shortSecret characters or more; nil when none
	short []*regexp.Regexp // shorter ones, each matched as a whole token only
}

// NewRedactor returns a Redactor of secrets; blank ones are ignored.
func NewRedactor(secrets ...string) *Redactor {
	var forms []string
	for _, s := range secrets {
		t := strings.TrimSpace(s)
		if t == "" {
			continue
		}
		forms = append(forms, s, t)
		// Errors quote values with %q: a line break shows as \n.
		if q := strconv.Quote(s); q[1:len(q)-1] != s {
			forms = append(forms, q[1:len(q)-1])
		}
	}
	// Longest first: of two secrets where one holds the other, the longer
	// must go whole.
	slices.SortFunc(forms, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	forms = slices.Compact(forms)
	r := &Redactor{}
	var long []string
	for _, f := range forms {
		pattern := regexp.QuoteMeta(f)
		if ValidAPIKey(f) {
			pattern = strings.ReplaceAll(f, "-", "-?")
		}
		if utf8.RuneCountInString(f) >= shortSecret {
			long = append(long, pattern)
		} else {
			r.short = append(r.short, regexp.MustCompile("(?i)"+pattern))
		}
	}
	if len(long) > 0 {
		r.long = regexp.MustCompile("(?i)" + strings.Join(long, "|"))
	}
	return r
}

// Redact returns s with its secrets replaced by Redacted. When a secret
// shows only once s is percent-decoded, the decoded text is returned,
// redacted.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		r = &Redactor{}
	}
	s = r.redact(s)
	decoded := s
	for range 3 { // encoded twice is already odd; three times covers the odder
		next := percentDecode(decoded)
		if next == decoded {
			break
		}
		decoded = next
		if red := r.redact(decoded); red != decoded {
			s, decoded = strings.ToValidUTF8(red, "\uFFFD"), red
		}
	}
	return s
}

// redact takes out the secrets as they appear in s, without decoding it.
func (r *Redactor) redact(s string) string {
	if r.long != nil {
		s = r.long.ReplaceAllLiteralString(s, Redacted)
	}
	for _, re := range r.short {
		s = replaceTokens(s, re)
	}
	if r.long != nil || len(r.short) > 0 {
		s = base64Run.ReplaceAllStringFunc(s, func(run string) string {
			if r.holdsSecret(decodeBase64(run)) {
				return Redacted
			}
			return run
		})
	}
	s = userInfoPattern.ReplaceAllString(s, "${1}"+Redacted+"@")
	s = secretParamPattern.ReplaceAllString(s, "${1}"+Redacted)
	s = authSchemePattern.ReplaceAllString(s, "${1}${2}"+Redacted)
	return guidPattern.ReplaceAllLiteralString(s, Redacted)
}

// holdsSecret reports whether s holds one of the secrets.
func (r *Redactor) holdsSecret(s string) bool {
	if s == "" {
		return false
	}
	if r.long != nil && r.long.MatchString(s) {
		return true
	}
	for _, re := range r.short {
		if replaceTokens(s, re) != s {
			return true
		}
	}
	return false
}

// replaceTokens replaces the matches of re that are whole tokens: neither
// end touches a letter or a digit. A match that does not qualify is
// retried one character further on, so an overlapping one is not missed.
func replaceTokens(s string, re *regexp.Regexp) string {
	var b strings.Builder
	last, from := 0, 0
	for from < len(s) {
		loc := re.FindStringIndex(s[from:])
		if loc == nil {
			break
		}
		start, end := from+loc[0], from+loc[1]
		before, _ := utf8.DecodeLastRuneInString(s[:start])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if !isTokenRune(before) && !isTokenRune(after) {
			b.WriteString(s[last:start])
			b.WriteString(Redacted)
			last, from = end, end
			continue
		}
		_, size := utf8.DecodeRuneInString(s[start:])
		from = start + max(size, 1)
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isTokenRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// decodeBase64 decodes a word as base64, standard or URL alphabet, padded
// or not, and returns "" unless the result is printable text: what a
// credential decodes to, and what random words almost never do.
func decodeBase64(word string) string {
	word = strings.TrimRight(word, "=")
	if len(word)%4 == 1 {
		return ""
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(word, "-_") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(word)
	if err != nil || !utf8.Valid(b) {
		return ""
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return ""
		}
	}
	return string(b)
}

// percentDecode decodes the valid %XX escapes of s and leaves anything else
// as it is, where url.PathUnescape would give up on the first bad one.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// percentDecodeDeep undoes up to three levels of percent-encoding, as
// Redact does.
func percentDecodeDeep(s string) string {
	for range 3 {
		s = percentDecode(s)
	}
	return s
}

var (
	// phonePattern finds runs of digits with the separators phone numbers
	// are written with; runs of 10 digits or more are redacted.
	phonePattern = regexp.MustCompile(`\+?\(?\d[\d ().-]{6,}\d`)
)

// sanitizeMessage makes an upstream message safe and short enough to log:
// secrets redacted, personal data taken out (percent-encoded too), valid
// UTF-8, one line, at most 200 characters.
func sanitizeMessage(msg string, r *Redactor) string {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	msg = r.Redact(msg)
	msg = phonePattern.ReplaceAllStringFunc(msg, func(run string) string {
		if countDigits(run) >= 10 {
			return Redacted
		}
		return run
	})
	fields := strings.Fields(msg)
	for i, f := range fields {
		if looksPersonal(f) || looksPersonal(percentDecodeDeep(f)) {
			fields[i] = Redacted
		}
	}
	msg = strings.Join(fields, " ")
	if utf8.RuneCountInString(msg) > 200 {
		r := []rune(msg)
		msg = string(r[:200]) + "…"
	}
	return msg
}

// looksPersonal reports whether a word of an upstream message could be a
// recipient's email address or phone number. Upstream messages are not
// supposed to carry either, but nothing guarantees it.
func looksPersonal(word string) bool {
	if strings.Contains(word, "@") {
		return true
	}
	return countDigits(word) >= 10
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}
