package agent

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
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
