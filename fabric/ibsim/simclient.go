package ibsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// simClient speaks ibsim's own client protocol (the one umad2sim
// implements in C) directly from Go.
//
// Why: umad2sim intercepts libc calls, so a Go program cannot use it;
// the alternatives are one smpquery process per port (25-40 ms each,
// mostly umad2sim's fake sysfs and ibsim handshake) or this: one
// attached client sending SMPs at ~0.1 ms each.
//
// Protocol (ibsim include/ibsim.h): datagrams on abstract unix
// sockets named "<IBSIM_SOCKNAME>:ctl", ":out<client>" (ibsim) and
// ":ctl<id>", ":in<id>" (client), each name with one trailing NUL.
// Control messages are struct sim_ctl in host byte order; MADs travel
// in struct sim_request with network-order LIDs and QPs.
type simClient struct {
	ctl, data *net.UnixConn
	out       *net.UnixAddr
	id        uint32 // ibsim's client slot
	tid       atomic.Uint32
	mu        sync.Mutex
}

const (
	simMagic       = 0xdeadbeef
	simCtlConnect  = 1
	simCtlDiscon   = 2
	simCtlSize     = 16 + 64      // magic, clientid, type, len, data[64]
	simRequestSize = 32 + madSize // dlid slid dqp sqp status pad length mad
)

var clientSeq atomic.Uint32

// abstractAddr makes an abstract unix address with ibsim's trailing NUL.
func abstractAddr(name string) *net.UnixAddr {
	return &net.UnixAddr{Name: "@" + name + "\x00", Net: "unixgram"}
}

// dialSim attaches a client to the fabric at node nodeID. Our "pid"
// only names our sockets, so it is made unique per process and call.
func dialSim(sock, nodeID string) (*simClient, error) {
	var id uint32
	var ctl, data *net.UnixConn
	var err error
	for try := 0; try < 20; try++ {
		id = uint32(os.Getpid())<<8 ^ clientSeq.Add(1)*7919 ^ uint32(try)<<20
		id &= 0x7fffffff
		if id == 0 {
			continue
		}
		// The data socket must exist before CONNECT: ibsim connects
		// its out socket to our ":in<id>" name while handling it.
		data, err = net.ListenUnixgram("unixgram", abstractAddr(fmt.Sprintf("%s:in%d", sock, id)))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			return nil, err
		}
		ctl, err = net.DialUnix("unixgram", abstractAddr(fmt.Sprintf("%s:ctl%d", sock, id)), abstractAddr(sock+":ctl"))
		if err != nil {
			data.Close()
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			return nil, fmt.Errorf("ibsim: attach: %w", err)
		}
		break
	}
	if ctl == nil {
		return nil, fmt.Errorf("ibsim: attach: no free socket name: %v", err)
	}
	c := &simClient{ctl: ctl, data: data}
	info := make([]byte, 44) // struct sim_client_info: id, qp, issm, nodeid[32]
	binary.NativeEndian.PutUint32(info[0:], id)
	copy(info[12:43], nodeID)
	reply, err := c.control(simCtlConnect, info)
	if err != nil {
		c.closeSockets()
		return nil, fmt.Errorf("ibsim: attach at %q: %w (ibsim serves at most 10 clients)", nodeID, err)
	}
	c.id = binary.NativeEndian.Uint32(reply[0:])
	c.out = abstractAddr(fmt.Sprintf("%s:out%d", sock, c.id))
	return c, nil
}

// control sends one sim_ctl and returns the reply's data.
func (c *simClient) control(typ uint32, data []byte) ([]byte, error) {
	msg := make([]byte, simCtlSize)
	binary.NativeEndian.PutUint32(msg[0:], simMagic)
	binary.NativeEndian.PutUint32(msg[4:], c.id)
	binary.NativeEndian.PutUint32(msg[8:], typ)
	binary.NativeEndian.PutUint32(msg[12:], uint32(len(data)))
	copy(msg[16:], data)
	_ = c.ctl.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.ctl.Write(msg); err != nil {
		return nil, err
	}
	n, err := c.ctl.Read(msg)
	if err != nil {
		return nil, err
	}
	if n != simCtlSize || binary.NativeEndian.Uint32(msg[8:]) == 0 {
		return nil, errors.New("ibsim refused the request")
	}
	return msg[16:], nil
}

// Close detaches from ibsim, freeing the client slot.
func (c *simClient) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = c.control(simCtlDiscon, nil)
	c.closeSockets()
}

func (c *simClient) closeSockets() {
	c.ctl.Close()
	c.data.Close()
}

// errDropped is ibsim's "no route / dropped" reply (status 110).
var errDropped = errors.New("ibsim: MAD dropped (no route or port down)")

// roundTrip sends one MAD and waits for the reply with the same
// transaction ID. Requests are serialised: ibsim answers in order and
// a unix datagram queue holds only max_dgram_qlen (often 10) replies.
func (c *simClient) roundTrip(mad []byte, dlid uint16) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tid := c.tid.Add(1)
	binary.BigEndian.PutUint32(mad[12:], tid) // low 32 bits of the TID
	req := make([]byte, simRequestSize)
	binary.BigEndian.PutUint16(req[0:], dlid) // dlid, slid: network order in a u32
	if dlid == 0xffff {
		binary.BigEndian.PutUint16(req[4:], 0xffff)
	}
	binary.BigEndian.PutUint64(req[24:], madSize)
	copy(req[32:], mad)
	if _, err := c.data.WriteToUnix(req, c.out); err != nil {
		return nil, fmt.Errorf("ibsim: send: %w", err)
	}
	buf := make([]byte, 1024)
	deadline := time.Now().Add(2 * time.Second)
	for {
		_ = c.data.SetReadDeadline(deadline)
		n, _, err := c.data.ReadFromUnix(buf)
		if err != nil {
			return nil, fmt.Errorf("ibsim: receive: %w", err)
		}
		if n != simRequestSize || binary.BigEndian.Uint32(buf[32+12:]) != tid {
			continue // a stale reply to an earlier, timed-out request
		}
		if binary.BigEndian.Uint32(buf[16:]) != 0 {
			return nil, errDropped
		}
		return buf[32 : 32+madSize], nil
	}
}
