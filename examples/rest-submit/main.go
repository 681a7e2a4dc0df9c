// Command rest-submit submits a batch job to ibexd's REST API, waits for
// it to end and prints its output: a client in any language needs no more
// than this (HTTP, JSON and a bearer token). It uses only the standard
// library.
//
//	IBEX_TOKEN=$(cat .ibex-dev/admin.token) go run ./examples/rest-submit -N 2 -- hostname
//
// -url is ibexd's HTTP listener (--http, default http://127.0.0.1:7702);
// when it is not on loopback, ibexd serves it over TLS with the cluster
// certificate: give -ca-file (the server's DATADIR/tls/ca.pem).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rest-submit:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

// run submits, waits and prints; the exit code is the job's (1 if it did
// not complete).
func run(ctx context.Context, args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("rest-submit", flag.ContinueOnError)
	url := fs.String("url", envOr("IBEX_REST_URL", "http://127.0.0.1:7702"), "ibexd's HTTP listener (env IBEX_REST_URL)")
	token := fs.String("token", os.Getenv("IBEX_TOKEN"), "bearer token (env IBEX_TOKEN)")
	caFile := fs.String("ca-file", "", "PEM CA to verify an https -url with")
	nodes := fs.Int("N", 1, "nodes")
	limit := fs.Duration("t", 10*time.Minute, "time limit")
	name := fs.String("name", "rest-submit", "job name")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if fs.NArg() == 0 || *token == "" {
		return 0, errors.New("usage: IBEX_TOKEN=... rest-submit [-url URL] [-N nodes] [-t limit] -- command [args...]")
	}
	c := &client{base: strings.TrimSuffix(*url, "/"), token: *token, http: http.DefaultClient}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return 0, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return 0, fmt.Errorf("%s: no PEM certificate", *caFile)
		}
		c.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}

	// A request id makes the submit safe to retry: ibexd answers a repeat
	// with the first job's id instead of submitting twice.
	var submitted struct {
		JobID string `json:"job_id"` // 64-bit integers are JSON strings
	}
	err := c.do(ctx, "POST", "/v1/jobs", map[string]any{
		"name": *name, "num_nodes": *nodes, "time_limit": fmt.Sprintf("%ds", int(limit.Seconds())),
		"argv": fs.Args(), "request_id": requestID(),
	}, &submitted)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "submitted job %s\n", submitted.JobID)

	var job struct {
		State       string `json:"state"`
		Nodelist    string `json:"nodelist"`
		Reason      string `json:"reason"`
		HasExitCode bool   `json:"has_exit_code"`
		ExitCode    int    `json:"exit_code"`
	}
	for {
		if err := c.do(ctx, "GET", "/v1/jobs/"+submitted.JobID, nil, &job); err != nil {
			return 0, err
		}
		if ended(job.State) {
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	fmt.Fprintf(out, "job %s %s on %s (exit code %d) %s\n", submitted.JobID, job.State, job.Nodelist, job.ExitCode, job.Reason)

	var logs struct {
		Logs []struct {
			Node   string `json:"node"`
			Output string `json:"output"` // bytes are base64 in JSON
		} `json:"logs"`
	}
	if err := c.do(ctx, "GET", "/v1/jobs/"+submitted.JobID+"/logs", nil, &logs); err != nil {
		return 0, err
	}
	for _, l := range logs.Logs {
		b, err := base64.StdEncoding.DecodeString(l.Output)
		if err != nil {
			return 0, fmt.Errorf("output of %s: %w", l.Node, err)
		}
		for _, line := range strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n") {
			fmt.Fprintf(out, "%s: %s\n", l.Node, strings.TrimSuffix(line, "\n"))
		}
	}
	switch {
	case job.State == "completed":
		return 0, nil
	case job.HasExitCode && job.ExitCode != 0:
		return job.ExitCode, nil
	}
	return 1, nil
}

func ended(state string) bool {
	switch state {
	case "completed", "failed", "cancelled", "timeout":
		return true
	}
	return false
}

type client struct {
	base, token string
	http        *http.Client
}

// do sends one call; a non-200 answer is an error with ibexd's message
// (the body is {"code": GRPC_CODE, "message": ..., "details": [...]}).
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s %s: %s (HTTP %d)", method, path, e.Message, resp.StatusCode)
		}
		return fmt.Errorf("%s %s: HTTP %d: %.200s", method, path, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

func requestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
