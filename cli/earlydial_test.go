package cli

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	ibexclient "github.com/ibex-hpc/ibex/client"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// countingListener counts the connections a server accepts.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// submitServer answers Submit with job 42 and records each call's token.
type submitServer struct {
	pb.UnimplementedJobsServer
	mu     sync.Mutex
	tokens []string
}

func (s *submitServer) Submit(ctx context.Context, req *pb.SubmitRequest) (*pb.SubmitResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.tokens = append(s.tokens, strings.Join(md.Get("authorization"), ","))
	s.mu.Unlock()
	return &pb.SubmitResponse{JobId: 42}, nil
}

// startSubmitServer serves submitServer over plaintext gRPC and points the
// CLI's environment at it.
func startSubmitServer(t *testing.T) (*countingListener, *submitServer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	srv := grpc.NewServer()
	ss := &submitServer{}
	pb.RegisterJobsServer(srv, ss)
	go srv.Serve(cl)
	t.Cleanup(srv.Stop)
	dir := t.TempDir()
	t.Setenv("IBEX_ADDR", ln.Addr().String())
	t.Setenv("IBEX_TOKEN", "tok-env")
	t.Setenv("IBEX_PLAINTEXT", "1")
	t.Setenv("IBEX_CONFIG", filepath.Join(dir, "none.json"))
	t.Setenv("IBEX_CA_PIN", "")
	t.Setenv("IBEX_CA_FILE", "")
	t.Setenv("XDG_CACHE_HOME", dir)
	return cl, ss
}

// A submit connects once: the connection Main starts before parsing the
// command line is the one the command uses.
func TestSubmitUsesTheEarlyConnection(t *testing.T) {
	ln, ss := startSubmitServer(t)
	t.Chdir(t.TempDir())
	var out, errb bytes.Buffer
	if code := Main([]string{"ibex", "submit", "-H", "--", "true"}, &out, &errb); code != 0 {
		t.Fatalf("submit: exit %d: %s", code, errb.String())
	}
	if got := out.String(); got != "Submitted job 42\n" {
		t.Errorf("output %q", got)
	}
	if n := ln.n.Load(); n != 1 {
		t.Errorf("the submit opened %d connections, want 1", n)
	}
	if len(ss.tokens) != 1 || ss.tokens[0] != "Bearer tok-env" {
		t.Errorf("tokens seen %q, want the environment's", ss.tokens)
	}
}

// A global flag decides the connection: no early one is made, and the
// command's own connection uses the flag.
func TestSubmitWithGlobalFlagsDialsOnce(t *testing.T) {
	ln, ss := startSubmitServer(t)
	t.Chdir(t.TempDir())
	var out, errb bytes.Buffer
	if code := Main([]string{"ibex", "--token", "tok-flag", "submit", "-H", "--", "true"}, &out, &errb); code != 0 {
		t.Fatalf("submit: exit %d: %s", code, errb.String())
	}
	if n := ln.n.Load(); n != 1 {
		t.Errorf("the submit opened %d connections, want 1", n)
	}
	if len(ss.tokens) != 1 || ss.tokens[0] != "Bearer tok-flag" {
		t.Errorf("tokens seen %q, want the flag's", ss.tokens)
	}
}

// Only the commands of earlyDialCommands connect early, and not when
// they only show help.
func TestWhichCommandsDialEarly(t *testing.T) {
	startSubmitServer(t)
	app := App()
	for _, tc := range []struct {
		args  []string
		early bool
	}{
		{[]string{"ibex", "submit", "-H", "--", "true"}, true},
		{[]string{"ibex", "submit", "--", "--help"}, true}, // a command named --help
		{[]string{"ibex", "submit", "--help"}, false},
		{[]string{"ibex", "submit", "-h", "--", "true"}, false},
		{[]string{"ibex", "submit", "--generate-bash-completion"}, false},
		{[]string{"ibex", "--token", "x", "submit", "true"}, false},
		{[]string{"ibex", "queue"}, true},
		{[]string{"ibex", "cancel", "12"}, true},
		{[]string{"ibex", "nodes", "list"}, false},
		{[]string{"ibex", "exec", "n1", "true"}, false},
		{[]string{"ibex", "--version"}, false},
	} {
		e := startEarlyDial(app, tc.args)
		if (e != nil) != tc.early {
			t.Errorf("%q: early connection %v, want %v", tc.args, e != nil, tc.early)
		}
		e.discard()
	}
}

// An early connection made with other settings than the command line's is
// closed, not used.
func TestEarlyDialWithOtherSettingsIsNotTaken(t *testing.T) {
	s := connSettings{addr: "127.0.0.1:1", token: "a", trust: ibexclient.Trust{Plaintext: true}}
	cl, err := s.dial()
	if err != nil {
		t.Fatal(err)
	}
	e := &earlyDial{s: s, cl: cl}
	other := s
	other.token = "b"
	if got := e.take(other); got != nil {
		t.Fatal("took an early connection made with another token")
	}
	if got := e.take(s); got != nil {
		t.Fatal("took an early connection twice")
	}
	e2 := &earlyDial{s: s, cl: cl}
	if got := e2.take(s); got != cl {
		t.Fatal("did not take an early connection made with the same settings")
	}
}

// envFlags reads the global flags as urfave/cli would with none given.
func TestEnvFlags(t *testing.T) {
	app := App()
	t.Setenv("IBEX_ADDR", "h:1")
	t.Setenv("IBEX_PLAINTEXT", "true")
	t.Setenv("IBEX_CONFIG", "")
	ef := envFlags(app.Flags)
	if got := ef.String("addr"); got != "h:1" {
		t.Errorf("addr %q", got)
	}
	if !ef.Bool("plaintext") {
		t.Error("plaintext not read from IBEX_PLAINTEXT")
	}
	if got := ef.String("config"); got != "" {
		t.Errorf("config %q: an empty IBEX_CONFIG is set, as urfave/cli reads it", got)
	}
	t.Setenv("IBEX_PLAINTEXT", "maybe")
	if ef.Bool("plaintext") {
		t.Error("an unparsable bool read as true")
	}
	if got := ef.String("no-such-flag"); got != "" {
		t.Errorf("unknown flag read as %q", got)
	}
}
