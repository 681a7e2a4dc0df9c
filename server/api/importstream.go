package api

import (
	"errors"
	"io"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/server/auth"
)

// A large fabric's ibnetdiscover dump (12,000 hosts: about 6 MB) does not
// fit in one gRPC message (4 MiB), so it is streamed: ImportStream
// reassembles the dump and name map from chunks, under the same caps as
// Import, and then validates and commits them exactly as Import does. A
// follower pipes the chunks to the leader as they come, without holding
// the dump.

// maxImportChunkBytes bounds one ImportTopologyChunk's text and name map
// together (the CLI sends 1 MiB pieces).
const maxImportChunkBytes = 1 << 20

// ImportStream is Import for dumps larger than one message.
func (t *topologyService) ImportStream(stream pb.Topology_ImportStreamServer) (err error) {
	// Streams pass no interceptor, so no recoverUnary either.
	defer func() {
		if r := recover(); r != nil {
			t.a.cfg.Log.Error("panic in handler", "method", "ImportStream", "panic", r, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error in ImportStream")
		}
	}()
	// The caller is checked before a byte of the dump is read (this
	// service's streams pass no interceptor).
	caller, err := auth.Authenticate(stream.Context(), t.a.cfg.Store)
	if err != nil {
		return err
	}
	ctx := auth.WithCaller(stream.Context(), caller)
	if err := auth.RequireAdmin(ctx); err != nil {
		return err
	}
	if !t.a.cfg.Cluster.IsLeader() {
		return t.forwardImport(stream)
	}
	req, err := receiveImport(stream.Recv)
	if err != nil {
		return err
	}
	sum, err := t.importTopology(ctx, req)
	if err != nil {
		return err
	}
	return stream.SendAndClose(sum)
}

// receiveImport reassembles an import from its chunks: a header first (and
// only first), then text and name map pieces, each within its cap. It
// stops reading at the first chunk that breaks a rule.
func receiveImport(recv func() (*pb.ImportTopologyChunk, error)) (*pb.ImportTopologyRequest, error) {
	var text, nameMap strings.Builder
	var req *pb.ImportTopologyRequest
	for i := 0; ; i++ {
		c, err := recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch {
		case i == 0 && c.Header == nil:
			return nil, status.Error(codes.InvalidArgument, "import stream: the first message must carry the header (options)")
		case i > 0 && c.Header != nil:
			return nil, status.Error(codes.InvalidArgument, "import stream: a header after the first message")
		case i == 0 && (c.Header.Text != "" || c.Header.NameMap != ""):
			return nil, status.Error(codes.InvalidArgument, "import stream: the header carries options only; the dump and name map follow in chunks")
		}
		if i == 0 {
			req = c.Header
		}
		if n := len(c.Text) + len(c.NameMap); n > maxImportChunkBytes {
			return nil, status.Errorf(codes.InvalidArgument, "import stream: a chunk of %d bytes; at most %d", n, maxImportChunkBytes)
		}
		if text.Len()+len(c.Text) > maxTopologyBytes {
			return nil, status.Errorf(codes.InvalidArgument, "topology dump larger than %d MiB, the most ibexd imports; nothing was imported", maxTopologyBytes>>20)
		}
		if nameMap.Len()+len(c.NameMap) > maxNameMapBytes {
			return nil, status.Errorf(codes.InvalidArgument, "name map larger than %d MiB, the most ibexd imports; nothing was imported", maxNameMapBytes>>20)
		}
		text.Write(c.Text)
		nameMap.Write(c.NameMap)
	}
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "import stream: empty (no header)")
	}
	// Import's string fields are UTF-8 by protobuf's rules; the streamed
	// bytes are held to the same.
	if !utf8.ValidString(text.String()) || !utf8.ValidString(nameMap.String()) {
		return nil, status.Error(codes.InvalidArgument, "topology dump or name map is not UTF-8 text")
	}
	out := &pb.ImportTopologyRequest{Text: text.String(), NameMap: nameMap.String(), DryRun: req.DryRun, Infra: req.Infra}
	return out, nil
}

// forwardImport pipes a stream that reached a follower to the leader,
// chunk by chunk, and hands back the leader's answer; the leader checks
// the caller again and applies every cap.
func (t *topologyService) forwardImport(stream pb.Topology_ImportStreamServer) error {
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	if first(md, mdForwarded) != "" {
		return status.Error(codes.Unavailable, "not the leader (forwarded request); retry")
	}
	addr := t.a.LeaderAPI()
	if addr == "" {
		return status.Error(codes.Unavailable, "no leader elected yet; retry shortly")
	}
	conn, err := t.a.fwd.conn(addr)
	if err != nil {
		return status.Errorf(codes.Unavailable, "connect to leader at %s: %v", addr, err)
	}
	_ = stream.SetHeader(metadata.Pairs(mdLeaderHint, addr))
	out := metadata.NewOutgoingContext(ctx, md.Copy())
	out = metadata.AppendToOutgoingContext(out, mdForwarded, t.a.cfg.NodeID)
	up, err := pb.NewTopologyClient(conn).ImportStream(out)
	if err != nil {
		return err
	}
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := up.Send(c); err != nil {
			if errors.Is(err, io.EOF) {
				break // the leader ended the stream: CloseAndRecv says why
			}
			return status.Errorf(codes.Unavailable, "forward the import to the leader at %s: %v", addr, err)
		}
	}
	sum, err := up.CloseAndRecv()
	if err != nil {
		return err
	}
	return stream.SendAndClose(sum)
}
