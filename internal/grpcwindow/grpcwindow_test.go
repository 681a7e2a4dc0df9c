package grpcwindow

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// tap records the bytes a connection wrote and read.
type tap struct {
	net.Conn
	mu           sync.Mutex
	wrote, reads bytes.Buffer
}

func (t *tap) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.mu.Lock()
	t.reads.Write(p[:n])
	t.mu.Unlock()
	return n, err
}

func (t *tap) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.wrote.Write(p)
	t.mu.Unlock()
	return t.Conn.Write(p)
}

// pings counts the PING frames (not acks) in an HTTP/2 byte stream.
func pings(t *testing.T, b []byte) int {
	t.Helper()
	b = bytes.TrimPrefix(b, []byte(http2.ClientPreface))
	fr := http2.NewFramer(nil, bytes.NewReader(b))
	n := 0
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return n
		}
		if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
			n++
		}
	}
}

// service is a name long enough that every request carries data.
const service = "ibex.v1.Agents/Connect"

// Calls whose messages carry data draw no PING from either end: the
// bandwidth estimator, which pings after almost every message on a quiet
// stream, is off on both sides.
func TestStaticWindowsSendNoPings(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(ServerOptions()...)
	hs := health.NewServer()
	hs.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	go gs.Serve(lis)
	defer gs.Stop()

	var conn *tap
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		conn = &tap{Conn: c}
		return conn, nil
	}
	opts := append(DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dial))
	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)
	// Each call's request is written after whatever the client queued
	// before it (its ping for the last response), and each response after
	// the server's ping for its request: what was sent is in the tap.
	for range 3 {
		if _, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service}); err != nil {
			t.Fatal(err)
		}
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if n := pings(t, conn.reads.Bytes()); n != 0 {
		t.Errorf("the server sent %d PINGs on 3 calls, want none", n)
	}
	if n := pings(t, conn.wrote.Bytes()); n != 0 {
		t.Errorf("the client sent %d PINGs on 3 calls, want none", n)
	}
}
