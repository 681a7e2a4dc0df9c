// Package archive keeps, in each server's data directory, the records that
// retention (fsm.ExpireRecords) removed from the live raft state: finished
// jobs and old hygiene-ledger entries. The API answers from it once a
// record is no longer live.
//
// Every server archives what its own FSM expires, so each holds a full
// copy; nothing is replicated between archives. The raft adapter
// (raft/cluster) calls BeginExpiry before an expiry entry is applied and
// EndExpiry with its result after, on raft's apply goroutine, so a batch is
// durable here before any snapshot can contain its removal.
//
// The file (archive.log, mode 0600, in a 0700 directory) is append-only:
//
//	magic "IBEXARC1", then frames
//	[0:4] payload length n, little endian
//	[4:8] CRC32C of bytes [0:4] followed by the payload
//	[8:8+n] payload: a kind byte, then
//	  'J' job id u64 | end time unix ns i64 | the job as JSON
//	  'L' node length u16 | node | the ledger entry as JSON
//	  'C' commit of the batch before it: JSON {seq, before, jobs, ledger}
//	  'G' gap: JSON {from, to, before} (see below)
//
// One expiry is one batch, J and L frames followed by a C frame, written
// with one write and one fdatasync. On open, frames after the last C or G
// frame, or from the first frame that is short or fails its checksum, are
// a torn tail: the file is truncated there. That batch was never
// acknowledged to raft (the apply had not returned), so raft applies the
// entry again after the restart and the batch is written again.
//
// Idempotence: batches carry the FSM's expiry sequence number (fsm.Expiry.Seq).
// A batch at or below the last stored one is a replay (raft re-applies the
// entries after its last snapshot on every restart) and is skipped; a job
// already archived is never written twice.
//
// Gaps: a server whose state is restored from a snapshot (a new or lagging
// server catching up by InstallSnapshot) never applies the expiries the
// snapshot already contains, so its archive misses their records; other
// servers that applied them still have them. The archive notices (the
// snapshot's expiry mark is ahead of its last batch, or a batch skips
// sequence numbers), stores a G frame, and Gaps reports it, so a lookup
// that misses can say the record may be on another server rather than that
// it never existed. The archive belongs to the raft state beside it: wipe
// both or neither, or replays of a new history would be taken for
// duplicates.
//
// Memory: the index keeps about 60 bytes per archived job and 8 per ledger
// entry; the records themselves stay on disk and are read on demand.
package archive

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/internal/diskio"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

const (
	fileName   = "archive.log"
	magic      = "IBEXARC1"
	headerSize = 8
	maxPayload = 64 << 20 // a job carries at most a 256 KiB script
)

