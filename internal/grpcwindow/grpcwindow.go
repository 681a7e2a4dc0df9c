// Package grpcwindow holds the flow-control windows of the agents' task
// streams, which both ends (ibexd's agent gateway and the node agent) set
// alike.
//
// Why static windows: with grpc-go's default dynamic flow control, the
// receiver of a DATA frame sends a bandwidth-estimation PING whenever
// none is outstanding, and the sender answers it. A task stream carries
// one small message now and then, so nearly every message, task, report
// or result, drew a PING and its ack: two more frames, two more writes
// and reads, and wake-ups of both ends' reader and writer goroutines, for
// an estimate these streams never need. On a busy host every wake-up
// waits for a CPU, and the cycle of a tiny job is a chain of such
// messages (bench/agentpath). Static windows switch the estimator off.
//
// The sizes bound what an agent's output read (at most 1 MiB a chunk,
// agentgw.MaxOutputChunk) needs to flow in one window; the dynamic
// windows they replace could grow to 16 MiB.
package grpcwindow

import "google.golang.org/grpc"

const (
	// Stream is each stream's window: one whole output chunk plus framing.
	Stream = 2 << 20
	// Conn is the connection's: an agent has one stream at a time.
	Conn = 4 << 20
)

// ServerOptions are the gateway's side.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StaticStreamWindowSize(Stream), grpc.StaticConnWindowSize(Conn)}
}

// DialOptions are the agent's side.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithStaticStreamWindowSize(Stream), grpc.WithStaticConnWindowSize(Conn)}
}
