package fsm

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// The ledger section of a format-2 snapshot (snapshot.go has the layout):
// its encoder and its size-checked decoder.

// Entry flags of the ledger section.
const (
	leOK        = 1 << iota
	leStartTime // Start == Time
	leEndTime   // End == Time
	lePrevChain // Prev is the previous entry's Hash
	leSeqNext   // Seq is the previous entry's Seq + 1
	leHashRaw   // Hash is 32 bytes (written in hex, lower case)
	lePrevRaw   // Prev, when written, is 32 bytes
	leJob       // JobID follows
	leTenant    // Tenant follows
	leFlagsAll  = 1<<iota - 1
)

// isHexHash reports whether h is 64 lower-case hex digits: a hash the
// section writes as its 32 bytes (and hex.EncodeToString gives back).
func isHexHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// appendHexHash appends the 32 bytes of h, which isHexHash accepted.
func appendHexHash(b []byte, h string) []byte {
	n := len(b)
	b = append(b, make([]byte, 32)...)
	for i := range 32 {
		b[n+i] = hexVal[h[2*i]]<<4 | hexVal[h[2*i+1]]
	}
	return b
}

// hexVal is the value of each lower-case hex digit.
var hexVal = func() (t [256]byte) {
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
	}
	return t
}()

// strTable interns strings for the ledger section.
type strTable struct {
	idx  map[string]uint64
	list []string
}

func (t *strTable) ref(s string) uint64 {
	if i, ok := t.idx[s]; ok {
		return i
	}
	i := uint64(len(t.list))
	t.idx[s] = i
	t.list = append(t.list, s)
	return i
}

