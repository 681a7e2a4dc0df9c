package api

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func submit(mod func(r *pb.SubmitRequest)) *pb.SubmitRequest {
	r := &pb.SubmitRequest{Name: "hello", NumNodes: 2, TimeLimit: durationpb.New(time.Minute), Argv: []string{"hostname"}}
	mod(r)
	return r
}

// TestValidateSubmitRefusesHostileText: what would print raw into other
// users' terminals, fail only at launch, or bloat every listing is refused
// at the edge with an error naming the field.
func TestValidateSubmitRefusesHostileText(t *testing.T) {
	if _, err := validateSubmit(submit(func(*pb.SubmitRequest) {})); err != nil {
		t.Fatalf("plain request refused: %v", err)
	}
	cases := map[string]struct {
		mod  func(r *pb.SubmitRequest)
		want string
	}{
		"escape in name":   {func(r *pb.SubmitRequest) { r.Name = "x\x1b[2K\r1 fake  root  running" }, "job name"},
		"newline in name":  {func(r *pb.SubmitRequest) { r.Name = "a\nb" }, "job name"},
		"NUL in argv":      {func(r *pb.SubmitRequest) { r.Argv = []string{"echo", "a\x00b"} }, "NUL"},
		"huge argv":        {func(r *pb.SubmitRequest) { r.Argv = []string{"echo", strings.Repeat("x", 70<<10)} }, "command line"},
		"NUL in script":    {func(r *pb.SubmitRequest) { r.Argv, r.Script = nil, "#!/bin/sh\n\x00" }, "NUL"},
		"huge request id":  {func(r *pb.SubmitRequest) { r.RequestId = strings.Repeat("r", 3<<20) }, "request id"},
		"empty constraint": {func(r *pb.SubmitRequest) { r.Features = []string{""} }, "feature"},
		"zero nodes":       {func(r *pb.SubmitRequest) { r.NumNodes = 0 }, "node count"},
	}
	for name, c := range cases {
		_, err := validateSubmit(submit(c.mod))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, c.want)
		}
	}
}

// FuzzValidateSubmit feeds arbitrary wire bytes as a SubmitRequest: the
// validator never panics, and what it accepts is bounded and printable.
func FuzzValidateSubmit(f *testing.F) {
	for _, r := range []*pb.SubmitRequest{submit(func(*pb.SubmitRequest) {}), submit(func(r *pb.SubmitRequest) { r.Argv, r.Script = nil, "#!/bin/sh\necho hi\n" })} {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req pb.SubmitRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		job, err := validateSubmit(&req)
		if err != nil {
			return
		}
		if job.NumNodes < 1 || len(job.Name) > maxNameLen || len(job.Script) > maxScriptBytes || job.TimeLimit <= 0 {
			t.Fatalf("accepted out-of-bounds job %+v", job)
		}
		if strings.ContainsAny(job.Name, "\x00\x1b\n\r") {
			t.Fatalf("accepted name %q", job.Name)
		}
	})
}
