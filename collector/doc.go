// Package collector turns B2see batch records into Prometheus metrics at
// scrape time.
//
// An Account reads one B2see account through a b2see client and keeps what
// must outlive a scrape (the last good result, error counts). A Collector
// is made per scrape request, carries that request's deadline, and emits
// const metrics for its accounts. Descriptors are built once, here.
//
// The package knows nothing of HTTP details, and does no disk I/O: what
// must outlive a restart (the counters, the batch statuses) is saved and
// loaded by package state, and this package imports neither os nor
// syscall. Recipients' personal data and
// free text never become label values: the b2see decoder does not even
// hold them.
package collector
