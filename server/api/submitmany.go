package api

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/convert"
)

// maxSubmitMany bounds the submissions of one SubmitMany call; with
// gRPC's 4 MiB message limit it bounds the call's raft entry.
const maxSubmitMany = 1000

// SubmitMany checks each submission as Submit does and commits the
// accepted ones as one fsm.Batch, which group commit keeps whole and in
// order inside the raft entry it shares with other writes, so their job
// ids follow the request's order. The call pays for one RPC, one
// authentication and one queue slot instead of one each. Each answer is
// Submit's: a job id, or the code and message of the refusal; a refused
// submission writes nothing and does not stop the others. A retry with
// the same request ids returns the same job ids, as Submit's does.
func (j *jobsService) SubmitMany(ctx context.Context, req *pb.SubmitManyRequest) (*pb.SubmitManyResponse, error) {
	n := len(req.GetJobs())
	if n == 0 {
		return nil, status.Error(codes.InvalidArgument, "no jobs to submit")
	}
	if n > maxSubmitMany {
		return nil, status.Errorf(codes.InvalidArgument, "%d jobs in one call: at most %d; split them over several calls", n, maxSubmitMany)
	}
	out := &pb.SubmitManyResponse{Results: make([]*pb.SubmitResult, n)}
	refuse := func(i int, err error) {
		st := status.Convert(err)
		out.Results[i] = &pb.SubmitResult{Code: int32(st.Code()), Error: st.Message()}
	}
	now := j.a.cfg.Store.Now()
	batch := &fsm.Batch{}
	var at []int // batch.Commands[k] is the submission at[k]
	for i, r := range req.Jobs {
		job, err := j.prepareSubmit(ctx, r)
		if err != nil {
			refuse(i, err)
			continue
		}
		batch.Commands = append(batch.Commands, &fsm.SubmitJob{Job: *job, Time: now})
		at = append(at, i)
	}
	if len(at) == 0 {
		return out, nil
	}
	v, err := j.a.cfg.Store.Apply(ctx, batch)
	if err != nil {
		return nil, convert.Status(err)
	}
	res, ok := v.(fsm.BatchResults)
	if !ok || len(res) != len(at) {
		return nil, status.Errorf(codes.Internal, "a batch of %d submissions answered %T", len(at), v)
	}
	for k, i := range at {
		if res[k].Err != nil {
			refuse(i, convert.Status(res[k].Err))
			continue
		}
		id, ok := res[k].Value.(uint64)
		if !ok {
			refuse(i, status.Error(codes.Internal, fmt.Sprintf("submission answered %T", res[k].Value)))
			continue
		}
		out.Results[i] = &pb.SubmitResult{JobId: id}
	}
	return out, nil
}
