// Package b2see is a client of B2see's public APIs: the Batch Data API (the
// "cakes" endpoint), which lists the video batches an account has sent with
// their engagement counts, and the batches API, which reports one batch's
// processing status.
//
// The package knows nothing of Prometheus. It must never let the API key or
// a recipient's personal data out: the key is redacted from every error, and
// the decoder skips personal data and free text instead of holding them.
package b2see