const (
	kindJob    = 'J'
	kindLedger = 'L'
	kindCommit = 'C'
	kindGap    = 'G'
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrNotFound says the archive holds no such record.
var ErrNotFound = errors.New("not in the archive")

// Gap is a range of expiry batches this archive never received.
type Gap struct {
	From   uint64    `json:"from"`
	To     uint64    `json:"to"`
	Before time.Time `json:"before"` // the records had ended before this
}

type commit struct {
	Seq    uint64    `json:"seq"`
	Before time.Time `json:"before"`
	Jobs   int       `json:"jobs"`
	Ledger int       `json:"ledger"`
}

type jobRef struct {
	end int64 // unix ns
	id  uint64
	off int64
}

func compareRef(a, b jobRef) int { return cmp.Or(cmp.Compare(a.end, b.end), cmp.Compare(a.id, b.id)) }

// Archive is one server's archive. It is safe for concurrent use.
type Archive struct {
	path string
	// applying is held from BeginExpiry to EndExpiry: a reader that missed
	// a record in the live state waits for an expiry in flight.
	applying sync.RWMutex

	mu      sync.RWMutex
	f       *os.File
	size    int64
	lastSeq uint64
	gaps    []Gap
	jobs    map[uint64]int64 // job id -> frame offset
	byEnd   []jobRef         // by (end time, id)
	ledger  map[string][]int64
	entries int
	dropped int64 // torn tail bytes truncated at open
}

// Open opens or creates the archive in dir, repairing a torn tail.
func Open(dir string) (*Archive, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	path := filepath.Join(dir, fileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	a := &Archive{path: path, f: f, jobs: map[uint64]int64{}, ledger: map[string][]int64{}}
	if err := a.load(dir); err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

func (a *Archive) load(dir string) error {
	st, err := a.f.Stat()
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if st.Size() < int64(len(magic)) {
		// New, or created and torn before its magic was durable.
		if err := a.f.Truncate(0); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		if _, err := a.f.WriteAt([]byte(magic), 0); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		if err := diskio.Fdatasync(a.f); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		if err := syncDir(dir); err != nil {
			return err
		}
		a.size = int64(len(magic))
		return nil
	}
	end, err := a.scan(st.Size())
	if err != nil {
		return err
	}
	a.size = end
	if end < st.Size() {
		if err := a.f.Truncate(end); err != nil {
			return fmt.Errorf("archive: truncate torn tail: %w", err)
		}
		if err := diskio.Fdatasync(a.f); err != nil {
			return fmt.Errorf("archive: truncate torn tail: %w", err)
		}
		a.dropped = st.Size() - end
	}
	return nil
}

// scan indexes the file and returns where its last complete batch ends.
func (a *Archive) scan(size int64) (int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(a.f, 0, size), 1<<20)
	m := make([]byte, len(magic))
	if _, err := io.ReadFull(r, m); err != nil || string(m) != magic {
		return 0, fmt.Errorf("archive: %s is not an ibex archive", a.path)
	}
	off, good := int64(len(magic)), int64(len(magic))
	var pendJobs []jobRef
	type pendL struct {
		node string
		off  int64
	}
	var pendLedger []pendL
	var hdr [headerSize]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return good, nil // clean end, or a torn header
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		if n == 0 || n > maxPayload || off+headerSize+int64(n) > size {
			return good, nil
		}
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return good, nil
		}
		if checksum(hdr[0:4], payload) != binary.LittleEndian.Uint32(hdr[4:8]) {
			return good, nil
		}
		frameOff := off
		off += headerSize + int64(n)
		switch payload[0] {
		case kindJob:
			if len(payload) < 17 {
				return good, nil
			}
			pendJobs = append(pendJobs, jobRef{id: binary.LittleEndian.Uint64(payload[1:9]), end: int64(binary.LittleEndian.Uint64(payload[9:17])), off: frameOff})
		case kindLedger:
			node, _, ok := splitLedger(payload)
			if !ok {
				return good, nil
			}
			pendLedger = append(pendLedger, pendL{node: node, off: frameOff})
		case kindCommit:
			var c commit
			if json.Unmarshal(payload[1:], &c) != nil {
				return good, nil
			}
			a.indexJobs(pendJobs)
			for _, l := range pendLedger {
				a.ledger[l.node] = append(a.ledger[l.node], l.off)
				a.entries++
			}
			pendJobs, pendLedger = pendJobs[:0], pendLedger[:0]
			a.lastSeq = max(a.lastSeq, c.Seq)
			good = off
		case kindGap:
			var g Gap
			if json.Unmarshal(payload[1:], &g) != nil || len(pendJobs)+len(pendLedger) > 0 {
				return good, nil
			}
			a.gaps = append(a.gaps, g)
			a.lastSeq = max(a.lastSeq, g.To)
			good = off
		default:
			return good, nil
		}
	}
}

// indexJobs adds committed job frames to the index.
func (a *Archive) indexJobs(refs []jobRef) {
	if len(refs) == 0 {
		return
	}
	sorted := len(a.byEnd) == 0 || compareRef(a.byEnd[len(a.byEnd)-1], refs[0]) <= 0
	for i, r := range refs {
		a.jobs[r.id] = r.off
		a.byEnd = append(a.byEnd, r)
		if i > 0 && compareRef(refs[i-1], r) > 0 {
			sorted = false
		}
	}
	if !sorted {
		slices.SortFunc(a.byEnd, compareRef)
	}
}

func checksum(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

func appendFrame(dst []byte, payload []byte) []byte {
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:8], checksum(hdr[0:4], payload))
	return append(append(dst, hdr[:]...), payload...)
}

func splitLedger(p []byte) (node string, body []byte, ok bool) {
	if len(p) < 3 {
		return "", nil, false
	}
	n := int(binary.LittleEndian.Uint16(p[1:3]))
	if len(p) < 3+n {
		return "", nil, false
	}
	return string(p[3 : 3+n]), p[3+n:], true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("archive: sync %s: %w", dir, err)
	}
	return nil
}

// BeginExpiry is called before an expiry entry is applied; EndExpiry must
// follow. Readers that miss in the live state wait in between.
func (a *Archive) BeginExpiry() { a.applying.Lock() }

// EndExpiry stores what the expiry removed (nil or Seq 0: nothing).
func (a *Archive) EndExpiry(e *fsm.Expired) error {
	defer a.applying.Unlock()
	return a.Append(e)
}

