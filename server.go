package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/mdlayher/vsock"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/net/netutil"
)

// serverLimits bound what a client of the exporter's web server may hold:
// without them, idle keep-alive connections or requests sent a byte at a
// time use up the process's file descriptors. They are fields so that
// tests can shorten them.
type serverLimits struct {
	headerTimeout  time.Duration // to send the request line and headers
	readTimeout    time.Duration // to send the whole request, body included
	idleTimeout    time.Duration // for a keep-alive connection to send its next request
	maxHeaderBytes int
}

// defaultLimits are those of the exporter. Prometheus sends its next
// scrape on a kept-alive connection within its scrape interval, or opens
// a new one; the headers it sends are a few hundred bytes.
var defaultLimits = serverLimits{
	headerTimeout:  10 * time.Second,
	readTimeout:    15 * time.Second,
	idleTimeout:    60 * time.Second,
	maxHeaderBytes: 64 << 10,
}

// defaultMaxConnections is the --web.max-connections default: well above
// what Prometheus servers, browsers and probes hold, and well below the
// usual limit of 1024 open files.
const defaultMaxConnections = 512

// newServer is the exporter's HTTP server, serving handler within limits.
func newServer(handler http.Handler, limits serverLimits) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: limits.headerTimeout,
		ReadTimeout:       limits.readTimeout,
		IdleTimeout:       limits.idleTimeout,
		MaxHeaderBytes:    limits.maxHeaderBytes,
	}
}

// listen opens the listeners exporter-toolkit's web.ListenAndServe would
// open (the listen addresses, vsock ones included, or systemd's sockets),
// each accepting at most maxConns connections at once; 0 is no limit.
// Connections beyond the limit wait in the kernel's queue, holding no file
// descriptor of the process, until one is closed.
func listen(f *web.FlagConfig, maxConns int) ([]net.Listener, error) {
	var ls []net.Listener
	if f.WebSystemdSocket != nil && *f.WebSystemdSocket {
		all, err := activation.Listeners()
		if err != nil {
			return nil, fmt.Errorf("--web.systemd-socket: %w", err)
		}
		for _, l := range all {
			if l != nil { // a passed file that is not a listening socket
				ls = append(ls, l)
			}
		}
		if len(ls) == 0 {
			return nil, errors.New("--web.systemd-socket: no socket activation file descriptors found")
		}
	} else {
		if f.WebListenAddresses == nil || len(*f.WebListenAddresses) == 0 {
			return nil, web.ErrNoListeners
		}
		for _, addr := range *f.WebListenAddresses {
			l, err := listenOn(addr)
			if err != nil {
				for _, l := range ls {
					l.Close()
				}
				return nil, err
			}
			ls = append(ls, l)
		}
	}
	if maxConns > 0 {
		for i, l := range ls {
			ls[i] = netutil.LimitListener(l, maxConns)
		}
	}
	return ls, nil
}

// listenOn listens on a TCP address, or on a vsock port given as
// vsock://:PORT.
func listenOn(addr string) (net.Listener, error) {
	rest, ok := strings.CutPrefix(addr, "vsock://")
	if !ok {
		return net.Listen("tcp", addr)
	}
	_, port, err := net.SplitHostPort(rest)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: the vsock port must be a number", addr)
	}
	return vsock.Listen(uint32(p), nil)
}
