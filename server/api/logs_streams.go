package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
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

// followBoth follows a node's stdout and stderr together, sending what
// either gained as it comes, until the job ended and both were sent
// whole; each ends with an eof chunk.
func (j *jobsService) followBoth(ctx context.Context, stream pb.Jobs_StreamLogsServer, jobID uint64, node string) error {
	off := map[string]int64{}
	for {
		ended := j.jobEnded(jobID) // read before the output, as streamNode does
		progressed := false
		for _, s := range []string{streamStdout, streamStderr} {
			for {
				data, eof, err := j.readStream(ctx, jobID, node, s, off[s])
				if err != nil {
					if ctx.Err() != nil {
						return status.FromContextError(ctx.Err()).Err()
					}
					return status.Errorf(codes.Unavailable, "read the %s of job %d on %s: %v", s, jobID, node, err)
				}
				if len(data) > logChunkBytes {
					return status.Errorf(codes.Internal, "output of job %d on %s: %d bytes read, more than the %d asked", jobID, node, len(data), logChunkBytes)
				}
				if len(data) > 0 {
					if err := stream.Send(&pb.LogChunk{Node: node, Offset: off[s], Data: data, Stream: s}); err != nil {
						return err
					}
					off[s] += int64(len(data))
					progressed = true
				}
				if eof || len(data) == 0 {
					break
				}
			}
		}
		if ended {
			for _, s := range []string{streamStdout, streamStderr} {
				if err := stream.Send(&pb.LogChunk{Node: node, Offset: off[s], Eof: true, Stream: s}); err != nil {
					return err
				}
			}
			return nil
		}
		if !progressed {
			if err := sleepCtx(ctx, followPoll); err != nil {
				return status.FromContextError(err).Err()
			}
		}
	}
}
