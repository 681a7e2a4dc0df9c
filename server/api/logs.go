package api

import (
	"context"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
)

const (
	// logChunkBytes bounds one LogChunk's data, so output of any size
	// streams in messages far below gRPC's 4 MiB limit.
	logChunkBytes = 1 << 20
	// followPoll is how often a followed job's output is read again once
	// everything written so far was sent.
	followPoll = 250 * time.Millisecond
)

// logJob is what StreamLogs needs of a job, live or archived.
type logJob struct {
	id          uint64
	nodes       []string
	interactive bool
	ended       bool
}

// StreamLogs streams a job's output, node after node, in chunks of at
// most logChunkBytes; with follow it keeps reading until the job ended and
// everything was sent. Only the leader reaches the agents that hold the
// output, so a follower answers Unavailable naming the leader (header and
// trailer ibex-leader-api) and the client retries there.
func (j *jobsService) StreamLogs(req *pb.StreamLogsRequest, stream pb.Jobs_StreamLogsServer) error {
	t, err := auth.Authenticate(stream.Context(), j.a.cfg.Store)
	if err != nil {
		return err
	}
	ctx := auth.WithCaller(stream.Context(), t)
	if !j.a.cfg.Cluster.IsLeader() {
		if addr := j.a.LeaderAPI(); addr != "" {
			md := metadata.Pairs(mdLeaderHint, addr)
			_ = stream.SetHeader(md)
			stream.SetTrailer(md)
			return status.Errorf(codes.Unavailable, "not the leader: job output streams from the leader at %s", addr)
		}
		return status.Error(codes.Unavailable, "no leader elected yet; retry shortly")
	}
	job, err := j.logJob(ctx, req.JobId)
	if err != nil {
		return err
	}
	for req.Follow && len(job.nodes) == 0 && !job.ended { // pending: wait for its nodes
		if err := sleepCtx(ctx, followPoll); err != nil {
			return err
		}
		if job, err = j.logJob(ctx, req.JobId); err != nil {
			return err
		}
	}
	nodes := job.nodes
	if req.Node != "" {
		if !slices.Contains(job.nodes, req.Node) {
			return status.Errorf(codes.NotFound, "job %d did not run on %s", job.id, req.Node)
		}
		nodes = []string{req.Node}
	}
	// An allocation's output is what was exec'd into it (ibex exec, the
	// MPI daemons), logged on each node like a batch job's.
	streams, err := logStreams(req.Stream)
	if err != nil {
		return err
	}
	for _, node := range nodes {
		if req.Follow && len(streams) == 2 {
			if err := j.followBoth(ctx, stream, job.id, node); err != nil {
				return err
			}
			continue
		}
		for _, s := range streams {
			if err := j.streamNode(ctx, stream, job.id, node, s, req.Follow); err != nil {
				return err
			}
		}
	}
	return nil
}

// streamNode sends one node's output from the start. Every node gets at
// least one chunk, the last one, whose eof says whether the job had ended
// (so the output is complete).
func (j *jobsService) streamNode(ctx context.Context, stream pb.Jobs_StreamLogsServer, jobID uint64, node, which string, follow bool) error {
	var off int64
	for {
		// Whether the job ended is read before the output: an end of
		// output found after the job ended is the end for good.
		ended := j.jobEnded(jobID)
		data, eof, err := j.readStream(ctx, jobID, node, which, off)
		if err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return status.Errorf(codes.Unavailable, "read the output of job %d on %s: %v", jobID, node, err)
		}
		if len(data) > logChunkBytes {
			return status.Errorf(codes.Internal, "output of job %d on %s: %d bytes read, more than the %d asked", jobID, node, len(data), logChunkBytes)
		}
		if len(data) > 0 {
			if err := stream.Send(&pb.LogChunk{Node: node, Offset: off, Data: data, Stream: which}); err != nil {
				return err
			}
			off += int64(len(data))
			if !eof {
				continue
			}
		}
		if ended || !follow {
			return stream.Send(&pb.LogChunk{Node: node, Offset: off, Eof: ended, Stream: which})
		}
		if err := sleepCtx(ctx, followPoll); err != nil {
			return status.FromContextError(err).Err()
		}
	}
}

// logJob finds the caller's job, live or archived.
func (j *jobsService) logJob(ctx context.Context, id uint64) (*logJob, error) {
	job, err := j.visibleJob(ctx, id)
	if err == nil {
		return &logJob{id: job.ID, nodes: job.Nodes, interactive: job.Interactive, ended: job.State.Terminal()}, nil
	}
	if j.a.cfg.Archive == nil {
		return nil, err
	}
	pj, err := j.a.cfg.Archive.Job(ctx, id, err)
	if err != nil {
		return nil, err
	}
	return &logJob{id: pj.Id, nodes: pj.Nodes, interactive: pj.Interactive, ended: true}, nil
}

// jobEnded reports whether the job is over (or no longer live).
func (j *jobsService) jobEnded(id uint64) bool {
	ended := true
	j.a.cfg.Store.Read(func(st *fsm.State) {
		if job, ok := st.Jobs[id]; ok {
			ended = job.State.Terminal()
		}
	})
	return ended
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
