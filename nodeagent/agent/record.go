package agent

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// The agent's journals (journal.go, jobjournal.go) are logs of records. A
// record is one line: the CRC-32C of its payload in eight hex digits, a
// space, the payload (which holds no newline: JSON never has a raw one).
// The checksum tells a record cut short or overwritten by a crash from one
// that was written whole.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends the record of payload to b.
func appendRecord(b, payload []byte) []byte {
	var sum [4]byte
	c := crc32.Checksum(payload, castagnoli)
	sum[0], sum[1], sum[2], sum[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	b = hex.AppendEncode(b, sum[:])
	b = append(b, ' ')
	b = append(b, payload...)
	return append(b, '\n')
}

// recordPayload checks one line (without its newline) and returns its
// payload.
func recordPayload(line []byte) ([]byte, error) {
	if len(line) < 10 || line[8] != ' ' {
		return nil, errors.New("not a journal record")
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], line[:8]); err != nil {
		return nil, errors.New("not a journal record: bad checksum field")
	}
	payload := line[9:]
	want := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	if crc32.Checksum(payload, castagnoli) != want {
		return nil, errors.New("checksum mismatch")
	}
	return payload, nil
}

// eachRecord calls fn with the payload of every line of a log, in order.
// A line that fails its checksum, or that fn refuses, is passed to bad
// (last says whether it is the log's last line) and reading goes on,
// unless bad returns an error. A last line without its newline is torn: an
// append cut short, reported, and applied only if its checksum holds (its
// newline alone was lost), never passed to bad.
func eachRecord(b []byte, fn func(payload []byte) error, bad func(n int, line []byte, err error, last bool) error) (torn bool, err error) {
	for n := 1; len(b) > 0; n++ {
		line, rest, complete := bytes.Cut(b, []byte{'\n'})
		if !complete {
			if payload, err := recordPayload(line); err == nil {
				_ = fn(payload)
			}
			return true, nil
		}
		payload, err := recordPayload(line)
		if err == nil {
			err = fn(payload)
		}
		if err != nil {
			if err := bad(n, line, err, len(rest) == 0); err != nil {
				return false, err
			}
		}
		b = rest
	}
	return false, nil
}

// decodeEntry parses a task journal record's payload.
func decodeEntry(body []byte) (*journalEntry, error) {
	e := &journalEntry{}
	if err := json.Unmarshal(body, e); err != nil {
		return nil, err
	}
	if e.ID == "" {
		return nil, errors.New("record without a task id")
	}
	if e.State != stateStarted && e.State != stateDone {
		return nil, fmt.Errorf("unknown state %q", e.State)
	}
	e.enc = append([]byte(nil), body...)
	return e, nil
}

// logFile is the file under one of the journals: it appends records and
// replaces the file whole, and keeps a fragment of a failed append out of
// the middle of the log. Its owner holds the lock and decides when to
// compact (rewrite, records).
type logFile struct {
	path    string
	nosync  bool     // Agent.JournalNoSync
	f       *os.File // open for appending; nil until the first append
	records int      // records in the file, live or superseded
	rewrite bool     // the next write must replace the file: none yet, a torn tail or a failed append
	closed  bool     // the agent stopped (errJournalClosed)
}

// errJournalClosed: the agent stopped; a late write (a stop finishing after
// Start returned) must not replace the log a restarted agent now owns.
var errJournalClosed = errors.New("journal closed: the agent stopped")

// append writes one record, fsynced unless nosync.
func (l *logFile) append(payload []byte) error {
	if l.closed {
		return errJournalClosed
	}
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			l.rewrite = true
			return err
		}
		l.f = f
	}
	_, err := l.f.Write(appendRecord(nil, payload))
	if err == nil && !l.nosync {
		err = l.f.Sync()
	}
	if err != nil {
		// The file may end in part of a record now: the next write
		// replaces it whole rather than append after the fragment.
		l.closeFile()
		l.rewrite = true
		return err
	}
	l.records++
	return nil
}

// replace makes b, which holds n records, the whole file, atomically.
func (l *logFile) replace(b []byte, n int) error {
	if l.closed {
		return errJournalClosed
	}
	l.closeFile()
	if err := writeFileAtomicSync(l.path, b, !l.nosync); err != nil {
		l.rewrite = true
		return err
	}
	l.records, l.rewrite = n, false
	return nil
}

func (l *logFile) closeFile() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// shut releases the file; later writes fail (errJournalClosed).
func (l *logFile) shut() {
	l.closeFile()
	l.closed = true
}

// removeTempFiles removes what writeFileAtomicSync leaves of path when the
// agent dies mid-write.
func removeTempFiles(path string) {
	tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
}
