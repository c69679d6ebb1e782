package b2see

import "time"

// Record is one record of the Batch Data API: a personalised video sent to a
// dealership's customer, with what the customer did with it.
//
// Record holds only what the exporter aggregates. Recipients' personal data
// (RecipientEmail, RecipientMobile) and free text (Title, descriptions,
// rating comments) are skipped by the decoder and never held in memory.
//
// JSON null, an absent field and the zero value decode alike: a zero Time
// means "no date", an empty string "no value". HasID and HasRating tell a
// missing BatchId or CustomerRating from a zero one.
type Record struct {
	ID    int64 // BatchId
	HasID bool

	DateCreated time.Time
	DateSent    time.Time

	SendingUserName string
	ProductType     string

	LandingPageFirstWatched time.Time
	LandingPageLastWatched  time.Time
	LandingPageWatchCount   int64
	VideoPlayCount          int64

	ImageLinkClicks int64
	FacebookClicks  int64
	GoogleClicks    int64

	CustomerActionState          string
	CustomerActionDate           time.Time
	CustomerActionPrice          float64
	CustomerActionPaymentOutcome string

	CustomerRating float64
	HasRating      bool
}
