package fsm

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Snapshot format 2. A snapshot used to be the state in JSON: 165 MB on a
// 100,000-node fabric, most of it the ledger (400,000 kept entries of
// about 500 bytes, of which two 64-digit hex hashes, one of them the
// previous entry's, and the same step, actor and evidence texts over and
// over). Format 2 writes the ledger in a compact binary form and the rest
// of the state in JSON as before, the whole compressed with DEFLATE:
//
//	magic "\x00ibex-snapshot\n", version byte 2, flags byte
//	(bit 0: what follows is DEFLATE-compressed), then
//	uvarint length of the ledger section, the ledger section,
//	the state without its ledger in JSON, to the end.
//
// The ledger section is a string table (every node name, step, actor,
// evidence and tenant once, referred to by index), then per node in name
// order its entries, each a flags word and only the fields its flags do
// not imply: an entry's Prev is the hash of the entry before it, Seq the
// one after its Seq, Start and End usually its Time, and a hash in hex is
// written as its 32 bytes. Times keep their instant and zone offset, so
// every field restores to what the JSON form gave and the state hash is
// the same (TestSnapshotFormatsRestoreAlike).
//
// A JSON snapshot (format 1, from older servers) begins with '{' and is
// still read. A snapshot is input from outside (a disk, the leader's
// InstallSnapshot): Restore checks every length, count and index against
// the bytes actually there, caps the whole at MaxSnapshotBytes after
// decompression, and FuzzRestore feeds it arbitrary bytes.

// snapshotMagic starts a format-2 snapshot; a JSON one starts with '{'.
const snapshotMagic = "\x00ibex-snapshot\n"

const (
	snapshotVersion    = 2
	snapFlagCompressed = 1 << 0
)

// MaxSnapshotBytes bounds a snapshot after decompression. A state that
// large would need a leader with far more memory than any ibex cluster
// is expected to have; the bound stops a corrupt or hostile stream (a
// compression bomb) from exhausting memory first.
var MaxSnapshotBytes int64 = 32 << 30

// snapshotCompression is the DEFLATE level WriteSnapshot uses: the fastest
// still takes the snapshot to a tenth (the hex and JSON repeat), at about
// the cost of encoding it.
const snapshotCompression = flate.BestSpeed

