// Package b2seetest is a fake of B2see's two upstream APIs, the Batch Data
// API (the "cakes" endpoint) and the batches status API, for tests and for
// the exporter's demo mode. It serves realistic generated data and can be
// told to misbehave in the ways real services do: error pages, rate limits,
// cut and reset connections, hangs, slow bodies, malformed and oversized
// bodies, gzip bombs.
//
// The fake follows the published documentation on its own and must not
// import the client package or any other package of the project: a client
// tested against a fake that shares its code could silently depend on the
// fake's conventions instead of the documented ones. Where the documentation
// is silent the fake's choice is marked as a guess.
package b2seetest
