package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// debugListenFlag serves Go's profiling endpoints (/debug/pprof/: CPU
// profile, execution trace, goroutines) for measuring a running server,
// e.g. a CPU profile of only a benchmark's busy window where --cpuprofile
// also takes in start-up. Off by default; it listens only on a loopback
// address, since a profile shows the server's internals to whoever asks.
var debugListenFlag = &ucli.StringFlag{Name: "debug-listen", Usage: "serve /debug/pprof/ (CPU profiles, execution traces) on loopback `ADDR`, e.g. 127.0.0.1:6060; empty: off"}

// startDebugListener starts the /debug/pprof/ server when --debug-listen
// names an address; it refuses any address that is not loopback.
func startDebugListener(c *ucli.Context) error {
	addr := c.String("debug-listen")
	if addr == "" {
		return nil
	}
	if err := checkDebugAddr(addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--debug-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	go http.Serve(ln, mux) //nolint:errcheck // ends with the process
	return nil
}

// checkDebugAddr accepts only HOST:PORT with a loopback host.
func checkDebugAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--debug-listen %q: %w (want HOST:PORT on loopback, e.g. 127.0.0.1:6060)", addr, err)
	}
	if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--debug-listen %q: profiles expose the server's internals; give a loopback address such as 127.0.0.1:6060", addr)
	}
	return nil
}