// encodeLedger writes the ledger section.
func encodeLedger(ledger map[string][]model.LedgerEntry) []byte {
	names := make([]string, 0, len(ledger))
	for n := range ledger {
		names = append(names, n)
	}
	slices.Sort(names)
	entries := 0
	for _, l := range ledger {
		entries += len(l)
	}
	t := &strTable{idx: map[string]uint64{}}
	body := make([]byte, 0, 64*entries+8*len(names)) // about what an entry takes
	body = binary.AppendUvarint(body, uint64(len(names)))
	for _, name := range names {
		body = binary.AppendUvarint(body, t.ref(name))
		l := ledger[name]
		if l == nil {
			body = binary.AppendUvarint(body, 0)
			continue
		}
		body = binary.AppendUvarint(body, uint64(len(l))+1)
		var prev *model.LedgerEntry
		for i := range l {
			body = appendEntry(body, t, &l[i], prev)
			prev = &l[i]
		}
	}
	size := len(body) + 10
	for _, s := range t.list {
		size += len(s) + 5
	}
	out := make([]byte, 0, size)
	out = binary.AppendUvarint(out, uint64(len(t.list)))
	for _, s := range t.list {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return append(out, body...)
}

func appendEntry(b []byte, t *strTable, e, prev *model.LedgerEntry) []byte {
	var f uint64
	if e.OK {
		f |= leOK
	}
	if e.Start.Equal(e.Time) && sameZone(e.Start, e.Time) && !e.Time.IsZero() {
		f |= leStartTime
	}
	if e.End.Equal(e.Time) && sameZone(e.End, e.Time) && !e.Time.IsZero() {
		f |= leEndTime
	}
	if prev != nil && e.Prev == prev.Hash {
		f |= lePrevChain
	}
	if prev != nil && e.Seq == prev.Seq+1 {
		f |= leSeqNext
	}
	hashRaw := isHexHash(e.Hash)
	if hashRaw {
		f |= leHashRaw
	}
	if f&lePrevChain == 0 && isHexHash(e.Prev) {
		f |= lePrevRaw
	}
	if e.JobID != 0 {
		f |= leJob
	}
	if e.Tenant != "" {
		f |= leTenant
	}
	b = binary.AppendUvarint(b, f)
	b = appendSnapTime(b, e.Time)
	b = binary.AppendUvarint(b, t.ref(e.Step))
	b = binary.AppendUvarint(b, t.ref(e.Actor))
	b = binary.AppendUvarint(b, t.ref(e.Evidence))
	if f&leJob != 0 {
		b = binary.AppendUvarint(b, e.JobID)
	}
	if f&leTenant != 0 {
		b = binary.AppendUvarint(b, t.ref(e.Tenant))
	}
	if f&leSeqNext == 0 {
		b = binary.AppendUvarint(b, e.Seq)
	}
	switch {
	case f&lePrevChain != 0:
	case f&lePrevRaw != 0:
		b = appendHexHash(b, e.Prev)
	default:
		b = binary.AppendUvarint(b, uint64(len(e.Prev)))
		b = append(b, e.Prev...)
	}
	if hashRaw {
		b = appendHexHash(b, e.Hash)
	} else {
		b = binary.AppendUvarint(b, uint64(len(e.Hash)))
		b = append(b, e.Hash...)
	}
	if f&leStartTime == 0 {
		b = appendSnapTime(b, e.Start)
	}
	if f&leEndTime == 0 {
		b = appendSnapTime(b, e.End)
	}
	return b
}

// sameZone reports whether a and b have the same zone offset: what JSON
// keeps of a time besides its instant.
func sameZone(a, b time.Time) bool {
	_, oa := a.Zone()
	_, ob := b.Zone()
	return oa == ob
}

// appendSnapTime writes a time as JSON keeps it: the instant and the zone
// offset. Tag 0 is the zero time; 1 is UTC; 2 carries an offset.
func appendSnapTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	_, off := t.Zone()
	if off == 0 {
		b = append(b, 1)
	} else {
		b = append(b, 2)
		b = binary.AppendVarint(b, int64(off))
	}
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// secReader reads the ledger section with every read checked against
// the bytes left.
type secReader struct {
	b   []byte
	err error
}

func (r *secReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *secReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("%s: bad or truncated number", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *secReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("%s: bad or truncated number", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *secReader) bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("%s: %d bytes announced, %d left", what, n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// count reads a count of items of at least min bytes each, refusing one
// the bytes left cannot hold (so nothing is allocated for a lie).
func (r *secReader) count(min int, what string) int {
	n := r.uvarint(what)
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.fail("%s: %d announced, the %d bytes left hold at most %d", what, n, len(r.b), len(r.b)/min)
		return 0
	}
	return int(n)
}

func (r *secReader) str(table []string, what string) string {
	i := r.uvarint(what)
	if r.err == nil && i >= uint64(len(table)) {
		r.fail("%s: string %d of a table of %d", what, i, len(table))
		return ""
	}
	if r.err != nil {
		return ""
	}
	return table[i]
}

// maxSnapTime bounds a time's seconds to what JSON can write (years
// 0-9999), as the JSON form could never hold more.
const maxSnapTime = 253402300799

func (r *secReader) time(what string) time.Time {
	if r.err != nil {
		return time.Time{}
	}
	tag := r.bytes(1, what)
	if r.err != nil {
		return time.Time{}
	}
	var off int64
	switch tag[0] {
	case 0:
		return time.Time{}
	case 1:
	case 2:
		off = r.varint(what)
		if off == 0 || off <= -24*3600 || off >= 24*3600 {
			r.fail("%s: zone offset %d s", what, off)
		}
	default:
		r.fail("%s: unknown time tag %d", what, tag[0])
	}
	sec, nsec := r.varint(what), r.uvarint(what)
	if r.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 || sec < -62135596800 || sec > maxSnapTime {
		r.fail("%s: time %d s %d ns is out of range", what, sec, nsec)
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if off != 0 {
		t = t.In(time.FixedZone("", int(off)))
	}
	return t
}

func (r *secReader) hash(raw bool, what string) string {
	if raw {
		return hex.EncodeToString(r.bytes(32, what))
	}
	return string(r.bytes(r.uvarint(what), what))
}

// decodeLedger reads the ledger section written by encodeLedger.
func decodeLedger(b []byte) (map[string][]model.LedgerEntry, error) {
	r := &secReader{b: b}
	table := make([]string, r.count(1, "string table"))
	for i := range table {
		table[i] = string(r.bytes(r.uvarint("string"), "string"))
	}
	nodes := r.count(2, "nodes")
	ledger := make(map[string][]model.LedgerEntry, nodes)
	last := ""
	for i := 0; i < nodes && r.err == nil; i++ {
		name := r.str(table, "node name")
		if r.err == nil && i > 0 && name <= last {
			r.fail("node %q: the nodes are not in name order", name)
		}
		last = name
		n := r.count(1, "entries of "+name)
		if n == 0 {
			ledger[name] = nil
			continue
		}
		if uint64(n-1) > uint64(len(r.b)/6) { // an entry is at least 6 bytes
			r.fail("entries of %s: %d announced, the %d bytes left hold fewer", name, n-1, len(r.b))
			break
		}
		l := make([]model.LedgerEntry, n-1)
		for k := range l {
			readEntry(r, table, l, k)
		}
		ledger[name] = l
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the last node", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return ledger, nil
}

func readEntry(r *secReader, table []string, l []model.LedgerEntry, k int) {
	e := &l[k]
	f := r.uvarint("entry flags")
	if f&^leFlagsAll != 0 {
		r.fail("entry flags %#x", f)
	}
	if k == 0 && f&(lePrevChain|leSeqNext) != 0 {
		r.fail("the first entry refers to one before it")
	}
	e.OK = f&leOK != 0
	e.Time = r.time("entry time")
	e.Step = r.str(table, "step")
	e.Actor = r.str(table, "actor")
	e.Evidence = r.str(table, "evidence")
	if f&leJob != 0 {
		e.JobID = r.uvarint("job id")
	}
	if f&leTenant != 0 {
		e.Tenant = r.str(table, "tenant")
	}
	if f&leSeqNext != 0 && k > 0 {
		e.Seq = l[k-1].Seq + 1
	} else {
		e.Seq = r.uvarint("seq")
	}
	switch {
	case f&lePrevChain != 0 && k > 0:
		e.Prev = l[k-1].Hash
	default:
		e.Prev = r.hash(f&lePrevRaw != 0, "prev")
	}
	e.Hash = r.hash(f&leHashRaw != 0, "hash")
	if f&leStartTime != 0 {
		e.Start = e.Time
	} else {
		e.Start = r.time("start")
	}
	if f&leEndTime != 0 {
		e.End = e.Time
	} else {
		e.End = r.time("end")
	}
}
