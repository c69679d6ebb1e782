package b2seetest

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// Record is one batch record of the Batch Data API, with the documentation's
// field names. Pointer fields are null in JSON when nil. Its JSON form
// (MarshalJSON) is the documented one: keys in the sample's order, dates in
// UTC to the second with a "Z", and an always-null "Data".
type Record struct {
	// The names keep the documentation's spelling (Id, not ID) so that a
	// reader can match them to the published sample.
	BatchId            int64
	MarketingContactId int64
	DateCreated        time.Time
	SendingUserName    string
	Title              string
	ProductType        string

	RecipientEmail  string
	RecipientMobile string

	DateSent                *time.Time
	LandingPageFirstWatched *time.Time
	LandingPageLastWatched  *time.Time
	LandingPageWatchCount   int

	CustomerActionState          *string
	CustomerActionDate           *time.Time
	CustomerActionDescription    *string
	CustomerActionPrice          float64
	CustomerActionPriceSuffix    *string
	CustomerActionPaymentOutcome *string

	CustomerRating           *int
	CustomerRatingAdditional *string

	VideoPlayCount  int
	ImageLinkClicks int
	FacebookClicks  int
	GoogleClicks    int
}

// MarshalJSON renders r in the documented form.
func (r Record) MarshalJSON() ([]byte, error) {
	return appendRecord(nil, &r), nil
}

// PersonalData returns every recipient email and mobile, title, action
// description and rating comment in rs, so that tests can check that none of
// them ever appears in an error, log line, metric or page.
func PersonalData(rs []Record) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}
	for i := range rs {
		r := &rs[i]
		add(r.RecipientEmail)
		add(r.RecipientMobile)
		add(r.Title)
		if r.CustomerActionDescription != nil {
			add(*r.CustomerActionDescription)
		}
		if r.CustomerRatingAdditional != nil {
			add(*r.CustomerRatingAdditional)
		}
	}
	return out
}

// The vocabulary of generated records. Only aftersales_via_portal is
// documented; the other product types, action states and outcomes are
// plausible guesses so that consumers treat them as open sets.
var (
	senders = []string{
		"Rory Walsh", "Priya Shah", "Tom Hughes", "Aisha Khan",
		"Gareth Price", "Megan Doyle", "Liam O'Connor", "Sophie Turner",
	}
	productTypes = []struct {
		name   string
		label  string
		weight int
	}{
		{"aftersales_via_portal", "Service", 45},
		{"vehicle_health_check", "Health check", 25},
		{"service_reminder", "Service reminder", 15},
		{"sales_enquiry", "Your enquiry", 10},
		{"mot_reminder", "MOT", 5},
	}
	models = []string{
		"Ford Fiesta", "VW Golf", "Vauxhall Corsa", "Nissan Qashqai",
		"Kia Sportage", "BMW 3 Series", "Toyota Yaris", "Audi A3",
	}
	workItems = []string{
		"Front brake pads and discs", "Rear tyres (pair)", "Wiper blades",
		"Air conditioning re-gas", "Timing belt kit", "Battery replacement",
		"Exhaust back box", "Suspension arm bushes",
	}
	comments = []string{
		"Really clear video, made it easy to decide",
		"Would have liked a call as well",
		"Great to see the actual problem on my car",
		"Video would not play on my phone at first",
		"Very helpful, thank you",
	}
)

// Generate returns n realistic records created over the days days before
// now, in order of creation. The same arguments give the same records.
func Generate(n int, seed uint64, now time.Time, days int) []Record {
	return GenerateWith(n, seed, now, days, GenerateOptions{})
}

// GenerateOptions widen the vocabulary of generated records, for tests of
// large accounts.
type GenerateOptions struct {
	// Senders, when positive, is the number of distinct sending users,
	// named "Sender 00001" and so on, each as likely; 0 draws from the
	// eight names of the vocabulary.
	Senders int
}

