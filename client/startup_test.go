package client

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// TestConnectsBeforeTheFirstCall: the client opens its connection to the
// first server when it is made, not on its first call, so a one-call
// process overlaps the handshake with building its request.
func TestConnectsBeforeTheFirstCall(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	c, err := New(lis.Addr().String()+",127.0.0.1:1", "tok", WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	accepted := make(chan error, 1)
	go func() {
		conn, err := lis.Accept()
		if err == nil {
			conn.Close()
		}
		accepted <- err
	}()
	select {
	case err := <-accepted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection to the first server 10 s after New, without a call: the client still connects on the first call")
	}
}

// TestIgnoresServiceConfigs: a service config from name resolution (for a
// DNS name, a TXT record gRPC would look up on every call) is not used.
// The one offered here caps requests at 1 byte, so honouring it fails the
// call.
func TestIgnoresServiceConfigs(t *testing.T) {
	var servers string
	addr, _ := serve(t, "a", &servers)
	r := manual.NewBuilderWithScheme("ibex-startup-test")
	r.BuildCallback = func(_ resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) {
		sc := cc.ParseServiceConfig(`{"methodConfig": [{"name": [{"service": "ibex.v1.Jobs"}], "maxRequestMessageBytes": 1}]}`)
		if sc.Err != nil {
			t.Errorf("service config: %v", sc.Err)
		}
		r.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: addr}}, ServiceConfig: sc})
	}
	resolver.Register(r)
	c, err := New(r.Scheme()+":///jobs", "tok", WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j, err := c.Jobs.Get(ctx, &pb.GetJobRequest{JobId: 1 << 40})
	if status.Code(err) == codes.ResourceExhausted {
		t.Fatalf("the resolver's service config was applied: %v", err)
	}
	if err != nil || j.Name != "a" {
		t.Fatalf("Get: %v, %v", j, err)
	}
}
