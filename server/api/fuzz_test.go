package api

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/ibex-hpc/ibex/fabric/topology"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// unaryMethods lists every unary method of the services the API serves,
// with its full name and request type.
func unaryMethods() []protoreflect.MethodDescriptor {
	var out []protoreflect.MethodDescriptor
	svcs := pb.File_ibexv1_ibex_proto.Services()
	for _, name := range []protoreflect.Name{"Jobs", "Nodes", "Tenants", "Servers", "Fleet", "Topology"} {
		ms := svcs.ByName(name).Methods()
		for i := 0; i < ms.Len(); i++ {
			if m := ms.Get(i); !m.IsStreamingClient() && !m.IsStreamingServer() {
				out = append(out, m)
			}
		}
	}
	return out
}

// FuzzEveryUnaryMethod sends arbitrary wire bytes as the request of every
// unary API method, through the real gRPC server and interceptors, as an
// admin (who can reach every code path) and as a tenant: nothing may panic
// (recovered as Internal) or fail with Unknown, and the server must keep
// answering.
func FuzzEveryUnaryMethod(f *testing.F) {
	methods := unaryMethods()
	f.Add(uint8(0), []byte{})
	seed, _ := proto.Marshal(&pb.SubmitRequest{NumNodes: 1, Argv: []string{"true"}})
	f.Add(uint8(0), seed)
	seed, _ = proto.Marshal(&pb.SubmitRequest{NumNodes: 1, Argv: []string{"true"}, Array: "1-3%2", Dependency: "afterok:1,singleton", Hold: true})
	f.Add(uint8(0), seed)
	h := newAPIHarness(f, topology.FatTree{Spines: 1, Leaves: 2, NodesPerLeaf: 2})
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		m := methods[int(which)%len(methods)]
		req := dynamicpb.NewMessage(m.Input())
		if proto.Unmarshal(body, req) != nil {
			return
		}
		reply := dynamicpb.NewMessage(m.Output())
		full := "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
		for _, ctx := range []context.Context{h.adminCtx(), h.ctx()} {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := h.conn.Invoke(ctx, full, req, reply)
			cancel()
			switch status.Code(err) {
			case codes.Internal, codes.Unknown:
				t.Fatalf("%s(%v): %v", full, req, err)
			}
		}
	})
}
