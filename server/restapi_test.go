package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/internal/testutil"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/localexec/ctlexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/fabricview"
)

// restServer is a one-server cluster with TLS on the API (the REST
// gateway's in-process connection is TLS too) and the HTTP listener on
// loopback, 4 simulated nodes.
func restServer(t testing.TB) (*Server, string) {
	t.Helper()
	runner, err := localexec.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: t.TempDir(), Bootstrap: true, Simulate: true, Exec: ctlexec.New(runner), ReconcileEvery: 50 * time.Millisecond,
		Listen: testcluster.FreeAddr(t), RaftAddr: testcluster.FreeAddr(t), HTTPListen: testcluster.FreeAddr(t),
		Fabric: topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 4},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, h := range cfg.Fabric.Hosts() {
		cfg.Hosts = append(cfg.Hosts, fabricview.Host{Host: h})
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; s.Stop() })
	return s, "http://" + s.HTTPAddr()
}

// call makes one REST call and decodes the JSON answer (an object).
func call(t testing.TB, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d, not a JSON object: %q", method, url, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// must is call that fails the test unless the answer is 200.
func must(t testing.TB, method, url, token, body string) map[string]any {
	t.Helper()
	code, out := call(t, method, url, token, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s: %d %v", method, url, code, out)
	}
	return out
}

func jobIDs(out map[string]any) []string {
	var ids []string
	jobs, _ := out["jobs"].([]any)
	for _, j := range jobs {
		ids = append(ids, j.(map[string]any)["id"].(string))
	}
	return ids
}

// TestRESTJobsThroughTheGateway: over plain HTTP and JSON, an admin
// creates two tenants; alice submits, lists a page at a time, gets and
// cancels her jobs; bob sees none of them and cannot cancel them.
func TestRESTJobsThroughTheGateway(t *testing.T) {
	s, base := restServer(t)
	admin := s.AdminToken
	if got := must(t, "GET", base+"/v1/whoami", admin, ""); got["name"] != "admin" || got["admin"] != true {
		t.Fatalf("whoami: %v", got)
	}
	alice := must(t, "POST", base+"/v1/tenants", admin, `{"name":"alice"}`)["token"].(string)
	bob := must(t, "POST", base+"/v1/tenants", admin, `{"name":"bob"}`)["token"].(string)

	var ids []string
	for i := range 3 {
		out := must(t, "POST", base+"/v1/jobs", alice,
			fmt.Sprintf(`{"name":"rest%d","num_nodes":1,"time_limit":"600s","interactive":true,"request_id":"r%d"}`, i, i))
		ids = append(ids, out["job_id"].(string))
	}
	// A retried submit (same request_id) is the same job, as over gRPC.
	if again := must(t, "POST", base+"/v1/jobs", alice, `{"name":"rest0","num_nodes":1,"time_limit":"600s","interactive":true,"request_id":"r0"}`); again["job_id"] != ids[0] {
		t.Fatalf("retried submit: job %v, want %s", again["job_id"], ids[0])
	}

	// Pages of two: the first ends with next_after_id, the second is the rest.
	p1 := must(t, "GET", base+"/v1/jobs?all=true&page_size=2", alice, "")
	if got := jobIDs(p1); len(got) != 2 || got[0] != ids[0] || got[1] != ids[1] || p1["next_after_id"] != ids[1] {
		t.Fatalf("first page: %v next %v, want %v", got, p1["next_after_id"], ids[:2])
	}
	p2 := must(t, "GET", base+"/v1/jobs?all=true&page_size=2&after_id="+ids[1], alice, "")
	if got := jobIDs(p2); len(got) != 1 || got[0] != ids[2] || p2["next_after_id"] != "0" {
		t.Fatalf("second page: %v next %v, want [%s] and 0", got, p2["next_after_id"], ids[2])
	}

	testutil.WaitFor(t, "job "+ids[0]+" to run", 20*time.Second, func() bool {
		return must(t, "GET", base+"/v1/jobs/"+ids[0], alice, "")["state"] == "running"
	})
	j := must(t, "GET", base+"/v1/jobs/"+ids[0], alice, "")
	if j["name"] != "rest0" || j["tenant"] != "alice" || j["nodelist"] == "" {
		t.Fatalf("get: %v", j)
	}

	// bob: not found, whichever way he asks; his listing is empty.
	for _, probe := range []struct{ method, path, body string }{
		{"GET", "/v1/jobs/" + ids[0], ""},
		{"GET", "/v1/jobs/" + ids[0] + "/logs", ""},
		{"POST", "/v1/jobs/" + ids[0] + ":cancel", "{}"},
		{"POST", "/v1/jobs/" + ids[0] + ":release", "{}"},
	} {
		if code, out := call(t, probe.method, base+probe.path, bob, probe.body); code != http.StatusNotFound {
			t.Fatalf("bob %s %s: %d %v, want 404", probe.method, probe.path, code, out)
		}
	}
	if got := jobIDs(must(t, "GET", base+"/v1/jobs?all=true", bob, "")); len(got) != 0 {
		t.Fatalf("bob lists alice's jobs: %v", got)
	}
	if got := must(t, "GET", base+"/v1/jobs/"+ids[0], alice, ""); got["state"] != "running" {
		t.Fatalf("after bob's cancel, alice's job is %v", got["state"])
	}

	// alice cancels; a retry with the same request_id succeeds, as over gRPC.
	c := must(t, "POST", base+"/v1/jobs/"+ids[0]+":cancel", alice, `{"request_id":"c0"}`)
	if c["state"] != "cancelled" {
		t.Fatalf("cancel: %v", c)
	}
	if c2 := must(t, "POST", base+"/v1/jobs/"+ids[0]+":cancel", alice, `{"request_id":"c0"}`); c2["state"] != "cancelled" {
		t.Fatalf("retried cancel: %v", c2)
	}
	// FailedPrecondition is 400 in grpc-gateway's mapping; the JSON code says 9.
	if code, out := call(t, "POST", base+"/v1/jobs/"+ids[0]+":cancel", alice, `{}`); code != http.StatusBadRequest || out["code"] != 9.0 {
		t.Fatalf("cancel of a cancelled job: %d %v, want 400 with code 9", code, out)
	}
	// Nodes are listed a page at a time too.
	n := must(t, "GET", base+"/v1/nodes?page_size=3", alice, "")
	if nodes, _ := n["nodes"].([]any); len(nodes) != 3 || n["next_after"] != "node003" {
		t.Fatalf("nodes page: %v", n)
	}
}

// TestRESTRefusalsWriteNothing: requests the gRPC API refuses — invalid,
// unauthenticated, over the size limit, with unknown fields — are refused
// over REST with the matching HTTP status and change nothing in the
// replicated state.
func TestRESTRefusalsWriteNothing(t *testing.T) {
	s, base := restServer(t)
	alice := must(t, "POST", base+"/v1/tenants", s.AdminToken, `{"name":"alice"}`)["token"].(string)
	id := must(t, "POST", base+"/v1/jobs", alice, `{"name":"keep","num_nodes":1,"time_limit":"600s","interactive":true}`)["job_id"].(string)
	testutil.WaitFor(t, "the job to run", 20*time.Second, func() bool {
		return must(t, "GET", base+"/v1/jobs/"+id, alice, "")["state"] == "running"
	})
	snapshot := func() string {
		var b []byte
		s.fsm.Read(func(st *fsm.State) {
			b, _ = json.Marshal(struct {
				Next    uint64
				Jobs    any
				Tenants int
			}{st.NextJobID, st.Jobs, len(st.Tenants)})
		})
		return string(b)
	}
	before := snapshot()

	big := `{"name":"big","num_nodes":1,"time_limit":"600s","script":"` + strings.Repeat("x", 9<<20) + `"}`
	huge := `{"name":"big","num_nodes":1,"time_limit":"600s","script":"#!/bin/sh\n` + strings.Repeat("x", 5<<20) + `"}`
	for _, c := range []struct {
		name, method, path, token, body string
		code                            int
	}{
		{"no token", "POST", "/v1/jobs", "", `{"num_nodes":1,"time_limit":"600s","argv":["true"]}`, http.StatusUnauthorized},
		{"bad token", "POST", "/v1/jobs", "ibex_nope", `{"num_nodes":1,"time_limit":"600s","argv":["true"]}`, http.StatusUnauthorized},
		{"no time limit", "POST", "/v1/jobs", alice, `{"num_nodes":1,"argv":["true"]}`, http.StatusBadRequest},
		{"zero nodes", "POST", "/v1/jobs", alice, `{"num_nodes":0,"time_limit":"600s","argv":["true"]}`, http.StatusBadRequest},
		{"too many nodes", "POST", "/v1/jobs", alice, `{"num_nodes":99,"time_limit":"600s","argv":["true"]}`, http.StatusBadRequest},
		{"script and argv", "POST", "/v1/jobs", alice, `{"num_nodes":1,"time_limit":"600s","argv":["true"],"script":"#!/bin/sh\ntrue\n"}`, http.StatusBadRequest},
		{"unknown field", "POST", "/v1/jobs", alice, `{"num_node":1,"time_limit":"600s","argv":["true"]}`, http.StatusBadRequest},
		{"not JSON", "POST", "/v1/jobs", alice, `num_nodes=1`, http.StatusBadRequest},
		{"body over the limit", "POST", "/v1/jobs", alice, big, http.StatusRequestEntityTooLarge},
		{"message over gRPC's limit", "POST", "/v1/jobs", alice, huge, http.StatusTooManyRequests}, // ResourceExhausted
		{"tenant creates a tenant", "POST", "/v1/tenants", alice, `{"name":"mallory","admin":true}`, http.StatusForbidden},
		{"tenant drains a node", "POST", "/v1/nodes/node001:drain", alice, `{"reason":"x"}`, http.StatusForbidden},
		{"id not a number", "POST", "/v1/jobs/x:cancel", alice, `{}`, http.StatusBadRequest},
	} {
		code, out := call(t, c.method, base+c.path, c.token, c.body)
		if code != c.code {
			t.Errorf("%s: %d %v, want %d", c.name, code, out, c.code)
		}
		if msg, _ := out["message"].(string); msg == "" || c.token == "" && !strings.Contains(msg, `"Authorization: Bearer TOKEN"`) {
			t.Errorf("%s: no message in %v", c.name, out)
		}
		if after := snapshot(); after != before {
			t.Fatalf("%s: the state changed:\n%s\n%s", c.name, before, after)
		}
	}
}

// TestHealthAndReflection: the gRPC port answers grpc.health.v1 without a
// token (SERVING for the API and for the leader on the leader) and lists
// its services through reflection; a stopping server reports NOT_SERVING.
func TestHealthAndReflection(t *testing.T) {
	s, _ := restServer(t)
	conn := dialAPI(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	hc := healthpb.NewHealthClient(conn)
	for _, name := range []string{"", "ibex.v1.Jobs", "ibex.v1.Nodes", LeaderHealthService} {
		testutil.WaitFor(t, "health of "+name, 10*time.Second, func() bool {
			r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
			return err == nil && r.Status == healthpb.HealthCheckResponse_SERVING
		})
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"}); err == nil {
		t.Fatal("an unknown service has a health status")
	}

	rc, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, sv := range resp.GetListServicesResponse().GetService() {
		got[sv.Name] = true
	}
	for _, want := range []string{"ibex.v1.Jobs", "ibex.v1.Nodes", "ibex.v1.Tenants", "ibex.v1.Servers", "ibex.v1.Fleet",
		"ibex.v1.Topology", "ibex.v1.Launch", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !got[want] {
			t.Errorf("reflection lists %v, not %s", got, want)
		}
	}
	// The descriptor of a service comes back, as grpcurl's describe needs.
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "ibex.v1.Jobs"}}); err != nil {
		t.Fatal(err)
	}
	if r, err := rc.Recv(); err != nil || len(r.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("file of ibex.v1.Jobs: %v %v", r, err)
	}
	rc.CloseSend()

	s.stopGRPCExtras()
	for _, name := range []string{"", LeaderHealthService} {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
		if err != nil || r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("stopping server, %q: %v %v", name, r, err)
		}
	}
}

