package netns

import (
	"bufio"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHostsAreSeparateMachines: a process on a host sees the host's name,
// its own address and an empty private /tmp; hosts reach each other and
// the test process over TCP; a cut link stops that.
func TestHostsAreSeparateMachines(t *testing.T) {
	n := New(t)
	a, b := n.AddHost("node-a"), n.AddHost("node-b")
	marker, err := os.CreateTemp("/tmp", "netns-marker-")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	defer os.Remove(marker.Name())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := a.Command(ctx, "/bin/sh", "-c", `hostname; ip -4 -o addr show eth0 | awk '{print $4}'; ls /tmp | wc -l`).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := strings.Fields(string(out))
	if len(got) != 3 || got[0] != "node-a" || got[1] != a.Addr+"/24" || got[2] != "0" {
		t.Fatalf("on node-a: hostname, address, files in /tmp = %q; want [node-a %s/24 0]", got, a.Addr)
	}
	if h, _ := os.Hostname(); h == "node-a" {
		t.Fatal("the host's hostname leaked out of its UTS namespace")
	}

	// A listener on the test's side of the bridge, reached from node-b.
	ln, err := net.Listen("tcp", n.Gateway+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			_, _ = c.Write([]byte(host + "\n"))
			c.Close()
		}
	}()
	dial := func(h *Host) (string, error) {
		cmd := h.Command(ctx, "/bin/bash", "-c", `exec 3<>/dev/tcp/`+strings.Replace(ln.Addr().String(), ":", "/", 1)+` && timeout 5 head -1 <&3`)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if got, err := dial(b); err != nil || got != b.Addr {
		t.Fatalf("node-b dialing the test: peer address %q, err %v; want %s", got, err, b.Addr)
	}

	// Host to host: node-a serves, node-b connects.
	srv := a.Command(ctx, "/bin/sh", "-c", `exec python3 -c 'import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(("0.0.0.0",9000));s.listen();print("up",flush=True);c,a=s.accept();c.send((a[0]+"\n").encode())'`)
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "up" {
		t.Fatalf("server on node-a did not come up: %q", line)
	}
	out, err = b.Command(ctx, "/bin/bash", "-c", `exec 3<>/dev/tcp/`+a.Addr+`/9000 && timeout 5 head -1 <&3`).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != b.Addr {
		t.Fatalf("node-b to node-a: %q, %v; want node-a to see %s", out, err, b.Addr)
	}

	b.Cut()
	if got, err := dial(b); err == nil {
		t.Fatalf("node-b reached the test through a cut link (got %q)", got)
	}
	b.Restore()
}
