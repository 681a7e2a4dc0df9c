package client

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// ImportChunkBytes is how much of the dump and name map one message of
// Topology.ImportStream carries: far below gRPC's 4 MiB, at the server's
// limit per message.
const ImportChunkBytes = 1 << 20

// The server's caps on an import (server/api), which the CLI checks
// before it reads a file.
const (
	MaxImportBytes  = 64 << 20
	MaxNameMapBytes = 16 << 20
)

// importRounds bounds how often ImportTopology tries every server: an
// upload of a large dump takes a while, so the bound is in rounds, not
// time (the caller's ctx bounds the time).
const importRounds = 8

// ImportTopology imports req (dump, name map, options) through the
// streamed Topology.ImportStream, so a dump of any size up to the
// server's cap fits. A server that answers Unavailable (down, or no
// leader yet) is left for the next, and the whole upload starts again
// there: an import is the same however often it is applied.
func (c *Client) ImportTopology(ctx context.Context, req *pb.ImportTopologyRequest) (*pb.TopologySummary, error) {
	m := c.Conn
	m.mu.Lock()
	i := m.next
	m.mu.Unlock()
	for attempt := 1; ; attempt++ {
		sum, err := importOnce(c.Context(ctx), pb.NewTopologyClient(m.conns[i]), req)
		if err == nil {
			m.mu.Lock()
			m.next = i
			m.mu.Unlock()
			return sum, nil
		}
		if status.Code(err) != codes.Unavailable {
			return nil, err
		}
		if terr := m.explain(i, err); terr != nil {
			return nil, terr
		}
		i = (i + 1) % len(m.conns)
		if attempt%len(m.conns) == 0 { // every server tried: back off
			if attempt >= importRounds*len(m.conns) {
				return nil, err
			}
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(time.Duration(attempt/len(m.conns)) * 200 * time.Millisecond):
			}
		}
	}
}

// importOnce sends one import: the options, then the dump and the name map
// in pieces of ImportChunkBytes.
func importOnce(ctx context.Context, tc pb.TopologyClient, req *pb.ImportTopologyRequest) (*pb.TopologySummary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := tc.ImportStream(ctx)
	if err != nil {
		return nil, err
	}
	send := func(c *pb.ImportTopologyChunk) bool {
		err := stream.Send(c)
		return err == nil // on io.EOF the server ended the stream; CloseAndRecv says why
	}
	header := &pb.ImportTopologyChunk{Header: &pb.ImportTopologyRequest{DryRun: req.DryRun, Infra: req.Infra}}
	ok := send(header)
	for _, part := range []struct {
		data  string
		chunk func([]byte) *pb.ImportTopologyChunk
	}{
		{req.Text, func(b []byte) *pb.ImportTopologyChunk { return &pb.ImportTopologyChunk{Text: b} }},
		{req.NameMap, func(b []byte) *pb.ImportTopologyChunk { return &pb.ImportTopologyChunk{NameMap: b} }},
	} {
		for off := 0; ok && off < len(part.data); off += ImportChunkBytes {
			end := min(off+ImportChunkBytes, len(part.data))
			ok = send(part.chunk([]byte(part.data[off:end])))
		}
	}
	sum, err := stream.CloseAndRecv()
	if errors.Is(err, io.EOF) {
		err = status.Error(codes.Unavailable, "the import stream ended without an answer")
	}
	return sum, err
}
