// Package convert maps model values and FSM/raft errors to their gRPC forms.
package convert

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ibex-hpc/ibex/hostlist"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/cluster"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// MaxArgs bounds the words of a command in a request (submit, exec).
const MaxArgs = 1024

// Job is a job as the API shows it.
func Job(j *model.Job) *pb.Job {
	out := &pb.Job{
		Id: j.ID, Name: j.Name, Tenant: j.Tenant, State: string(j.State),
		NumNodes: int32(j.NumNodes), TimeLimit: durationpb.New(j.TimeLimit),
		Interactive: j.Interactive, Argv: j.Argv, HasScript: j.Script != "",
		Nodes: j.Nodes, Nodelist: hostlist.Compress(j.Nodes),
		SubmitTime: TS(j.SubmitTime), StartTime: TS(j.StartTime), EndTime: TS(j.EndTime),
		Reason: j.Reason, Pkey: uint32(j.PKey), PartitionReady: j.PartitionReady, Image: j.Image,
		FirmwareProfile: j.FirmwareProfile,
		Isolation:       j.Isolation, Links: j.Links,
	}
	if j.ExitCode != nil {
		out.HasExitCode, out.ExitCode = true, int32(*j.ExitCode)
	}
	if u := j.Usage; u != nil {
		out.HasUsage, out.CpuSeconds, out.MemoryPeakBytes, out.OutputBytes = true, u.CPUSeconds, u.MemoryPeakBytes, u.OutputBytes
	}
	pipelineFields(out, j) // pipeline.go
	// env: the job's environment and files; the exported values stay
	// out of listings (they may hold the tenant's secrets).
	out.Workdir, out.SubmitDir, out.Output, out.Error = j.Workdir, j.SubmitDir, j.Output, j.Error
	out.NoSlurmEnv, out.ExportedVars = j.NoSlurmEnv, uint32(len(j.Env))
	return out
}

// Node is a node as the API shows it; tenant is who holds it, as the
// caller may see it.
func Node(n *model.Node, tenant string) *pb.Node {
	reason := n.DrainNote
	if reason == "" {
		reason = n.Reason // why it is quarantined or down
	}
	if p := n.Placement; p != nil && p.Note != "" && !strings.Contains(reason, p.Note) {
		// Why a real machine is unplaced or refused, or which of its
		// ports the topology lacks.
		if reason != "" {
			reason += "; "
		}
		reason += p.Note
	}
	return &pb.Node{Name: n.Name, Leaf: n.Leaf, State: n.DisplayState(), JobId: n.JobID, Tenant: tenant,
		DrainReason: reason, DrainBy: n.DrainBy, Features: n.Features, Provision: string(n.ProvisionState())}
}

// TS is a timestamp, nil for the zero time.
func TS(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Status maps FSM and raft errors to gRPC codes, keeping the message.
func Status(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var nl *cluster.NotLeaderError
	switch {
	case errors.As(err, &nl):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, fsm.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, fsm.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, fsm.ErrConflict):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, fsm.ErrPermissionDenied):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// LedgerEntry is the API form of a ledger entry. Start and End stay unset
// when the entry has none: a zero time sent as a timestamp would come
// back as one that is set, and the reader's hash would not match.
func LedgerEntry(e model.LedgerEntry) *pb.LedgerEntry {
	return &pb.LedgerEntry{Time: timestamppb.New(e.Time), Step: e.Step, Actor: e.Actor, Ok: e.OK, Evidence: e.Evidence, JobId: e.JobID,
		Tenant: e.Tenant, Seq: e.Seq, Prev: e.Prev, Hash: e.Hash, Start: optTimestamp(e.Start), End: optTimestamp(e.End)}
}

func optTimestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// SortLedger orders a node's entries: chained entries by number (their
// apply order, which a new leader's clock cannot disturb), notes and
// entries from before the chain by time among them.
func SortLedger(es []*pb.LedgerEntry) []*pb.LedgerEntry {
	var chained, other []*pb.LedgerEntry
	for _, e := range es {
		if e.Seq > 0 {
			chained = append(chained, e)
		} else {
			other = append(other, e)
		}
	}
	sort.SliceStable(chained, func(i, j int) bool { return chained[i].Seq < chained[j].Seq })
	sort.SliceStable(other, func(i, j int) bool { return other[i].Time.AsTime().Before(other[j].Time.AsTime()) })
	out := make([]*pb.LedgerEntry, 0, len(es))
	for len(chained) > 0 || len(other) > 0 {
		if len(other) == 0 || len(chained) > 0 && !other[0].Time.AsTime().Before(chained[0].Time.AsTime()) {
			out, chained = append(out, chained[0]), chained[1:]
		} else {
			out, other = append(out, other[0]), other[1:]
		}
	}
	return out
}
