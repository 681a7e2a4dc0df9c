package server

import "google.golang.org/grpc"

// streamWorkers is how many goroutines the gRPC server keeps to run
// calls. Without them it starts a goroutine per call, whose stack grows
// from 8 KiB again every time (runtime.newstack was ~5% of a busy
// leader's CPU in bench-submit); a worker keeps its grown stack. A call
// that finds every worker busy (submissions wait for their commit) gets
// its own goroutine as before, so this bounds nothing.
const streamWorkers = 128

// hotPathServerOptions are the gRPC server's options for many small
// concurrent calls (#17.2).
func hotPathServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.NumStreamWorkers(streamWorkers)}
}