// Append stores one expiry batch durably; a replayed batch is skipped.
func (a *Archive) Append(e *fsm.Expired) error {
	if e == nil || e.Seq == 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return errors.New("archive: closed")
	}
	if e.Seq <= a.lastSeq {
		return nil // a replay of a stored batch
	}
	var buf []byte
	var gap *Gap
	if e.Seq > a.lastSeq+1 {
		gap = &Gap{From: a.lastSeq + 1, To: e.Seq - 1, Before: e.Before}
		buf = appendFrame(buf, gapPayload(*gap))
		// The gap is committed on its own, before the batch.
	}
	var refs []jobRef
	type pendL struct {
		node string
		off  int64
	}
	var ledger []pendL
	off := a.size + int64(len(buf))
	for _, j := range e.Jobs {
		if _, dup := a.jobs[j.ID]; dup {
			continue
		}
		body, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("archive: encode job %d: %w", j.ID, err)
		}
		p := make([]byte, 17, 17+len(body))
		p[0] = kindJob
		binary.LittleEndian.PutUint64(p[1:9], j.ID)
		binary.LittleEndian.PutUint64(p[9:17], uint64(j.EndTime.UnixNano()))
		p = append(p, body...)
		if len(p) > maxPayload {
			return fmt.Errorf("archive: job %d is %d bytes encoded", j.ID, len(p))
		}
		refs = append(refs, jobRef{id: j.ID, end: j.EndTime.UnixNano(), off: off})
		buf = appendFrame(buf, p)
		off = a.size + int64(len(buf))
	}
	for _, l := range e.Ledger {
		body, err := json.Marshal(l.Entry)
		if err != nil {
			return fmt.Errorf("archive: encode ledger entry: %w", err)
		}
		if len(l.Node) > 1<<16-1 {
			return fmt.Errorf("archive: node name of %d bytes", len(l.Node))
		}
		p := make([]byte, 3, 3+len(l.Node)+len(body))
		p[0] = kindLedger
		binary.LittleEndian.PutUint16(p[1:3], uint16(len(l.Node)))
		p = append(append(p, l.Node...), body...)
		ledger = append(ledger, pendL{node: l.Node, off: off})
		buf = appendFrame(buf, p)
		off = a.size + int64(len(buf))
	}
	c, _ := json.Marshal(commit{Seq: e.Seq, Before: e.Before, Jobs: len(refs), Ledger: len(ledger)})
	buf = appendFrame(buf, append([]byte{kindCommit}, c...))
	if err := a.write(buf); err != nil {
		return err
	}
	if gap != nil {
		a.gaps = append(a.gaps, *gap)
	}
	a.indexJobs(refs)
	for _, l := range ledger {
		a.ledger[l.node] = append(a.ledger[l.node], l.off)
		a.entries++
	}
	a.lastSeq = e.Seq
	return nil
}

// write appends buf and makes it durable; on failure the file is cut back.
func (a *Archive) write(buf []byte) error {
	if _, err := a.f.WriteAt(buf, a.size); err != nil {
		a.f.Truncate(a.size)
		return fmt.Errorf("archive: append: %w", err)
	}
	if err := diskio.Fdatasync(a.f); err != nil {
		a.f.Truncate(a.size)
		return fmt.Errorf("archive: append: %w", err)
	}
	a.size += int64(len(buf))
	return nil
}

func gapPayload(g Gap) []byte {
	b, _ := json.Marshal(g)
	return append([]byte{kindGap}, b...)
}

// Restored is called after a snapshot replaced the live state, with that
// state's expiry mark. If the snapshot already contains expiries this
// archive never stored, their records are missing here: that is recorded
// as a gap.
func (a *Archive) Restored(m fsm.Expiry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return errors.New("archive: closed")
	}
	if m.Seq <= a.lastSeq {
		return nil
	}
	g := Gap{From: a.lastSeq + 1, To: m.Seq, Before: m.Before}
	if err := a.write(appendFrame(nil, gapPayload(g))); err != nil {
		return err
	}
	a.gaps = append(a.gaps, g)
	a.lastSeq = m.Seq
	return nil
}

// Gaps lists the expiry batches this archive misses (see the package doc).
func (a *Archive) Gaps() []Gap {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return slices.Clone(a.gaps)
}

// Stats summarises the archive.
type Stats struct {
	Jobs, LedgerEntries int
	Bytes               int64
	LastSeq             uint64
	Gaps                int
	// TornBytes is what Open truncated from an interrupted append.
	TornBytes int64
}

// Stats returns counts and sizes.
func (a *Archive) Stats() Stats {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return Stats{Jobs: len(a.jobs), LedgerEntries: a.entries, Bytes: a.size, LastSeq: a.lastSeq, Gaps: len(a.gaps), TornBytes: a.dropped}
}

