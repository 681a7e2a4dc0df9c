package client

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// streamOpenWait bounds how long StreamLogs looks for a server that
// streams (the leader), as Invoke's retries do for unary calls.
const streamOpenWait = 15 * time.Second

// StreamLogs streams a job's output, handing each chunk to each in order,
// until the stream ends (with follow, when the job ended and everything
// was sent). Only the leader streams output; until the first chunk
// arrives, a server that answers Unavailable is left for the leader it
// names (trailer ibex-leader-api) or the next server. Once output has
// arrived a failure is returned, not retried: a retry would repeat it.
func (c *Client) StreamLogs(ctx context.Context, req *pb.StreamLogsRequest, each func(*pb.LogChunk) error) error {
	m := c.Conn
	m.mu.Lock()
	i := m.next
	m.mu.Unlock()
	openCtx, cancel := context.WithTimeout(ctx, streamOpenWait)
	defer cancel()
	var lastErr error
	for attempt := 1; ; attempt++ {
		sctx, stop := context.WithCancel(ctx)
		stream, err := pb.NewJobsClient(m.conns[i]).StreamLogs(c.Context(sctx), req)
		var first *pb.LogChunk
		if err == nil {
			first, err = stream.Recv()
		}
		if err == nil || errors.Is(err, io.EOF) {
			m.mu.Lock()
			m.next = i
			m.mu.Unlock()
			defer stop()
			for err == nil {
				if err = each(first); err != nil {
					return err
				}
				first, err = stream.Recv()
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		stop()
		if status.Code(err) != codes.Unavailable {
			return err
		}
		if terr := m.explain(i, err); terr != nil {
			return terr
		}
		lastErr = err
		next := (i + 1) % len(m.conns)
		if stream != nil {
			if hint := stream.Trailer().Get("ibex-leader-api"); len(hint) > 0 {
				for j, a := range m.addrs {
					if a == hint[0] {
						next = j
					}
				}
			}
		}
		i = next
		if attempt%len(m.conns) == 0 { // every server tried: back off
			select {
			case <-openCtx.Done():
				return lastErr
			case <-time.After(100 * time.Millisecond):
			}
		}
		if openCtx.Err() != nil {
			return lastErr
		}
	}
}
