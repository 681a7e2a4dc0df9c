package agentgw

import "google.golang.org/grpc"

// unbufferedWrites makes the agents' gRPC server write each HTTP/2 frame
// to the connection as it is made, instead of collecting frames in a
// write buffer that grpc-go flushes only after its writer goroutine
// yielded once (runtime.Gosched) in the hope that more frames join.
//
// Why: a task for an agent is one small message on a stream that carries
// little else, so there is nothing to batch, and under load the yield is
// what costs: in a scheduler trace of ibexd with 512 simulated nodes
// (bench/agentpath) a yielding writer waited ~100 ms for a CPU before its
// flush, on every message, and a job's task took ~300 ms from Dispatch
// to its agent. Written at once, the frame is on the wire before the
// yield. The price is one write (and TLS record) per frame rather than
// per batch, which on these streams is about the same.
func unbufferedWrites() grpc.ServerOption { return grpc.WriteBufferSize(0) }
