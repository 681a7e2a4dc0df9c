package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
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
	var jobs []*model.Job
	var at []int // jobs[k] is the submission at[k]
	for i, r := range req.Jobs {
		job, err := j.prepareSubmit(ctx, r)
		if err != nil {
			refuse(i, err)
			continue
		}
		jobs = append(jobs, job)
		at = append(at, i)
	}
	if len(at) == 0 {
		return out, nil
	}
	ids, errs, err := j.commitSubmits(ctx, jobs)
	if err != nil {
		return nil, err
	}
	for k, i := range at {
		if errs[k] != nil {
			refuse(i, errs[k])
			continue
		}
		out.Results[i] = &pb.SubmitResult{JobId: ids[k]}
	}
	return out, nil
}
