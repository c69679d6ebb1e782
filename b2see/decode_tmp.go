package b2see

// TEMPORARY stand-in until the streaming decoder lands.

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

type BodyError struct {
	Offset int64
	Reason string
}

func (e *BodyError) Error() string {
	return fmt.Sprintf("bad response body at byte %d: %s", e.Offset, e.Reason)
}

type Decoder struct {
	d       *json.Decoder
	started bool
}

func NewDecoder(r io.Reader) *Decoder { return &Decoder{d: json.NewDecoder(r)} }

type tmpRec struct {
	BatchId                                                                         *int64
	DateCreated, DateSent, LandingPageFirstWatched, LandingPageLastWatched          *time.Time
	SendingUserName, ProductType, CustomerActionState, CustomerActionPaymentOutcome *string
	LandingPageWatchCount, VideoPlayCount, ImageLinkClicks, FacebookClicks          int64
	GoogleClicks                                                                    int64
	CustomerActionDate                                                              *time.Time
	CustomerActionPrice                                                             float64
	CustomerRating                                                                  *float64
}

func (d *Decoder) Next(b *Batch) error {
	if !d.started {
		t, err := d.d.Token()
		if err != nil {
			return &BodyError{Reason: err.Error()}
		}
		if t != json.Delim('[') {
			return &BodyError{Reason: "want an array"}
		}
		d.started = true
	}
	if !d.d.More() {
		if _, err := d.d.Token(); err != nil {
			return &BodyError{Reason: err.Error()}
		}
		return io.EOF
	}
	var r tmpRec
	if err := d.d.Decode(&r); err != nil {
		return &BodyError{Reason: err.Error()}
	}
	*b = Batch{}
	if r.BatchId != nil {
		b.ID, b.HasID = *r.BatchId, true
	}
	t := func(p *time.Time) time.Time {
		if p == nil {
			return time.Time{}
		}
		return p.UTC()
	}
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	b.DateCreated, b.DateSent, b.LandingPageFirstWatched, b.LandingPageLastWatched = t(r.DateCreated), t(r.DateSent), t(r.LandingPageFirstWatched), t(r.LandingPageLastWatched)
	b.CustomerActionDate = t(r.CustomerActionDate)
	b.SendingUserName, b.ProductType, b.CustomerActionState, b.CustomerActionPaymentOutcome = s(r.SendingUserName), s(r.ProductType), s(r.CustomerActionState), s(r.CustomerActionPaymentOutcome)
	b.LandingPageWatchCount, b.VideoPlayCount, b.ImageLinkClicks, b.FacebookClicks, b.GoogleClicks = r.LandingPageWatchCount, r.VideoPlayCount, r.ImageLinkClicks, r.FacebookClicks, r.GoogleClicks
	b.CustomerActionPrice = r.CustomerActionPrice
	if r.CustomerRating != nil {
		b.CustomerRating, b.HasRating = *r.CustomerRating, true
	}
	return nil
}
