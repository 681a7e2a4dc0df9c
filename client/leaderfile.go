package client

// Remembering the leader between processes. A CLI process makes one call
// and exits, so what multiConn learns about the leader (the ibex-leader-api
// header of a follower that forwarded the call) was lost with it: with
// the leader not first in the configured list, every call went to a
// follower, which handled a TLS handshake and forwarded it, one more hop
// and a second server's work per call. WithLeaderFile keeps the leader's
// address in a small file; the next process connects to it first.

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/grpc/metadata"
)

// WithLeaderFile remembers in path which configured server leads (the CLI
// keeps it in the user's cache directory). The file is only a hint: a
// missing, unreadable or stale one means starting at the first address,
// as without it, and it is written only when the leader is not the server
// the process started with.
func WithLeaderFile(path string) Option { return func(o *options) { o.leaderFile = path } }

// maxLeaderFile bounds what is read of a leader file: one address.
const maxLeaderFile = 1 << 10

// leaderMemory is a multiConn's leader file and what it said.
type leaderMemory struct {
	file       string
	configured int // the configured servers, addrs[:configured]; learned ones are not remembered
	recalled   int // the server the file named (0 without one): where calls started
}

// recallLeader starts the calls at the configured server the leader file
// names. The caller owns m (DialAll).
func (m *multiConn) recallLeader() {
	m.leader.configured = len(m.addrs)
	if m.leader.file == "" {
		return
	}
	f, err := os.Open(m.leader.file)
	if err != nil {
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLeaderFile+1))
	if err != nil {
		return
	}
	m.leader.recalled = leaderIndex(b, m.addrs)
	m.next = m.leader.recalled
}

// leaderIndex is the index in addrs of the address a leader file holds,
// or 0 (the first server) when it holds none of them.
func leaderIndex(b []byte, addrs []string) int {
	if len(b) > maxLeaderFile {
		return 0
	}
	return max(0, slices.Index(addrs, strings.TrimSpace(string(b))))
}

// noteLeader records that configured server i leads, if that is news to
// the file. A failure to write is ignored: the file is only a hint.
func (m *multiConn) noteLeader(i int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lm := &m.leader
	if lm.file == "" || i == lm.recalled || i >= lm.configured {
		return
	}
	if err := writeLeaderFile(lm.file, m.addrs[i]); err == nil {
		lm.recalled = i
	}
}

// writeLeaderFile replaces path with addr, atomically: concurrent CLI
// processes read either the old leader or the new one.
func writeLeaderFile(path, addr string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.WriteString(addr + "\n")
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// answeredByLeader reports whether a call that succeeded without a
// leader hint was answered by the leader: a follower forwards every call
// (and names the leader) except stale reads and Servers/Local, which it
// answers itself.
func answeredByLeader(ctx context.Context, method string) bool {
	if method == "/ibex.v1.Servers/Local" {
		return false
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	return !slices.Contains(md.Get("ibex-consistency"), "stale")
}
