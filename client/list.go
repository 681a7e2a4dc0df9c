package client

import (
	"context"

	"google.golang.org/protobuf/proto"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// AllJobs fetches every page of a job listing.
func AllJobs(ctx context.Context, c pb.JobsClient, req *pb.ListJobsRequest) ([]*pb.Job, error) {
	req = proto.Clone(req).(*pb.ListJobsRequest)
	var out []*pb.Job
	for {
		resp, err := c.List(ctx, req)
		if err != nil {
			return nil, err
		}
		out = append(out, resp.Jobs...)
		if resp.NextAfterId == 0 || resp.NextAfterId <= req.AfterId {
			return out, nil
		}
		req.AfterId = resp.NextAfterId
	}
}

// AllNodes fetches every page of the node listing.
func AllNodes(ctx context.Context, c pb.NodesClient) ([]*pb.Node, error) {
	req := &pb.ListNodesRequest{}
	var out []*pb.Node
	for {
		resp, err := c.List(ctx, req)
		if err != nil {
			return nil, err
		}
		out = append(out, resp.Nodes...)
		if resp.NextAfter == "" || resp.NextAfter <= req.After {
			return out, nil
		}
		req.After = resp.NextAfter
	}
}
