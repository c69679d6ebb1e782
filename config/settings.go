package config

import (
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"

	"github.com/b2see-exporter/b2see_exporter/b2see"
)

// Settings are the account options that the --b2see.* flags set for every
// account and that each account of the file may set for itself. A field
// declares its option whole: the yaml tag names it in the file, the flag
// and help tags make its flag, DefaultSettings gives its default (to flags
// and file alike), and a field read from text in the file (a duration, a
// size) says in its file tag what the text must be. README.md, "Adding an
// account option", shows the steps.
type Settings struct {
	DaysOfHistory int              `yaml:"days_of_history" flag:"b2see.days-of-history" help:"How many days of batches to read on each scrape."`
	URL           string           `yaml:"url" flag:"b2see.url" help:"Base URL of B2see's public API."`
	CakesPath     string           `yaml:"cakes_path" flag:"b2see.cakes-path" help:"Path of the Batch Data API below --b2see.url; {customer_id} is replaced by the customer ID."`
	SenderLabel   bool             `yaml:"sender_label" flag:"b2see.sender-label" help:"Label engagement series with the sending user. Turn off (--no-b2see.sender-label) for accounts with very many senders."`
	MinInterval   model.Duration   `yaml:"min_interval" flag:"b2see.min-interval" help:"Least time between two reads of an account's upstream; scrapes within it are served from the last result. 0 reads on every scrape." file:"a duration such as 30s or 5m"`
	MaxBodySize   units.Base2Bytes `yaml:"max_body_size" flag:"b2see.max-body-size" help:"Largest answer of the Batch Data API to read, after decompression." file:"a size such as 512MiB or 1GiB"`

	// The caps on the values of each upstream-valued label: beyond them the
	// values with the most batches in the window keep their series and the
	// others are summed into "other".
	MaxSenders         Limit `yaml:"max_senders" flag:"b2see.max-senders" help:"Most senders with series of their own; the others are summed into sender=\"other\". 0 for no cap."`
	MaxProductTypes    Limit `yaml:"max_product_types" flag:"b2see.max-product-types" help:"Most product types with series of their own; the others are summed into product_type=\"other\". 0 for no cap."`
	MaxActionStates    Limit `yaml:"max_action_states" flag:"b2see.max-action-states" help:"Most customer action states with series of their own; the others are summed into state=\"other\". 0 for no cap."`
	MaxPaymentOutcomes Limit `yaml:"max_payment_outcomes" flag:"b2see.max-payment-outcomes" help:"Most payment outcomes with series of their own; the others are summed into outcome=\"other\". 0 for no cap."`
	MaxRatings         Limit `yaml:"max_ratings" flag:"b2see.max-ratings" help:"Most ratings with series of their own; the others are summed into rating=\"other\". 0 for no cap."`
	// MaxSeries is the last guard: past it the account's engagement series
	// are withheld.
	MaxSeries Limit `yaml:"max_series" flag:"b2see.max-series" help:"Most engagement series (window gauges and counters) served for an account; past it they are withheld, and counted as reason too_many_series. 0 for no limit."`
}

// Limit is a cap on a number of label values or series, 0 for none. Its
// zero is a choice, as a boolean's is: an account that sets 0 has no cap,
// not the default one.
type Limit int

// Defaults of the caps.
const (
	DefaultMaxSenders = 100
	DefaultMaxValues  = 20 // product types, action states, payment outcomes, ratings
	DefaultMaxSeries  = 10_000
)

// DefaultDaysOfHistory is the days_of_history of an account that sets none.
const DefaultDaysOfHistory = 30

// DefaultSettings are the options of an account that sets none, the flags'
// defaults.
func DefaultSettings() Settings {
	return Settings{
		DaysOfHistory: DefaultDaysOfHistory,
		URL:           b2see.DefaultURL,
		CakesPath:     b2see.DefaultCakesPath,
		SenderLabel:   true,
		MaxBodySize:   b2see.DefaultMaxBodyBytes,

		MaxSenders:         DefaultMaxSenders,
		MaxProductTypes:    DefaultMaxValues,
		MaxActionStates:    DefaultMaxValues,
		MaxPaymentOutcomes: DefaultMaxValues,
		MaxRatings:         DefaultMaxValues,
		MaxSeries:          DefaultMaxSeries,
	}
}