// WriteSnapshot encodes a state copy in format 2.
func WriteSnapshot(w io.Writer, s *State) error {
	if err := writeSnapshot(w, s, true); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// writeSnapshot writes format 2, compressed or not.
func writeSnapshot(w io.Writer, s *State, compress bool) error {
	var flags byte
	if compress {
		flags |= snapFlagCompressed
	}
	if _, err := io.WriteString(w, snapshotMagic); err != nil {
		return err
	}
	if _, err := w.Write([]byte{snapshotVersion, flags}); err != nil {
		return err
	}
	body := w
	var zw *flate.Writer
	if compress {
		var err error
		if zw, err = flate.NewWriter(w, snapshotCompression); err != nil {
			return err
		}
		body = zw
	}
	bw := bufio.NewWriterSize(body, 1<<16)
	ledger := encodeLedger(s.Ledger)
	if _, err := bw.Write(binary.AppendUvarint(nil, uint64(len(ledger)))); err != nil {
		return err
	}
	if _, err := bw.Write(ledger); err != nil {
		return err
	}
	rest := *s
	rest.Ledger = nil
	if err := json.NewEncoder(bw).Encode(&rest); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}

// WriteSnapshotUncompressed writes format 2 without DEFLATE: for
// comparisons (bench/state).
func WriteSnapshotUncompressed(w io.Writer, s *State) error {
	if err := writeSnapshot(w, s, false); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// WriteSnapshotJSON writes format 1, the JSON a server before format 2
// wrote: for comparisons (bench/state) and the restore tests.
func WriteSnapshotJSON(w io.Writer, s *State) error {
	if err := json.NewEncoder(w).Encode(s); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// SnapshotBody returns a snapshot's bytes as written before compression:
// a JSON snapshot whole, a format-2 one from its ledger section on,
// decompressed. For tests and tools that look inside the file on disk
// (that no secret is there in the clear, that the state is there at all):
// compressed bytes would hide a secret from a search as well as a seal.
func SnapshotBody(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(snapshotMagic) + 2)
	if len(head) < len(snapshotMagic)+2 || string(head[:len(snapshotMagic)]) != snapshotMagic {
		return io.ReadAll(io.LimitReader(br, MaxSnapshotBytes))
	}
	if _, err := br.Discard(len(head)); err != nil {
		return nil, err
	}
	var body io.Reader = br
	if head[len(snapshotMagic)+1]&snapFlagCompressed != 0 {
		zr := flate.NewReader(br)
		defer zr.Close()
		body = zr
	}
	return io.ReadAll(io.LimitReader(body, MaxSnapshotBytes))
}

// readSnapshot decodes a snapshot of either format into a new state.
func readSnapshot(r io.Reader) (*State, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(len(snapshotMagic) + 2)
	if len(head) == 0 {
		return nil, fmt.Errorf("empty snapshot: %w", unexpected(err))
	}
	s := NewState()
	if head[0] != snapshotMagic[0] {
		dec := json.NewDecoder(io.LimitReader(br, MaxSnapshotBytes))
		if err := dec.Decode(s); err != nil {
			return nil, fmt.Errorf("format 1 (JSON): %w", err)
		}
		return s, nil
	}
	if err != nil || string(head[:len(snapshotMagic)]) != snapshotMagic {
		return nil, errors.New("neither a JSON snapshot nor one of format 2 (bad header)")
	}
	version, flags := head[len(snapshotMagic)], head[len(snapshotMagic)+1]
	if version != snapshotVersion {
		return nil, fmt.Errorf("snapshot format %d is not known to this ibexd (it reads 1 and 2): was it written by a newer version?", version)
	}
	if flags&^snapFlagCompressed != 0 {
		return nil, fmt.Errorf("snapshot flags %#x are not known to this ibexd", flags)
	}
	if _, err := br.Discard(len(head)); err != nil {
		return nil, err
	}
	var body io.Reader = br
	if flags&snapFlagCompressed != 0 {
		zr := flate.NewReader(br)
		defer zr.Close()
		body = zr
	}
	lim := &io.LimitedReader{R: body, N: MaxSnapshotBytes + 1}
	bbody := bufio.NewReaderSize(lim, 1<<16)
	n, err := binary.ReadUvarint(bbody)
	if err != nil {
		return nil, fmt.Errorf("ledger section length: %w", err)
	}
	if n > uint64(MaxSnapshotBytes) {
		return nil, fmt.Errorf("ledger section of %d bytes is over the %d-byte snapshot limit", n, MaxSnapshotBytes)
	}
	var sec bytes.Buffer // grows with the bytes that arrive, not with n
	if _, err := io.CopyN(&sec, bbody, int64(n)); err != nil {
		return nil, fmt.Errorf("ledger section: %w", unexpected(err))
	}
	ledger, err := decodeLedger(sec.Bytes())
	if err != nil {
		return nil, fmt.Errorf("ledger section: %w", err)
	}
	sec = bytes.Buffer{}
	dec := json.NewDecoder(bbody)
	if err := dec.Decode(s); err != nil {
		if lim.N <= 0 {
			return nil, fmt.Errorf("snapshot is over the %d-byte limit", MaxSnapshotBytes)
		}
		return nil, fmt.Errorf("state: %w", unexpected(err))
	}
	if len(s.Ledger) > 0 {
		return nil, errors.New("state: a format-2 snapshot carries its ledger in the ledger section only")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("state: data after the state")
	}
	if lim.N <= 0 {
		return nil, fmt.Errorf("snapshot is over the %d-byte limit", MaxSnapshotBytes)
	}
	s.Ledger = ledger
	return s, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