// readFrame reads and verifies the frame at off; callers hold a.mu.
func (a *Archive) readFrame(off int64) ([]byte, error) {
	if a.f == nil {
		return nil, errors.New("archive: closed")
	}
	var hdr [headerSize]byte
	if _, err := a.f.ReadAt(hdr[:], off); err != nil {
		return nil, fmt.Errorf("archive: read at %d: %w", off, err)
	}
	n := binary.LittleEndian.Uint32(hdr[0:4])
	if n == 0 || n > maxPayload {
		return nil, fmt.Errorf("archive: bad frame at %d", off)
	}
	p := make([]byte, n)
	if _, err := a.f.ReadAt(p, off+headerSize); err != nil {
		return nil, fmt.Errorf("archive: read at %d: %w", off, err)
	}
	if checksum(hdr[0:4], p) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return nil, fmt.Errorf("archive: frame at %d fails its checksum", off)
	}
	return p, nil
}

func (a *Archive) readJob(off int64) (*model.Job, error) {
	p, err := a.readFrame(off)
	if err != nil {
		return nil, err
	}
	if p[0] != kindJob || len(p) < 17 {
		return nil, fmt.Errorf("archive: frame at %d is not a job", off)
	}
	j := &model.Job{}
	if err := json.Unmarshal(p[17:], j); err != nil {
		return nil, fmt.Errorf("archive: job at %d: %w", off, err)
	}
	return j, nil
}

// Job returns an archived job, or ErrNotFound. It first waits for an
// expiry in flight, so a caller that just missed the job in the live
// state finds it here.
func (a *Archive) Job(id uint64) (*model.Job, error) {
	a.waitExpiry()
	a.mu.RLock()
	defer a.mu.RUnlock()
	off, ok := a.jobs[id]
	if !ok {
		return nil, ErrNotFound
	}
	return a.readJob(off)
}

// Cursor is where a page of Jobs ended; the zero Cursor is the start.
type Cursor struct {
	End time.Time `json:"end"`
	ID  uint64    `json:"id"`
}

// Jobs lists archived jobs that ended in [from, to) (a zero bound is
// open), in (end time, id) order, after the cursor, at most limit (0: 100)
// of them. The returned cursor continues the listing; it is zero at the end.
func (a *Archive) Jobs(from, to time.Time, after Cursor, limit int) ([]*model.Job, Cursor, error) {
	if limit <= 0 {
		limit = 100
	}
	a.waitExpiry()
	a.mu.RLock()
	defer a.mu.RUnlock()
	start := jobRef{end: -1 << 63}
	if !from.IsZero() {
		start = jobRef{end: from.UnixNano()}
	}
	if !after.End.IsZero() || after.ID != 0 {
		if c := (jobRef{end: after.End.UnixNano(), id: after.ID + 1}); compareRef(c, start) > 0 {
			start = c
		}
	}
	i, _ := slices.BinarySearchFunc(a.byEnd, start, compareRef)
	var out []*model.Job
	for ; i < len(a.byEnd) && len(out) < limit; i++ {
		r := a.byEnd[i]
		if !to.IsZero() && r.end >= to.UnixNano() {
			return out, Cursor{}, nil
		}
		j, err := a.readJob(r.off)
		if err != nil {
			return out, Cursor{}, err
		}
		out = append(out, j)
	}
	if i < len(a.byEnd) && (to.IsZero() || a.byEnd[i].end < to.UnixNano()) && len(out) > 0 {
		last := out[len(out)-1]
		return out, Cursor{End: last.EndTime, ID: last.ID}, nil
	}
	return out, Cursor{}, nil
}

// NodeLedger returns a page of a node's archived ledger entries, oldest
// first: at most limit (0: all) from position start, and the total count.
func (a *Archive) NodeLedger(node string, start, limit int) ([]model.LedgerEntry, int, error) {
	a.waitExpiry()
	a.mu.RLock()
	defer a.mu.RUnlock()
	offs := a.ledger[node]
	total := len(offs)
	if start < 0 {
		start = 0
	}
	if start > total {
		start = total
	}
	end := total
	if limit > 0 && start+limit < end {
		end = start + limit
	}
	out := make([]model.LedgerEntry, 0, end-start)
	for _, off := range offs[start:end] {
		p, err := a.readFrame(off)
		if err != nil {
			return out, total, err
		}
		_, body, ok := splitLedger(p)
		if !ok || p[0] != kindLedger {
			return out, total, fmt.Errorf("archive: frame at %d is not a ledger entry", off)
		}
		var e model.LedgerEntry
		if err := json.Unmarshal(body, &e); err != nil {
			return out, total, fmt.Errorf("archive: ledger entry at %d: %w", off, err)
		}
		out = append(out, e)
	}
	return out, total, nil
}

// Close closes the file. Later calls fail; Close is idempotent.
func (a *Archive) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}

// waitExpiry returns once no expiry is being written: the lock is a
// barrier, so a reader that just missed a record in the live state finds
// it here.
func (a *Archive) waitExpiry() {
	a.applying.RLock()
	//lint:ignore SA2001 an empty critical section is the point: wait for the writer
	a.applying.RUnlock()
}
