package api

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/convert"
)

// Metadata keys of the cluster protocol.
const (
	// mdForwarded marks a request a follower forwarded, so it is never
	// forwarded twice (a leader that just lost its role answers Unavailable
	// and the client retries).
	mdForwarded = "ibex-forwarded"
	// mdConsistency "stale" lets any server answer a read from its own copy
	// of the state, which may lag the leader.
	mdConsistency = "ibex-consistency"
	// mdLeaderHint, a response header, names the leader's API address.
	mdLeaderHint = "ibex-leader-api"
	// mdServersKnown, sent by clients, is how many servers they know; when
	// the cluster has a different number, the response header mdServers
	// lists every server's API address, so a client given one address
	// fails over to the others when that one dies.
	mdServersKnown = "ibex-servers-known"
	mdServers      = "ibex-servers"
)

// readMethods are answered from the state, after a ReadIndex on the leader.
var readMethods = map[string]bool{
	"/ibex.v1.Jobs/Get": true, "/ibex.v1.Jobs/List": true, "/ibex.v1.Jobs/Logs": true, "/ibex.v1.Jobs/History": true, "/ibex.v1.Jobs/Usage": true,
	"/ibex.v1.Nodes/List": true, "/ibex.v1.Tenants/List": true, "/ibex.v1.Tenants/WhoAmI": true,
	"/ibex.v1.Servers/List": true, "/ibex.v1.Topology/Show": true, "/ibex.v1.Topology/Export": true,
	"/ibex.v1.Topology/Health":  true,
	"/ibex.v1.Fleet/ListImages": true, "/ibex.v1.Fleet/NodeDetail": true,
	"/ibex.v1.Fleet/ListFirmwareProfiles": true,
}

// forwarder sends requests that reach a follower to the leader's API.
type forwarder struct {
	a     *API
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func (f *forwarder) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if known := first(md, mdServersKnown); known != "" {
		f.tellServers(ctx, known)
	}
	stale := first(md, mdConsistency) == "stale" && readMethods[info.FullMethod]
	if stale || info.FullMethod == "/ibex.v1.Servers/Local" {
		return h(ctx, req)
	}
	if f.a.cfg.Cluster.IsLeader() {
		if readMethods[info.FullMethod] {
			if err := f.a.cfg.Cluster.ReadIndex(ctx); err != nil {
				return nil, convert.Status(err)
			}
		}
		return h(ctx, req)
	}
	if first(md, mdForwarded) != "" {
		return nil, status.Error(codes.Unavailable, "not the leader (forwarded request); retry")
	}
	addr := f.a.LeaderAPI()
	if addr == "" {
		return nil, status.Error(codes.Unavailable, "no leader elected yet; retry shortly")
	}
	conn, err := f.conn(addr)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "connect to leader at %s: %v", addr, err)
	}
	reply, err := newReply(info.FullMethod)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	// Tell the client where the leader is, so its next call skips this hop.
	_ = grpc.SetHeader(ctx, metadata.Pairs(mdLeaderHint, addr))
	out := metadata.NewOutgoingContext(ctx, md.Copy())
	out = metadata.AppendToOutgoingContext(out, mdForwarded, f.a.cfg.NodeID)
	if err := conn.Invoke(out, info.FullMethod, req, reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// tellServers sets the mdServers header when the client knows a different
// number of servers than the state lists.
func (f *forwarder) tellServers(ctx context.Context, known string) {
	var addrs []string
	f.a.cfg.Store.Read(func(st *fsm.State) {
		if strconv.Itoa(len(st.Servers)) == known {
			return
		}
		for _, id := range sortedKeys(st.Servers) {
			if a := st.Servers[id].APIAddr; a != "" {
				addrs = append(addrs, a)
			}
		}
	})
	if len(addrs) > 0 {
		_ = grpc.SetHeader(ctx, metadata.Pairs(mdServers, strings.Join(addrs, ",")))
	}
}

func (f *forwarder) conn(addr string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[addr]; ok {
		return c, nil
	}
	creds := f.a.cfg.PeerCredentials
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	f.conns[addr] = c
	return c, nil
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = map[string]*grpc.ClientConn{}
}

// newReply makes an empty response message for a full method name, found
// through the registered descriptors of our proto file.
func newReply(fullMethod string) (proto.Message, error) {
	parts := strings.Split(strings.TrimPrefix(fullMethod, "/"), "/")
	if len(parts) != 2 {
		return nil, status.Errorf(codes.Internal, "bad method %q", fullMethod)
	}
	svc := pb.File_ibexv1_ibex_proto.Services().ByName(protoreflect.Name(strings.TrimPrefix(parts[0], "ibex.v1.")))
	if svc == nil {
		return nil, status.Errorf(codes.Unimplemented, "unknown service in %q", fullMethod)
	}
	m := svc.Methods().ByName(protoreflect.Name(parts[1]))
	if m == nil {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %q", fullMethod)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
