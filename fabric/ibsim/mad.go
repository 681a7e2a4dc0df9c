package ibsim

import (
	"encoding/binary"
	"fmt"
)

// Subnet management packet (SMP) layout, IBA vol. 1 ch. 14: the
// 24-byte common MAD header, M_Key, DR SLID/DLID, reserved, 64 bytes
// of attribute data at offset 64, and for directed-route SMPs the
// initial and return paths at 128 and 192.
const (
	madSize        = 256
	smpData        = 64
	smpInitialPath = 128
	classDirected  = 0x81
	methodGet      = 0x01
	attrNodeInfo   = 0x0011
	attrPKeyTable  = 0x0016
	nodeTypeSwitch = 2
)

// drGet builds a directed-route SubnGet(attr, mod) along path (element
// 0 unused; len(path)-1 hops). Directed routes need no LIDs, so they
// work before the SM has swept and keep working if it restarts.
func drGet(attr uint16, mod uint32, path []byte) []byte {
	m := make([]byte, madSize)
	m[0] = 1 // base version
	m[1] = classDirected
	m[2] = 1 // class version
	m[3] = methodGet
	m[6] = 0                   // hop pointer
	m[7] = byte(len(path) - 1) // hop count
	binary.BigEndian.PutUint16(m[16:], attr)
	binary.BigEndian.PutUint32(m[20:], mod)
	binary.BigEndian.PutUint16(m[32:], 0xffff) // DrSLID: permissive
	binary.BigEndian.PutUint16(m[34:], 0xffff) // DrDLID: permissive
	copy(m[smpInitialPath:], path)
	return m
}

// smpStatus returns the reply's status, without the direction bit.
func smpStatus(reply []byte) uint16 { return binary.BigEndian.Uint16(reply[4:]) & 0x7fff }

// nodeInfo is the part of the NodeInfo attribute we need.
type nodeInfo struct {
	nodeType     byte
	portGUID     uint64
	partitionCap int
}

func parseNodeInfo(reply []byte) (nodeInfo, error) {
	if s := smpStatus(reply); s != 0 {
		return nodeInfo{}, fmt.Errorf("NodeInfo status 0x%04x", s)
	}
	d := reply[smpData:]
	return nodeInfo{
		nodeType:     d[1],
		portGUID:     binary.BigEndian.Uint64(d[20:]),
		partitionCap: int(binary.BigEndian.Uint16(d[28:])),
	}, nil
}

// pkeyBlock returns the 32 entries of one P_Key table block.
func pkeyBlock(reply []byte) ([]uint16, error) {
	if s := smpStatus(reply); s != 0 {
		return nil, fmt.Errorf("PKeyTable status 0x%04x", s)
	}
	d := reply[smpData:]
	out := make([]uint16, 32)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(d[2*i:])
	}
	return out, nil
}