// GenerateWith is Generate with o. With the zero GenerateOptions it gives
// Generate's records.
func GenerateWith(n int, seed uint64, now time.Time, days int, o GenerateOptions) []Record {
	if n <= 0 {
		return []Record{}
	}
	if days < 1 {
		days = 1
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	now = now.UTC().Truncate(time.Second)
	span := time.Duration(days) * 24 * time.Hour

	created := make([]time.Time, n)
	for i := range created {
		// Dealerships work office hours; the minute inside the day is random.
		day := now.Add(-time.Duration(rng.Int64N(int64(span)))).Truncate(24 * time.Hour)
		t := day.Add(time.Duration(8*3600+rng.IntN(10*3600)) * time.Second)
		if t.Before(now.Add(-span)) {
			t = t.Add(24 * time.Hour)
		}
		if t.After(now) {
			t = now.Add(-time.Duration(rng.IntN(3600)) * time.Second)
		}
		created[i] = t
	}
	sort.Slice(created, func(i, j int) bool { return created[i].Before(created[j]) })

	rs := make([]Record, n)
	id := int64(1032005)
	for i := range rs {
		id += 1 + rng.Int64N(7)
		rs[i] = generateOne(rng, id, created[i], now, o)
	}
	return rs
}

// chance reports true with probability p.
func chance(rng *rand.Rand, p float64) bool { return rng.Float64() < p }

// clipTo returns a function that gives a time no later than now, to the
// second.
func clipTo(now time.Time) func(time.Time) *time.Time {
	return func(t time.Time) *time.Time {
		if t.After(now) {
			t = now
		}
		t = t.Truncate(time.Second)
		return &t
	}
}

// generateOne is one batch: created, then perhaps sent, watched and acted
// on. The random draws come in a fixed order, so that a seed gives the
// same records.
func generateOne(rng *rand.Rand, id int64, created, now time.Time, o GenerateOptions) Record {
	r := newRecord(rng, id, created, o)
	if !chance(rng, 0.92) {
		if chance(rng, 0.05) {
			r.VideoPlayCount = 1 // a preview by the sender, as in the documented sample
		}
		return r
	}
	sent := created.Add(time.Duration(60+rng.IntN(14*60)) * time.Second)
	if sent.After(now) {
		return r
	}
	clip := clipTo(now)
	r.DateSent = clip(sent)
	if chance(rng, 0.75) {
		addWatches(rng, &r, sent, now, clip)
	}
	return r
}

// pickProductType draws a product type by its weight.
func pickProductType(rng *rand.Rand) (name, label string) {
	pt := productTypes[len(productTypes)-1]
	w := rng.IntN(100)
	for _, p := range productTypes {
		if w < p.weight {
			pt = p
			break
		}
		w -= p.weight
	}
	return pt.name, pt.label
}

// newRecord is a batch as created: who sends what to whom.
func newRecord(rng *rand.Rand, id int64, created time.Time, o GenerateOptions) Record {
	pt, label := pickProductType(rng)
	var sender string
	if o.Senders > 0 {
		sender = fmt.Sprintf("Sender %05d", 1+rng.IntN(o.Senders))
	} else {
		sender = senders[rng.IntN(len(senders))]
	}
	r := Record{
		BatchId:         id,
		DateCreated:     created,
		SendingUserName: sender,
		ProductType:     pt,
		// Registration marks with a Q prefix are never issued to ordinary
		// cars, so these titles are recognisably fake.
		Title: fmt.Sprintf("%s - %s Q%03d %c%c%c", label, models[rng.IntN(len(models))],
			rng.IntN(1000), 'A'+rng.IntN(26), 'A'+rng.IntN(26), 'A'+rng.IntN(26)),
	}
	if chance(rng, 0.05) {
		r.Title += " " // the documented sample has a trailing space
	}
	if chance(rng, 0.7) {
		r.MarketingContactId = 100000 + rng.Int64N(900000)
	}
	if chance(rng, 0.9) {
		r.RecipientEmail = fmt.Sprintf("customer%d@example.com", 1000+rng.IntN(9000))
	}
	if chance(rng, 0.85) {
		// Ofcom reserves 07700 900000-900999 for drama: never a real number.
		r.RecipientMobile = fmt.Sprintf("+447700900%03d", rng.IntN(1000))
	}
	return r
}

// addWatches makes the sent batch r watched, perhaps clicked and acted on.
func addWatches(rng *rand.Rand, r *Record, sent, now time.Time, clip func(time.Time) *time.Time) {
	pick := func(p float64) bool { return chance(rng, p) }
	// Most customers watch within the hour, some days later.
	delay := time.Duration(rng.ExpFloat64() * float64(6*time.Hour))
	delay = min(delay+time.Minute, 5*24*time.Hour)
	first := sent.Add(delay)
	if first.After(now) {
		return
	}
	r.LandingPageFirstWatched = clip(first)
	r.LandingPageWatchCount = 1
	for r.LandingPageWatchCount < 12 && pick(0.45) {
		r.LandingPageWatchCount++
	}
	last := first
	if r.LandingPageWatchCount > 1 {
		last = first.Add(time.Duration(rng.ExpFloat64() * float64(24*time.Hour)))
	}
	r.LandingPageLastWatched = clip(last)
	r.VideoPlayCount = r.LandingPageWatchCount + rng.IntN(r.LandingPageWatchCount+1)
	if pick(0.1) {
		r.VideoPlayCount = r.LandingPageWatchCount - 1 // watched the page, not the video
	}
	for pick(0.35) && r.ImageLinkClicks < 9 {
		r.ImageLinkClicks++
	}
	if pick(0.05) {
		r.FacebookClicks = 1 + rng.IntN(2)
	}
	if pick(0.08) {
		r.GoogleClicks = 1 + rng.IntN(2)
	}
	addAction(rng, r, first, clip)
}

func addAction(rng *rand.Rand, r *Record, watched time.Time, clip func(time.Time) *time.Time) {
	pick := func(p float64) bool { return rng.Float64() < p }
	str := func(s string) *string { return &s }

	var state string
	switch x := rng.Float64(); {
	case x < 0.35:
		state = "accepted"
	case x < 0.50:
		state = "declined"
	case x < 0.60:
		state = "pending"
	}
	if state != "" {
		r.CustomerActionState = str(state)
		r.CustomerActionDate = clip(watched.Add(time.Duration(rng.ExpFloat64() * float64(3*time.Hour))))
		r.CustomerActionDescription = str(workItems[rng.IntN(len(workItems))])
		pence := []int{0, 50, 95, 99}[rng.IntN(4)]
		r.CustomerActionPrice = float64((20+rng.IntN(880))*100+pence) / 100
		if pick(0.6) {
			r.CustomerActionPriceSuffix = str("inc VAT")
		}
		if state == "accepted" {
			switch x := rng.Float64(); {
			case x < 0.6:
				r.CustomerActionPaymentOutcome = str("paid")
			case x < 0.85:
				r.CustomerActionPaymentOutcome = str("unpaid")
			case x < 0.9:
				r.CustomerActionPaymentOutcome = str("failed")
			}
		}
	}
	if pick(0.3) {
		// Ratings lean to the top of the scale, as they do.
		v := []int{1, 2, 3, 4, 4, 5, 5, 5}[rng.IntN(8)]
		r.CustomerRating = &v
		if pick(0.3) {
			r.CustomerRatingAdditional = str(comments[rng.IntN(len(comments))])
		}
	}
}

// appendRecord appends the documented JSON form of r.
func appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"BatchId":`...)
	b = strconv.AppendInt(b, r.BatchId, 10)
	b = append(b, `,"MarketingContactId":`...)
	b = strconv.AppendInt(b, r.MarketingContactId, 10)
	b = append(b, `,"DateCreated":`...)
	b = appendTime(b, &r.DateCreated)
	b = append(b, `,"SendingUserName":`...)
	b = appendString(b, r.SendingUserName)
	b = append(b, `,"Title":`...)
	b = appendString(b, r.Title)
	b = append(b, `,"ProductType":`...)
	b = appendString(b, r.ProductType)
	b = append(b, `,"RecipientEmail":`...)
	b = appendString(b, r.RecipientEmail)
	b = append(b, `,"RecipientMobile":`...)
	b = appendString(b, r.RecipientMobile)
	b = append(b, `,"Data":null,"DateSent":`...)
	b = appendTime(b, r.DateSent)
	b = append(b, `,"LandingPageFirstWatched":`...)
	b = appendTime(b, r.LandingPageFirstWatched)
	b = append(b, `,"LandingPageLastWatched":`...)
	b = appendTime(b, r.LandingPageLastWatched)
	b = append(b, `,"LandingPageWatchCount":`...)
	b = strconv.AppendInt(b, int64(r.LandingPageWatchCount), 10)
	b = append(b, `,"CustomerActionState":`...)
	b = appendOptString(b, r.CustomerActionState)
	b = append(b, `,"CustomerActionDate":`...)
	b = appendTime(b, r.CustomerActionDate)
	b = append(b, `,"CustomerActionDescription":`...)
	b = appendOptString(b, r.CustomerActionDescription)
	b = append(b, `,"CustomerActionPrice":`...)
	b = strconv.AppendFloat(b, r.CustomerActionPrice, 'f', -1, 64)
	b = append(b, `,"CustomerActionPriceSuffix":`...)
	b = appendOptString(b, r.CustomerActionPriceSuffix)
	b = append(b, `,"CustomerActionPaymentOutcome":`...)
	b = appendOptString(b, r.CustomerActionPaymentOutcome)
	b = append(b, `,"CustomerRating":`...)
	if r.CustomerRating == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(*r.CustomerRating), 10)
	}
	b = append(b, `,"CustomerRatingAdditional":`...)
	b = appendOptString(b, r.CustomerRatingAdditional)
	b = append(b, `,"VideoPlayCount":`...)
	b = strconv.AppendInt(b, int64(r.VideoPlayCount), 10)
	b = append(b, `,"ImageLinkClicks":`...)
	b = strconv.AppendInt(b, int64(r.ImageLinkClicks), 10)
	b = append(b, `,"FacebookClicks":`...)
	b = strconv.AppendInt(b, int64(r.FacebookClicks), 10)
	b = append(b, `,"GoogleClicks":`...)
	b = strconv.AppendInt(b, int64(r.GoogleClicks), 10)
	return append(b, '}')
}

// timeLayout is the documented date form: UTC, second precision, "Z".
const timeLayout = "2006-01-02T15:04:05Z"

func appendTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().Truncate(time.Second).AppendFormat(b, timeLayout)
	return append(b, '"')
}

func appendOptString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does, so that only the InvalidUTF8 fault sends bad bytes.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