// dialAPI connects to the server's gRPC port over TLS, trusting its CA,
// with no token.
func dialAPI(t *testing.T, s *Server) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if s.tls != nil {
		creds = credentials.NewTLS(s.tls.localClientConfig())
	}
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestHealthStatus: what leading and knowing a leader mean for health.
func TestHealthStatus(t *testing.T) {
	S, N := healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	for _, c := range []struct {
		leader, known bool
		api, lead     healthpb.HealthCheckResponse_ServingStatus
	}{
		{true, true, S, S},
		{false, true, S, N},  // a follower forwards to the leader it knows
		{false, false, N, N}, // an election, a lost quorum, not joined yet
	} {
		api, lead := healthStatus(c.leader, c.known)
		if api != c.api || lead != c.lead {
			t.Errorf("leader=%v known=%v: %v %v, want %v %v", c.leader, c.known, api, lead, c.api, c.lead)
		}
	}
}

// TestOpenAPIServed: ibexd serves the committed OpenAPI document without a
// token, and the REST paths are under it.
func TestOpenAPIServed(t *testing.T) {
	_, base := restServer(t)
	resp, err := http.Get(base + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, pb.OpenAPI) {
		t.Fatalf("openapi.json: %d, %d bytes (committed: %d)", resp.StatusCode, len(body), len(pb.OpenAPI))
	}
	var doc struct{ Paths map[string]any }
	if err := json.Unmarshal(body, &doc); err != nil || doc.Paths["/v1/jobs"] == nil {
		t.Fatalf("openapi.json paths: %v %v", doc.Paths, err)
	}
}

