package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/server/control"
)

// Output streams of StreamLogs (#15.2): nodes keep a job's stdout and
// stderr apart, and `ibex logs` shows them labelled, or one with --stdout
// or --stderr.
const (
	streamStdout = "stdout"
	streamStderr = "stderr"
)

// logStreams are the streams a StreamLogsRequest asks for, in order.
func logStreams(s string) ([]string, error) {
	switch s {
	case "":
		return []string{streamStdout, streamStderr}, nil
	case streamStdout, streamStderr:
		return []string{s}, nil
	}
	return nil, status.Errorf(codes.InvalidArgument, "unknown output stream %q: use stdout or stderr", truncateArg(s))
}

// readStream reads one stream of a node's output; executors that keep
// the output merged have it all in stdout.
func (j *jobsService) readStream(ctx context.Context, jobID uint64, node, stream string, off int64) ([]byte, bool, error) {
	if sr, ok := j.a.cfg.Outputs.(control.StreamReader); ok {
		return sr.ReadStream(ctx, jobID, node, stream, off, logChunkBytes)
	}
	if stream == streamStderr {
		return nil, true, nil
	}
	return j.a.cfg.Outputs.ReadOutput(ctx, jobID, node, off, logChunkBytes)
}

func truncateArg(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
