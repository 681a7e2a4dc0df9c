package client

// What a one-call client (the CLI: one process per `ibex submit`) does
// early so that its single call waits less. Each process pays for a TCP
// connection, a TLS handshake and protobuf's lazy set-up of the API's
// message descriptors (the whole ibex.proto is unpacked on the first
// marshal of any of its messages) before its only call can go out; done
// one after the other, as gRPC does, they add up. Here the connection is
// started as soon as the client exists, so the handshake (mostly the
// server's work) runs while the caller parses its flags and builds its
// request, and the first call's request is sized, which runs the protobuf
// set-up, before the call waits for the connection to be ready.

import (
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// dialOptions are the gRPC options of every server connection besides
// its credentials. Service configs are not looked up: ibexd publishes
// none, and gRPC's DNS resolver would otherwise send a TXT query for
// _grpc_config.HOST to the DNS server on every call of a CLI given a host
// name (for "localhost" too), a network round trip, or a timeout where
// DNS is slow, per submission.
func dialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDisableServiceConfig()}
}

// connectFirst starts connecting to the server the first call goes to
// (gRPC connects lazily, on the first call, otherwise).
func (m *multiConn) connectFirst() {
	m.mu.Lock()
	c := m.conns[m.next%len(m.conns)]
	m.mu.Unlock()
	c.Connect()
}

// warmer runs protobuf's set-up of a request's message type once, before
// the first call waits for its connection.
type warmer struct{ done atomic.Bool }

func (w *warmer) warm(req any) {
	if w.done.Swap(true) {
		return
	}
	if msg, ok := req.(proto.Message); ok {
		proto.Size(msg)
	}
}
