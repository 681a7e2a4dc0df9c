package api

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/fabricview"
	"github.com/ibex-hpc/ibex/server/replica"
)

// largeDump is a 12,000-host fat tree (10 pods of 30 leaves with 40 hosts,
// SHARP nodes on every switch): about 5 MB, more than one gRPC message.
func largeDump(t testing.TB) string {
	t.Helper()
	var buf bytes.Buffer
	if err := ibnet.GenerateFatTree(&buf, ibnet.FatTreeConfig{Pods: 10, LeavesPerPod: 30, SpinesPerPod: 20, Cores: 40,
		HostsPerLeaf: 40, SwitchPorts: 64, SHARP: true}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() <= 4<<20 {
		t.Fatalf("the large dump is only %d bytes", buf.Len())
	}
	return buf.String()
}

func (h *apiHarness) client(t *testing.T, token string) *client.Client {
	t.Helper()
	c, err := client.New(h.conn.Target(), token, client.WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestImportStreamLargeFabric: a 12,000-host dump that one Import message
// cannot carry is imported streamed: a dry run writes nothing, the import
// one command, after which the simulated cluster's nodes are the dump's
// hosts. It prints the raft entry's size, the state machine's apply time
// and the snapshot's size.
func TestImportStreamLargeFabric(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 4})
	dump := largeDump(t)
	if _, err := pb.NewTopologyClient(h.conn).Import(h.adminCtx(), &pb.ImportTopologyRequest{Text: dump}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("the unary Import of %d bytes: %v (want gRPC's message limit)", len(dump), err)
	}
	admin := h.client(t, h.admin)
	ctx := context.Background()
	sum, err := admin.ImportTopology(ctx, &pb.ImportTopologyRequest{Text: dump, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.DryRun || sum.Hosts != 12000 || sum.ComputeHosts != 12000 {
		t.Fatalf("dry run: dry %v, %d hosts, %d compute", sum.DryRun, sum.Hosts, sum.ComputeHosts)
	}
	if cmds := h.store.Applied(); len(cmds) != 0 {
		t.Fatalf("the dry run wrote %d commands", len(cmds))
	}
	sum, err = admin.ImportTopology(ctx, &pb.ImportTopologyRequest{Text: dump})
	if err != nil {
		t.Fatal(err)
	}
	cmds := h.store.Applied()
	if sum.DryRun || sum.Hosts != 12000 || len(cmds) != 1 {
		t.Fatalf("import: dry %v, %d hosts, %d commands", sum.DryRun, sum.Hosts, len(cmds))
	}
	imp, ok := cmds[0].(*fsm.ImportTopology)
	if !ok || imp.Text != dump || len(imp.Hosts) != 12000 {
		t.Fatalf("the command: %T", cmds[0])
	}
	var nodes, drained int
	h.store.Read(func(st *fsm.State) {
		for _, n := range st.Nodes {
			nodes++
			if n.Drained {
				drained++
			}
		}
	})
	if nodes != 12004 || drained != 4 {
		t.Fatalf("%d nodes, %d drained; want the 12,000 hosts and the 4 simulated ones drained", nodes, drained)
	}

	// What raft carries: the entry, its apply on a fresh state of the same
	// start, the snapshot.
	entry, err := fsm.Encode(imp)
	if err != nil {
		t.Fatal(err)
	}
	f := fsm.New()
	f.Apply(&fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "node001", Leaf: "leaf01"}}, Time: imp.Time})
	start := time.Now()
	if r := f.ApplyEntry(2, entry); r.Err != nil {
		t.Fatal(r.Err)
	}
	applied := time.Since(start)
	var snap bytes.Buffer
	start = time.Now()
	if err := fsm.WriteSnapshot(&snap, f.SnapshotState()); err != nil {
		t.Fatal(err)
	}
	t.Logf("12,000-host dump: %d bytes; raft entry %d bytes; apply %v; snapshot %d bytes, written in %v",
		len(dump), len(entry), applied, snap.Len(), time.Since(start))
}