// TestRESTAndHealthOnAFollower: in a three-server cluster, a REST submit
// to a follower is forwarded to the leader like a gRPC one, and health
// says SERVING everywhere for the API but for ibex.leader only on the
// leader.
func TestRESTAndHealthOnAFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("three servers: not in -short")
	}
	dir := t.TempDir()
	fab := topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2}
	var peers []Peer
	for i := range 3 {
		peers = append(peers, Peer{ID: fmt.Sprintf("s%d", i+1), RaftAddr: testcluster.FreeAddr(t), APIAddr: testcluster.FreeAddr(t)})
	}
	servers := make([]*Server, 3)
	errs := make(chan error, 3)
	for i, p := range peers {
		cfg := Config{DataDir: t.TempDir(), NodeID: p.ID, Bootstrap: true, Peers: peers, Simulate: true, Fabric: fab,
			Listen: p.APIAddr, RaftAddr: p.RaftAddr, HTTPListen: testcluster.FreeAddr(t),
			AdminTokenFile: dir + "/admin.token", ClusterCAFile: dir + "/cluster-ca.pem",
			HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
			ReconcileEvery: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		for _, h := range fab.Hosts() {
			cfg.Hosts = append(cfg.Hosts, fabricview.Host{Host: h})
		}
		go func() {
			ctx, cancel := context.WithCancel(context.Background())
			s, err := Start(ctx, cfg)
			if err != nil {
				cancel()
				errs <- err
				return
			}
			done := make(chan struct{})
			go func() { defer close(done); s.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done; s.Stop() })
			servers[i] = s
			errs <- nil
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var leader, follower *Server
	testutil.WaitFor(t, "a leader", 20*time.Second, func() bool {
		leader, follower = nil, nil
		for _, s := range servers {
			if s.cluster.IsLeader() {
				leader = s
			} else {
				follower = s
			}
		}
		return leader != nil
	})
	token := ""
	testutil.WaitFor(t, "the admin token", 20*time.Second, func() bool {
		for _, s := range servers {
			if s.AdminToken != "" {
				token = s.AdminToken
			}
		}
		return token != ""
	})
	base := "http://" + follower.HTTPAddr()
	id := must(t, "POST", base+"/v1/jobs", token, `{"name":"fwd","num_nodes":1,"time_limit":"60s","interactive":true}`)["job_id"].(string)
	var onLeader bool
	leader.fsm.Read(func(st *fsm.State) { _, onLeader = st.Jobs[1] })
	if id != "1" || !onLeader {
		t.Fatalf("submit through a follower: job %s, on the leader: %v", id, onLeader)
	}
	if j := must(t, "GET", base+"/v1/jobs/"+id, token, ""); j["name"] != "fwd" {
		t.Fatalf("get through a follower: %v", j)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, c := range []struct {
		s            *Server
		api, leading healthpb.HealthCheckResponse_ServingStatus
	}{
		{leader, healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_SERVING},
		{follower, healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING},
	} {
		hc := healthpb.NewHealthClient(dialAPI(t, c.s))
		testutil.WaitFor(t, "health of "+c.s.cfg.NodeID, 10*time.Second, func() bool {
			a, err1 := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "ibex.v1.Jobs"})
			l, err2 := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: LeaderHealthService})
			return err1 == nil && err2 == nil && a.Status == c.api && l.Status == c.leading
		})
	}
}

