// Command grpc-submit does what rest-submit does over gRPC with the
// generated client (proto/ibexv1) and the ibex client package, which
// verifies the server by the cluster CA's pin as the CLI does. It first
// asks the standard gRPC health service whether the server can answer.
//
//	IBEX_TOKEN=$(cat .ibex-dev/admin.token) IBEX_CA_PIN=$(cat .ibex-dev/tls/ca.pin) \
//	  go run ./examples/grpc-submit -N 2 -- hostname
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpc-submit:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("grpc-submit", flag.ContinueOnError)
	addr := fs.String("addr", envOr("IBEX_ADDR", "127.0.0.1:7700"), "ibexd's gRPC API (env IBEX_ADDR)")
	token := fs.String("token", os.Getenv("IBEX_TOKEN"), "bearer token (env IBEX_TOKEN)")
	pin := fs.String("ca-pin", os.Getenv("IBEX_CA_PIN"), "the cluster CA's pin, DATADIR/tls/ca.pin (env IBEX_CA_PIN)")
	nodes := fs.Int("N", 1, "nodes")
	limit := fs.Duration("t", 10*time.Minute, "time limit")
	name := fs.String("name", "grpc-submit", "job name")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if fs.NArg() == 0 || *token == "" || *pin == "" {
		return 0, errors.New("usage: IBEX_TOKEN=... IBEX_CA_PIN=... grpc-submit [-addr ADDR] [-N nodes] [-t limit] -- command [args...]")
	}
	cl, err := client.New(*addr, *token, client.WithCAPin(*pin))
	if err != nil {
		return 0, err
	}
	defer cl.Close()

	// Health needs no token: SERVING means the server knows a leader.
	h, err := healthpb.NewHealthClient(cl.Conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return 0, err
	}
	if h.Status != healthpb.HealthCheckResponse_SERVING {
		return 0, fmt.Errorf("ibexd at %s is %s: no leader elected yet, try again shortly", *addr, h.Status)
	}

	ctx = cl.Context(ctx) // adds "authorization: Bearer TOKEN"
	rid := make([]byte, 16)
	rand.Read(rid)
	r, err := cl.Jobs.Submit(ctx, &pb.SubmitRequest{Name: *name, NumNodes: int32(*nodes), TimeLimit: durationpb.New(*limit),
		Argv: fs.Args(), RequestId: hex.EncodeToString(rid)})
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "submitted job %d\n", r.JobId)
	var job *pb.Job
	for {
		if job, err = cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: r.JobId}); err != nil {
			return 0, err
		}
		if job.EndTime != nil {
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	fmt.Fprintf(out, "job %d %s on %s (exit code %d) %s\n", job.Id, job.State, job.Nodelist, job.ExitCode, job.Reason)
	err = cl.StreamLogs(ctx, &pb.StreamLogsRequest{JobId: r.JobId}, func(c *pb.LogChunk) error {
		if len(c.Data) > 0 {
			fmt.Fprintf(out, "--- %s\n%s", c.Node, c.Data)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	switch {
	case job.State == "completed":
		return 0, nil
	case job.HasExitCode && job.ExitCode != 0:
		return int(job.ExitCode), nil
	}
	return 1, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
