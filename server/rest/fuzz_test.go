package rest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// recorder is the gRPC side of the gateway: it records what reaches it
// and answers with an empty reply.
type recorder struct {
	calls  int
	auth   []string
	cookie bool
	size   int
}

func (r *recorder) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	r.calls++
	md, _ := metadata.FromOutgoingContext(ctx)
	r.auth = md.Get("authorization")
	r.cookie = len(md.Get("grpcgateway-cookie")) > 0
	r.size = proto.Size(args.(proto.Message))
	return nil
}

func (r *recorder) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	r.calls++
	return nil, status.Error(codes.Unimplemented, "not in this test")
}

// FuzzREST: whatever the method, path, body and header, the gateway
// neither panics nor lets a body over the limit through; a 200 means the
// request reached gRPC, carrying the caller's Authorization header
// unchanged and nothing else as a token.
func FuzzREST(f *testing.F) {
	const limit = 4096
	f.Add("POST", "/v1/jobs", []byte(`{"name":"a","num_nodes":1,"time_limit":"60s","argv":["true"]}`), "Bearer x")
	f.Add("GET", "/v1/jobs?all=true&page_size=2&after_id=3&states=running", []byte(nil), "Bearer x")
	f.Add("POST", "/v1/jobs/7:cancel", []byte(`{"request_id":"r"}`), "")
	f.Add("GET", "/v1/history?since=2026-01-01T00:00:00Z", []byte(nil), "Bearer y")
	f.Add("PUT", "/v1/nodes/node001/bmc", []byte(`{"endpoint":"https://x","password":"p"}`), "Bearer z")
	f.Add("POST", "/v1/jobs", bytes.Repeat([]byte(" "), limit+1), "Bearer x")
	f.Fuzz(func(t *testing.T, method, target string, body []byte, authz string) {
		req, err := http.NewRequest(method, "http://ibexd"+"/", bytes.NewReader(body))
		if err != nil {
			return
		}
		if u, err := req.URL.Parse(target); err == nil {
			req.URL = u
		} else {
			return
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		req.Header.Set("Cookie", "ibex_token="+authz)
		rec := &recorder{}
		h, err := New(context.Background(), rec, limit)
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == http.StatusOK && rec.calls == 0 {
			t.Fatalf("%s %s: 200 without a gRPC call", method, target)
		}
		if len(body) > limit && rec.calls > 0 && rec.size > limit {
			t.Fatalf("%s %s: a %d-byte message from a %d-byte body got through a %d-byte limit", method, target, rec.size, len(body), limit)
		}
		if rec.cookie {
			t.Fatal("the Cookie header reached gRPC")
		}
		for _, a := range rec.auth {
			if a != authz {
				t.Fatalf("authorization %q reached gRPC, the request had %q", a, authz)
			}
		}
	})
}