// orDefaults is s with each zero field but the booleans and limits, whose
// zero is a choice, set to its default.
func (s Settings) orDefaults() Settings {
	v, d := reflect.ValueOf(&s).Elem(), reflect.ValueOf(DefaultSettings())
	for i := range v.NumField() {
		if f := v.Field(i); f.IsZero() && f.Kind() != reflect.Bool && f.Type() != reflect.TypeOf(Limit(0)) {
			f.Set(d.Field(i))
		}
	}
	return s
}

// AddFlags adds a flag for each option to app, with its default, parsed
// into s.
func (s *Settings) AddFlags(app *kingpin.Application) {
	v, d := reflect.ValueOf(s).Elem(), reflect.ValueOf(DefaultSettings())
	for i, field := range reflect.VisibleFields(v.Type()) {
		f := app.Flag(field.Tag.Get("flag"), field.Tag.Get("help")).Default(flagText(d.Field(i).Interface()))
		switch p := v.Field(i).Addr().Interface().(type) {
		case *int:
			f.IntVar(p)
		case *Limit:
			f.IntVar((*int)(p))
		case *string:
			f.StringVar(p)
		case *bool:
			f.BoolVar(p)
		case *model.Duration:
			f.DurationVar((*time.Duration)(p))
		case *units.Base2Bytes:
			f.BytesVar(p)
		default:
			panic(fmt.Sprintf("config: Settings.%s: no flag for type %T", field.Name, p))
		}
	}
}

// flagText writes a default as its flag reads it.
func flagText(v any) string {
	switch v := v.(type) {
	case int:
		return strconv.Itoa(v)
	case Limit:
		return strconv.Itoa(int(v))
	case bool:
		return strconv.FormatBool(v)
	case model.Duration:
		return time.Duration(v).String()
	}
	return fmt.Sprint(v) // strings, and units.Base2Bytes as 1GiB
}

// rawAccountType is how the file's account is decoded: rawAccount, with
// each option of Settings beside it as a pointer, nil when the file leaves
// it out; an option read from text (its file tag set) as a *string.
var rawAccountType = func() reflect.Type {
	fields := []reflect.StructField{{Name: "Base", Type: reflect.TypeOf(rawAccount{}), Tag: `yaml:",inline"`}}
	for _, f := range reflect.VisibleFields(reflect.TypeOf(Settings{})) {
		t := f.Type
		if f.Tag.Get("file") != "" {
			t = reflect.TypeOf("")
		}
		fields = append(fields, reflect.StructField{Name: f.Name, Type: reflect.PointerTo(t), Tag: reflect.StructTag(`yaml:"` + f.Tag.Get("yaml") + `"`)})
	}
	return reflect.StructOf(fields)
}()

func init() {
	// The decoder names this type when an account is not a mapping.
	goTypes[rawAccountType.String()] = goTypes["config.rawAccount"]
}

// apply applies the options the file sets in raw, a decoded
// rawAccountType, to s. An empty string leaves the option as it was, and so
// does an account that is null in the file (raw is then the zero Value: the
// decoder never reached it), as it sets nothing.
func (s *Settings) apply(raw reflect.Value) error {
	if !raw.IsValid() {
		return nil
	}
	v := reflect.ValueOf(s).Elem()
	for i, field := range reflect.VisibleFields(v.Type()) {
		p := raw.Field(i + 1)
		kind := field.Tag.Get("file")
		if p.IsNil() || (kind == "" && field.Type.Kind() == reflect.String && p.Elem().String() == "") {
			continue
		}
		if kind == "" {
			v.Field(i).Set(p.Elem())
			continue
		}
		text := p.Elem().String()
		var err error
		switch f := v.Field(i).Addr().Interface().(type) {
		case *model.Duration:
			*f, err = model.ParseDuration(text)
		case *units.Base2Bytes:
			*f, err = units.ParseBase2Bytes(text)
		default:
			panic(fmt.Sprintf("config: Settings.%s: no parser for type %T", field.Name, f))
		}
		if err != nil {
			return fmt.Errorf("%s %q is not %s", field.Tag.Get("yaml"), text, kind)
		}
	}
	return nil
}

// checkLimits refuses a negative cap.
func (s *Settings) checkLimits() error {
	v := reflect.ValueOf(s).Elem()
	for i, field := range reflect.VisibleFields(v.Type()) {
		if l, ok := v.Field(i).Interface().(Limit); ok && l < 0 {
			return fmt.Errorf("%s must not be negative (0 for no cap), not %d", field.Tag.Get("yaml"), l)
		}
	}
	return nil
}
