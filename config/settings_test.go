package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"

	"github.com/b2see-exporter/b2see_exporter/b2see"
)

// TestSettingsFlagsAndFileAgree: for every option, the flag's default and
// the default of an account of the file that leaves it out are the same
// value, DefaultSettings'.
func TestSettingsFlagsAndFileAgree(t *testing.T) {
	app := kingpin.New("test", "")
	var flags Settings
	flags.AddFlags(app)
	if _, err := app.Parse(nil); err != nil {
		t.Fatal(err)
	}
	want := DefaultSettings()
	const file = "accounts: [{name: n, customer_id: '1', api_key_env: B2SEE_NORTH_KEY}]"
	for _, tt := range []struct {
		name     string
		defaults Settings
	}{
		{"the flags' values", flags},
		// Zero fields mean the defaults; a boolean's or a limit's zero is a choice.
		{"zero defaults", Settings{SenderLabel: want.SenderLabel, MaxSenders: want.MaxSenders,
			MaxProductTypes: want.MaxProductTypes, MaxActionStates: want.MaxActionStates,
			MaxPaymentOutcomes: want.MaxPaymentOutcomes, MaxRatings: want.MaxRatings, MaxSeries: want.MaxSeries}},
	} {
		c, err := Parse([]byte(file), Options{Defaults: tt.defaults, LookupEnv: lookupTestEnv})
		if err != nil {
			t.Fatal(err)
		}
		got := c.Accounts[0].Settings
		for _, f := range reflect.VisibleFields(reflect.TypeOf(want)) {
			fv := reflect.ValueOf(flags).FieldByIndex(f.Index).Interface()
			dv := reflect.ValueOf(want).FieldByIndex(f.Index).Interface()
			av := reflect.ValueOf(got).FieldByIndex(f.Index).Interface()
			if fv != dv || av != dv {
				t.Errorf("%s, %s: --%s defaults to %v, the file's %s to %v, DefaultSettings has %v",
					tt.name, f.Name, f.Tag.Get("flag"), fv, f.Tag.Get("yaml"), av, dv)
			}
		}
	}
}

// TestSettingsDeclared: every option has its file field, flag and help,
// and the help names the placeholder the client replaces.
func TestSettingsDeclared(t *testing.T) {
	app := kingpin.New("test", "")
	var s Settings
	s.AddFlags(app)
	for _, f := range reflect.VisibleFields(reflect.TypeOf(s)) {
		for _, tag := range []string{"yaml", "flag", "help"} {
			if f.Tag.Get(tag) == "" {
				t.Errorf("Settings.%s has no %s tag", f.Name, tag)
			}
		}
		if app.GetFlag(f.Tag.Get("flag")) == nil {
			t.Errorf("Settings.%s: no flag --%s", f.Name, f.Tag.Get("flag"))
		}
	}
	for _, f := range app.Model().Flags {
		if f.Name == "b2see.cakes-path" && !strings.Contains(f.Help, b2see.CustomerIDPlaceholder) {
			t.Errorf("--b2see.cakes-path's help does not name %s", b2see.CustomerIDPlaceholder)
		}
	}
}

// TestSettingsFromFile: each option the file sets is read, and a value of
// the wrong kind is refused naming the option, as before options were
// declared in Settings.
func TestSettingsFromFile(t *testing.T) {
	const base = "accounts: [{name: n, customer_id: '1', api_key_env: B2SEE_NORTH_KEY"
	c, err := Parse([]byte(base+", days_of_history: 3, url: 'http://127.0.0.1:1', cakes_path: /c, sender_label: false, min_interval: 2m, max_body_size: 2KiB, max_senders: 0, max_product_types: 3, max_action_states: 4, max_payment_outcomes: 5, max_ratings: 6, max_series: 7}]"),
		Options{Defaults: DefaultSettings(), LookupEnv: lookupTestEnv})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Accounts[0].Settings
	want := Settings{DaysOfHistory: 3, URL: "http://127.0.0.1:1", CakesPath: "/c", SenderLabel: false, MinInterval: 120e9, MaxBodySize: 2048,
		MaxSenders: 0, MaxProductTypes: 3, MaxActionStates: 4, MaxPaymentOutcomes: 5, MaxRatings: 6, MaxSeries: 7}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, tt := range []struct{ extra, want string }{
		{", min_interval: soon}]", `account 1 ("n"): min_interval "soon" is not a duration such as 30s or 5m`},
		{", min_interval: ''}]", `account 1 ("n"): min_interval "" is not a duration such as 30s or 5m`},
		{", max_body_size: big}]", `account 1 ("n"): max_body_size "big" is not a size such as 512MiB or 1GiB`},
		{", days_of_history: many}]", `account 1 ("n"): line 1: expected an integer, found a string`},
		{", sender_label: 3}]", `account 1 ("n"): line 1: expected true or false, found an integer`},
		{", max_senders: -1}]", `account 1 ("n"): max_senders must not be negative (0 for no cap), not -1`},
	} {
		_, err := Parse([]byte(base+tt.extra), Options{LookupEnv: lookupTestEnv})
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: error %v, want %s", tt.extra, err, tt.want)
		}
	}
	_, err = Parse([]byte("accounts: [north]"), Options{})
	if want := "account 1: line 1: expected an account (a mapping), found a string"; err == nil || err.Error() != want {
		t.Errorf("an account that is no mapping: %v, want %s", err, want)
	}
}

// TestLimitZeroIsAChoice: a cap of 0 from the flags (no cap) is what an
// account that leaves it out gets, not the default cap.
func TestLimitZeroIsAChoice(t *testing.T) {
	d := DefaultSettings()
	d.MaxSenders, d.MaxSeries = 0, 0
	c, err := Parse([]byte("accounts: [{name: n, customer_id: '1', api_key_env: B2SEE_NORTH_KEY}]"),
		Options{Defaults: d, LookupEnv: lookupTestEnv})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Accounts[0].Settings; s.MaxSenders != 0 || s.MaxSeries != 0 || s.MaxRatings != DefaultMaxValues {
		t.Errorf("caps %d, %d, %d; want 0, 0 and %d", s.MaxSenders, s.MaxSeries, s.MaxRatings, DefaultMaxValues)
	}
}