// TestImportStreamRefusals: over the caps, malformed streams, a tenant
// who is no admin: each refused with a one-line error, nothing written.
func TestImportStreamRefusals(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 4})
	topo := pb.NewTopologyClient(h.conn)
	chunk := bytes.Repeat([]byte("# padding of an oversized dump\n"), maxImportChunkBytes/32)
	send := func(ctx context.Context, msgs ...*pb.ImportTopologyChunk) error {
		s, err := topo.ImportStream(ctx)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := s.Send(m); err != nil {
				break
			}
		}
		_, err = s.CloseAndRecv()
		return err
	}
	overCap := func(field string, limit int) []*pb.ImportTopologyChunk {
		msgs := []*pb.ImportTopologyChunk{{Header: &pb.ImportTopologyRequest{}}}
		for total := 0; total <= limit; total += len(chunk) {
			m := &pb.ImportTopologyChunk{Text: chunk}
			if field == "name_map" {
				m = &pb.ImportTopologyChunk{NameMap: chunk}
			}
			msgs = append(msgs, m)
		}
		return msgs
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
		msgs []*pb.ImportTopologyChunk
		code codes.Code
		want string
	}{
		{"dump over the cap", h.adminCtx(), overCap("text", maxTopologyBytes), codes.InvalidArgument, "larger than 64 MiB"},
		{"name map over the cap", h.adminCtx(), overCap("name_map", maxNameMapBytes), codes.InvalidArgument, "larger than 16 MiB"},
		{"no header", h.adminCtx(), []*pb.ImportTopologyChunk{{Text: []byte("x")}}, codes.InvalidArgument, "header"},
		{"two headers", h.adminCtx(), []*pb.ImportTopologyChunk{{Header: &pb.ImportTopologyRequest{}}, {Header: &pb.ImportTopologyRequest{}}}, codes.InvalidArgument, "header"},
		{"dump in the header", h.adminCtx(), []*pb.ImportTopologyChunk{{Header: &pb.ImportTopologyRequest{Text: "x"}}}, codes.InvalidArgument, "options only"},
		{"chunk too big", h.adminCtx(), []*pb.ImportTopologyChunk{{Header: &pb.ImportTopologyRequest{}}, {Text: make([]byte, maxImportChunkBytes+1)}}, codes.InvalidArgument, "chunk"},
		{"not UTF-8", h.adminCtx(), []*pb.ImportTopologyChunk{{Header: &pb.ImportTopologyRequest{}}, {Text: []byte{0xff, 0xfe}}}, codes.InvalidArgument, "UTF-8"},
		{"empty", h.adminCtx(), nil, codes.InvalidArgument, "empty"},
		{"garbage", h.adminCtx(), []*pb.ImportTopologyChunk{{Header: &pb.ImportTopologyRequest{}}, {Text: []byte("not a dump\n")}}, codes.InvalidArgument, "line 1"},
		{"no admin", h.ctx(), overCap("text", 1), codes.PermissionDenied, ""},
	} {
		err := send(c.ctx, c.msgs...)
		msg := status.Convert(err).Message()
		if status.Code(err) != c.code || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: %v", c.name, err)
		}
		if cmds := h.store.Applied(); len(cmds) != 0 {
			t.Errorf("%s: wrote %d commands", c.name, len(cmds))
		}
	}
}

// follower is the Membership of a server that follows s1.
type follower struct{ soleLeader }

func (follower) IsLeader() bool { return false }

