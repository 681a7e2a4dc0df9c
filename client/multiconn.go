// Package client connects to an ibex cluster: several servers behind one
// grpc.ClientConnInterface that skips servers that are down, plus the
// caller's bearer token. The CLI and the tests use it.
package client

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// multiConn spreads calls over several ibexd servers: a call that finds a
// server down or without a leader is retried on the next one until its
// deadline. Submits carry a request id, so a retry never creates a second
// job. It learns the cluster's other servers from the first answer (the
// ibex-servers header), so a client configured with one address still
// fails over when that server dies.
type MultiConn = multiConn

type multiConn struct {
	addrs     []string
	conns     []*grpc.ClientConn
	creds     []credentials.TransportCredentials // conns[i]'s, asked why a handshake failed
	newCreds  func() credentials.TransportCredentials
	plaintext bool
	mu        sync.Mutex
	next      int // the server that answered last; tried first
	warmer        // startup.go
	leader    leaderMemory
}

var _ grpc.ClientConnInterface = (*multiConn)(nil)

// DialAll connects to a comma-separated list of server addresses, trusting
// them as opts say (see Trust; by default TLS with the system's roots).
func DialAll(addrList string, opts ...Option) (*multiConn, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	newCreds, err := o.newCredentials()
	if err != nil {
		return nil, err
	}
	m := &multiConn{newCreds: newCreds, plaintext: o.Plaintext, leader: leaderMemory{file: o.leaderFile}}
	for _, a := range strings.Split(addrList, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if err := m.dial(a); err != nil {
			m.Close()
			return nil, err
		}
	}
	if len(m.conns) == 0 {
		return nil, errors.New("no server address given")
	}
	m.recallLeader() // leaderfile.go: start at the server that led last time
	m.connectFirst() // startup.go
	return m, nil
}

// dial adds a connection to a; the caller holds mu or owns m.
func (m *multiConn) dial(a string) error {
	creds := m.newCreds()
	c, err := grpc.NewClient(a, append(dialOptions(), grpc.WithTransportCredentials(creds))...)
	if err != nil {
		return err
	}
	m.addrs = append(m.addrs, a)
	m.conns = append(m.conns, c)
	m.creds = append(m.creds, creds)
	return nil
}

// explain is a TrustError for the failure err of server i, or nil.
func (m *multiConn) explain(i int, err error) error {
	m.mu.Lock()
	addr, creds := m.addrs[i], m.creds[i]
	m.mu.Unlock()
	return explain(addr, creds, m.plaintext, err)
}

// pick returns the connection of server i (mod the servers known now) and
// how many servers are known.
func (m *multiConn) pick(i int) (int, *grpc.ClientConn, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i %= len(m.conns)
	return i, m.conns[i], len(m.conns)
}

// learn adds the servers of an ibex-servers header that are not known yet.
func (m *multiConn) learn(list []string) {
	if len(list) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range strings.Split(list[0], ",") {
		if a = strings.TrimSpace(a); a == "" || slices.Contains(m.addrs, a) {
			continue
		}
		_ = m.dial(a) // an address gRPC cannot parse is skipped
	}
}

// tryTimeout is the longest one server gets to answer a call before the
// call moves on to the next one.
const tryTimeout = 3 * time.Second

func (m *multiConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	m.warm(args) // startup.go
	m.mu.Lock()
	start := m.next
	m.mu.Unlock()
	var lastErr error
	distrusted := map[int]bool{} // servers that failed the TLS check this call
	var trustErr error           // the last such failure: it says more than a server that is down
	for attempt := 0; ; attempt++ {
		i, conn, known := m.pick(start + attempt)
		// Each try gets a slice of the remaining time, so one hung server
		// cannot use it all.
		tctx, cancel := context.WithTimeout(ctx, tryTimeout)
		tctx = metadata.AppendToOutgoingContext(tctx, "ibex-servers-known", strconv.Itoa(known))
		var header metadata.MD
		err := conn.Invoke(tctx, method, args, reply, append(opts, grpc.Header(&header))...)
		cancel()
		m.learn(header.Get("ibex-servers"))
		if err == nil {
			m.mu.Lock()
			m.next = i
			// A follower that forwarded the call names the leader: go there
			// directly next time if it is one of ours.
			hint := header.Get("ibex-leader-api")
			named := false
			if len(hint) > 0 {
				for j, a := range m.addrs {
					if a == hint[0] {
						m.next, named = j, true
					}
				}
			}
			leader := m.next
			m.mu.Unlock()
			// Remembered only when known to lead: named by the hint, or
			// answering a call only the leader answers. A hint naming
			// none of ours leaves i a follower.
			if named || len(hint) == 0 && answeredByLeader(ctx, method) {
				m.noteLeader(leader) // leaderfile.go
			}
			return nil
		}
		code := status.Code(err)
		if code != codes.Unavailable && !(code == codes.DeadlineExceeded && ctx.Err() == nil) {
			return err
		}
		lastErr = err
		if terr := m.explain(i, err); terr != nil {
			// Final for this server; the others may still be trusted.
			distrusted[i] = true
			trustErr = terr
			if len(distrusted) >= known {
				return terr
			}
		}
		if attempt%known == known-1 { // every server tried: back off
			select {
			case <-ctx.Done():
				return cmp.Or(trustErr, lastErr)
			case <-time.After(100 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			return cmp.Or(trustErr, lastErr)
		}
	}
}

func (m *multiConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	m.mu.Lock()
	c := m.conns[m.next]
	m.mu.Unlock()
	return c.NewStream(ctx, desc, method, opts...)
}

// Close closes every connection.
func (m *multiConn) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.conns {
		c.Close()
	}
	return nil
}
