package client

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// getName makes one call with a new client, as one CLI process does, and
// returns the name of the server that answered.
func getName(t *testing.T, addrs, leaderFile string, stale bool) string {
	t.Helper()
	c, err := New(addrs, "tok", WithPlaintext(), WithLeaderFile(leaderFile))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Stale = stale
	ctx, cancel := context.WithTimeout(c.Context(context.Background()), 10*time.Second)
	defer cancel()
	j, err := c.Jobs.Get(ctx, &pb.GetJobRequest{JobId: 1})
	if err != nil {
		t.Fatal(err)
	}
	return j.Name
}

// TestLeaderFileSkipsTheFollower: with the leader second in the list, the
// first process goes to the follower, which forwards and names the
// leader; the file remembers it, and the next process goes to the leader
// directly.
func TestLeaderFileSkipsTheFollower(t *testing.T) {
	var servers string
	leaderAddr, _ := serve(t, "leader", &servers)
	followerAddr, _ := serveJobs(t, &jobsServer{name: "follower", servers: &servers, leader: &leaderAddr})
	addrs := followerAddr + "," + leaderAddr
	servers = addrs
	file := filepath.Join(t.TempDir(), "cache", "leader")

	if got := getName(t, addrs, file, false); got != "follower" {
		t.Fatalf("first process: answered by %s, want the first server (follower)", got)
	}
	if b, err := os.ReadFile(file); err != nil || strings.TrimSpace(string(b)) != leaderAddr {
		t.Fatalf("leader file after the forwarded call: %q, %v; want %s", b, err, leaderAddr)
	}
	for i := range 2 {
		if got := getName(t, addrs, file, false); got != "leader" {
			t.Fatalf("process %d after the first: answered by %s, want the remembered leader", i+2, got)
		}
	}
	// Without the file, every process starts at the follower again.
	if got := getName(t, addrs, "", false); got != "follower" {
		t.Fatalf("without a leader file: answered by %s, want the first server", got)
	}
}

// TestLeaderFileIsOnlyAHint: a file naming no configured server (another
// cluster's, stale, garbage) starts at the first server; a stale read a
// follower answers itself does not make it the leader; a leader that is
// already first writes nothing.
func TestLeaderFileIsOnlyAHint(t *testing.T) {
	var servers string
	a, _ := serve(t, "a", &servers)
	b, sb := serve(t, "b", &servers)
	addrs := a + "," + b
	servers = addrs
	dir := t.TempDir()

	file := filepath.Join(dir, "other")
	for _, content := range []string{"10.9.9.9:7700\n", "", strings.Repeat("x", 5000), b + "x"} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := getName(t, addrs, file, false); got != "a" {
			t.Fatalf("leader file %.20q: answered by %s, want the first server", content, got)
		}
	}

	file = filepath.Join(dir, "first")
	getName(t, addrs, file, false)
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("the first server led and a leader file was written (%v)", err)
	}

	// The file names b, which is down: a answers. A stale read, which a
	// follower answers itself, says nothing about who leads; any other
	// call a answers without naming a leader, a leads.
	if err := os.WriteFile(file, []byte(b+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := getName(t, addrs, file, false); got != "b" {
		t.Fatalf("answered by %s, want b, named by the file", got)
	}
	sb.Stop()
	if got := getName(t, addrs, file, true); got != "a" {
		t.Fatalf("answered by %s with b down, want a", got)
	}
	if got, _ := os.ReadFile(file); strings.TrimSpace(string(got)) != b {
		t.Fatalf("leader file %q after a stale read, want %s unchanged", got, b)
	}
	getName(t, addrs, file, false)
	if got, _ := os.ReadFile(file); strings.TrimSpace(string(got)) != a {
		t.Fatalf("leader file %q after a answered a consistent read, want %s", got, a)
	}
}

func TestLeaderIndex(t *testing.T) {
	addrs := []string{"a:1", "b:2", "c:3"}
	for in, want := range map[string]int{"b:2\n": 1, " c:3 ": 2, "a:1": 0, "d:4": 0, "": 0, "b:2\nc:3": 0} {
		if got := leaderIndex([]byte(in), addrs); got != want {
			t.Errorf("leaderIndex(%q) = %d, want %d", in, got, want)
		}
	}
	if got := leaderIndex([]byte("b:2"+strings.Repeat(" ", maxLeaderFile)), addrs); got != 0 {
		t.Errorf("a file over %d bytes: %d, want 0", maxLeaderFile, got)
	}
}

func FuzzLeaderIndex(f *testing.F) {
	f.Add([]byte("b:2\n"))
	f.Add([]byte(""))
	f.Add([]byte("\x00\xff"))
	addrs := []string{"a:1", "b:2", "c:3"}
	f.Fuzz(func(t *testing.T, b []byte) {
		i := leaderIndex(b, addrs)
		if i < 0 || i >= len(addrs) {
			t.Fatalf("index %d out of range", i)
		}
		if i > 0 && strings.TrimSpace(string(b)) != addrs[i] {
			t.Fatalf("%q picked %s", b, addrs[i])
		}
	})
}

// TestLeaderFileNeverNamesAFollower: a follower whose hint names the
// leader by an address not in the list (another name for it) answers,
// and is not remembered as the leader.
func TestLeaderFileNeverNamesAFollower(t *testing.T) {
	var servers string
	down, sd := serve(t, "down", &servers)
	sd.Stop()
	other := "leader.example:7700"
	follower, _ := serveJobs(t, &jobsServer{name: "follower", servers: &servers, leader: &other})
	addrs := down + "," + follower
	servers = addrs
	file := filepath.Join(t.TempDir(), "leader")
	if got := getName(t, addrs, file, false); got != "follower" {
		t.Fatalf("answered by %s", got)
	}
	if b, err := os.ReadFile(file); err == nil {
		t.Fatalf("leader file names %q, a follower", b)
	}
}
