package b2see

import (
	"errors"
	"time"
)

var (
	errBadDate      = errors.New("unrecognised date format")
	errDateRange    = errors.New("date out of range")
	errBadDateMilli = errors.New("unrecognised /Date(...)/ format")
)

// parseTime parses a date as .NET services write it and returns it in UTC:
//
//	2021-05-13T10:53:44Z, 2021-05-13T10:53:44.1234567Z  ISO 8601, any number of fraction digits
//	2021-05-13T10:53:44+01:00, ...-0500                 with an offset
//	2021-05-13T10:53:44                                 DateTimeKind.Unspecified, taken as UTC
//	2021-05-13 10:53:44                                 a space for the T
//	/Date(1620903224000)/, /Date(1620903224000+0100)/   the old DataContract form, milliseconds since 1970 UTC
//
// The empty string and DateTime.MinValue (0001-01-01T00:00:00) mean no date
// and give the zero Time. It does not use time.Parse: it runs for up to five
// fields of every record, and the fixed ISO layout is quicker read by hand.
// Errors never repeat the input.
func parseTime(b []byte) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, nil
	}
	if b[0] == '/' {
		return parseDotNetDate(b)
	}
	// YYYY-MM-DD
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return time.Time{}, errBadDate
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, errBadDate
	}
	var hour, minute, sec, nsec int
	var offset int // seconds east of UTC
	if len(b) > 10 {
		if c := b[10]; c != 'T' && c != 't' && c != ' ' {
			return time.Time{}, errBadDate
		}
		var i int
		var ok bool
		if hour, minute, sec, nsec, i, ok = parseClock(b, 11); !ok {
			return time.Time{}, errBadDate
		}
		if i < len(b) {
			switch b[i] {
			case 'Z', 'z':
				i++
			case '+', '-':
				if offset, ok = parseOffset(b[i:]); !ok {
					return time.Time{}, errBadDate
				}
				i = len(b)
			default:
				return time.Time{}, errBadDate
			}
		}
		if i != len(b) {
			return time.Time{}, errBadDate
		}
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errDateRange
	}
	if year == 1 && month == 1 && day == 1 && hour == 0 && minute == 0 && sec == 0 && nsec == 0 {
		// DateTime.MinValue: .NET's "no date" for non-nullable fields.
		return time.Time{}, nil
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, nil
}

// parseClock reads hh:mm[:ss][.fraction] from b at i and returns where it
// stopped. The fraction may have any number of digits: .NET writes up to
// 7 (ticks); past nanoseconds they are dropped.
func parseClock(b []byte, i int) (hour, minute, sec, nsec, end int, ok bool) {
	if len(b) < i+5 || b[i+2] != ':' {
		return 0, 0, 0, 0, i, false
	}
	hour, ok1 := digits(b[i : i+2])
	minute, ok2 := digits(b[i+3 : i+5])
	ok3 := true
	i += 5
	if i < len(b) && b[i] == ':' {
		if len(b) < i+3 {
			return 0, 0, 0, 0, i, false
		}
		sec, ok3 = digits(b[i+1 : i+3])
		i += 3
	}
	if !ok1 || !ok2 || !ok3 {
		return 0, 0, 0, 0, i, false
	}
	if i < len(b) && (b[i] == '.' || b[i] == ',') {
		i++
		start := i
		scale := int(1e8)
		for ; i < len(b) && isDigit(b[i]); i++ {
			nsec += int(b[i]-'0') * scale
			scale /= 10
		}
		if i == start {
			return 0, 0, 0, 0, i, false
		}
	}
	return hour, minute, sec, nsec, i, true
}

// parseOffset reads a whole offset from UTC, +01, +0100 or +01:00 (or with
// '-'), and returns it in seconds east of UTC.
func parseOffset(b []byte) (int, bool) {
	sign := 1
	if b[0] == '-' {
		sign = -1
	}
	var oh, om int
	var ok bool
	switch rest := b[1:]; {
	case len(rest) == 2: // +01
		oh, ok = digits(rest)
	case len(rest) == 4: // +0100
		oh, ok = digits(rest[:2])
		if ok {
			om, ok = digits(rest[2:])
		}
	case len(rest) == 5 && rest[2] == ':': // +01:00
		oh, ok = digits(rest[:2])
		if ok {
			om, ok = digits(rest[3:])
		}
	}
	if !ok || oh > 23 || om > 59 {
		return 0, false
	}
	return sign * (oh*3600 + om*60), true
}

// parseDotNetDate parses /Date(ms)/ and /Date(ms+hhmm)/. The milliseconds
// are UTC already; the offset only says where the writer was, so it is
// checked and dropped.
func parseDotNetDate(b []byte) (time.Time, error) {
	const prefix, suffix = "/Date(", ")/"
	if len(b) < len(prefix)+len(suffix)+1 || string(b[:len(prefix)]) != prefix ||
		string(b[len(b)-len(suffix):]) != suffix {
		return time.Time{}, errBadDateMilli
	}
	b = b[len(prefix) : len(b)-len(suffix)]
	i, neg := 0, false
	if b[0] == '-' {
		i, neg = 1, true
	}
	start := i
	var ms int64
	for ; i < len(b) && isDigit(b[i]); i++ {
		if ms > (1<<62)/10 {
			return time.Time{}, errDateRange
		}
		ms = ms*10 + int64(b[i]-'0')
	}
	if i == start {
		return time.Time{}, errBadDateMilli
	}
	if i < len(b) {
		if rest := b[i:]; len(rest) != 5 || rest[0] != '+' && rest[0] != '-' {
			return time.Time{}, errBadDateMilli
		} else if oh, ok1 := digits(rest[1:3]); !ok1 || oh > 23 {
			return time.Time{}, errBadDateMilli
		} else if om, ok2 := digits(rest[3:5]); !ok2 || om > 59 {
			return time.Time{}, errBadDateMilli
		}
	}
	if neg {
		ms = -ms
	}
	// DateTime's range, 0001-01-01 to 9999-12-31, in Unix milliseconds.
	if ms < -62135596800000 || ms > 253402300799999 {
		return time.Time{}, errDateRange
	}
	return time.UnixMilli(ms).UTC(), nil
}

// digits parses a fixed-width unsigned decimal.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