// TestRESTOverHTTPS: with the HTTP listener off loopback, the REST API is
// HTTPS only (as the dashboard), with the API's certificate.
func TestRESTOverHTTPS(t *testing.T) {
	runner, err := localexec.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: t.TempDir(), Bootstrap: true, Simulate: true, Exec: ctlexec.New(runner),
		Listen: testcluster.FreeAddr(t), RaftAddr: testcluster.FreeAddr(t), HTTPListen: "0.0.0.0:0",
		Fabric: topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, h := range cfg.Fabric.Hosts() {
		cfg.Hosts = append(cfg.Hosts, fabricview.Host{Host: h})
	}
	s, stop := runServer(t, cfg)
	defer stop()
	_, port, _ := net.SplitHostPort(s.HTTPAddr())
	addr := "127.0.0.1:" + port

	if resp, err := http.Get("http://" + addr + "/v1/whoami"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
			t.Fatalf("plain HTTP to a non-loopback listener answered %d", resp.StatusCode)
		}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: s.tls.localClientConfig()}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var who map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&who); err != nil || resp.StatusCode != http.StatusOK || who["name"] != "admin" {
		t.Fatalf("whoami over HTTPS: %d %v %v", resp.StatusCode, who, err)
	}
}

// BenchmarkGetJob: one job read over REST (HTTP/1.1 keep-alive, JSON,
// then the in-process gRPC hop) and over gRPC directly, against the same
// server: the gateway's cost per call.
//
//	go test ./server -run '^$' -bench GetJob -benchtime 2000x
func BenchmarkGetJob(b *testing.B) {
	s, base := restServer(b)
	id := must(b, "POST", base+"/v1/jobs", s.AdminToken, `{"num_nodes":1,"time_limit":"600s","interactive":true}`)["job_id"].(string)
	b.Run("rest", func(b *testing.B) {
		req, _ := http.NewRequest("GET", base+"/v1/jobs/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+s.AdminToken)
		for b.Loop() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatal(resp.Status)
			}
		}
	})
	b.Run("grpc", func(b *testing.B) {
		cl, err := client.New(s.Addr(), s.AdminToken, client.WithCAPin(s.CAPin()))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		ctx := cl.Context(context.Background())
		var n uint64
		fmt.Sscan(id, &n)
		for b.Loop() {
			if _, err := cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: n}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