// TestImportStreamThroughAFollower: the stream reaching a follower is
// piped to the leader's API, chunk by chunk, and lands in the leader's
// state; the follower writes nothing itself.
func TestImportStreamThroughAFollower(t *testing.T) {
	leader := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 4})
	store := leaderlessCopy(t, leader)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	view, err := fabricview.New(store, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 4}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Store: store, Cluster: follower{}, NodeID: "s2", Fabric: view, Log: log})
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(a.Interceptors()...))
	a.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(func() { gs.Stop(); a.Close() })

	cl, err := client.New(lis.Addr().String(), leader.admin, client.WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dump := largeDump(t)
	sum, err := cl.ImportTopology(context.Background(), &pb.ImportTopologyRequest{Text: dump})
	if err != nil || sum.Hosts != 12000 {
		t.Fatalf("import through the follower: %v", err)
	}
	cmds := leader.store.Applied()
	if len(cmds) != 1 || cmds[0].(*fsm.ImportTopology).Text != dump {
		t.Fatalf("the leader applied %d commands", len(cmds))
	}
	if n := len(store.Applied()); n != 0 {
		t.Fatalf("the follower applied %d commands", n)
	}
	// Alice is no admin: the follower refuses her before reading the dump.
	alice, _ := client.New(lis.Addr().String(), leader.token, client.WithPlaintext())
	defer alice.Close()
	if _, err := alice.ImportTopology(context.Background(), &pb.ImportTopologyRequest{Text: dump}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("alice through the follower: %v", err)
	}
}

// leaderlessCopy is a follower's store: the leader's tenants and the
// server table naming the leader's address, and no leadership.
func leaderlessCopy(t *testing.T, leader *apiHarness) *replica.Memory {
	t.Helper()
	store := replica.NewMemory()
	leader.store.Read(func(st *fsm.State) {
		for _, tn := range st.Tenants {
			if _, err := store.Apply(context.Background(), &fsm.CreateTenant{Tenant: *tn}); err != nil {
				t.Fatal(err)
			}
		}
	})
	if _, err := store.Apply(context.Background(), &fsm.RegisterServer{Server: model.Server{ID: "s1", RaftAddr: "127.0.0.1:1", APIAddr: leader.conn.Target()}}); err != nil {
		t.Fatal(err)
	}
	store.Applied()
	store.SetLeader(false)
	return store
}

// FuzzReceiveImport: any sequence of chunks either reassembles within the
// caps or is refused with InvalidArgument; it never panics.
func FuzzReceiveImport(f *testing.F) {
	f.Add([]byte{0, 1, 'a', 2, 'b'}, uint8(3))
	f.Add([]byte{1, 'x'}, uint8(1))
	f.Add([]byte{0, 0, 1, 0xff}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		var msgs []*pb.ImportTopologyChunk
		for len(data) > 0 && len(msgs) < int(n) {
			kind := data[0] % 3
			data = data[1:]
			size := 0
			if len(data) >= 2 {
				size = int(binary.LittleEndian.Uint16(data)) % (len(data) + 1)
			}
			piece := data[:size]
			data = data[size:]
			switch kind {
			case 0:
				msgs = append(msgs, &pb.ImportTopologyChunk{Header: &pb.ImportTopologyRequest{DryRun: len(piece)%2 == 0, Infra: string(piece)}})
			case 1:
				msgs = append(msgs, &pb.ImportTopologyChunk{Text: piece})
			default:
				msgs = append(msgs, &pb.ImportTopologyChunk{NameMap: piece})
			}
		}
		i := 0
		req, err := receiveImport(func() (*pb.ImportTopologyChunk, error) {
			if i == len(msgs) {
				return nil, io.EOF
			}
			i++
			return msgs[i-1], nil
		})
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		if len(msgs) == 0 || msgs[0].Header == nil || len(req.Text) > maxTopologyBytes || len(req.NameMap) > maxNameMapBytes {
			t.Fatalf("accepted %d messages", len(msgs))
		}
		var text []byte
		for _, m := range msgs {
			text = append(text, m.Text...)
		}
		if req.Text != string(text) {
			t.Fatal("the dump was not reassembled in order")
		}
	})
}
