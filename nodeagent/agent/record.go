package agent

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
)

// A task journal record is one line: the CRC-32C of the entry's JSON in
// eight hex digits, a space, the JSON. The checksum tells a record cut
// short or overwritten by a crash from one that was written whole; JSON
// never holds a raw newline, so lines split records.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends the record of an entry's JSON to b.
func appendRecord(b, entryJSON []byte) []byte {
	var sum [4]byte
	c := crc32.Checksum(entryJSON, castagnoli)
	sum[0], sum[1], sum[2], sum[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	b = hex.AppendEncode(b, sum[:])
	b = append(b, ' ')
	b = append(b, entryJSON...)
	return append(b, '\n')
}

// decodeRecord parses one line (without its newline) into an entry.
func decodeRecord(line []byte) (*journalEntry, error) {
	if len(line) < 10 || line[8] != ' ' {
		return nil, errors.New("not a journal record")
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], line[:8]); err != nil {
		return nil, errors.New("not a journal record: bad checksum field")
	}
	body := line[9:]
	want := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	if crc32.Checksum(body, castagnoli) != want {
		return nil, errors.New("checksum mismatch")
	}
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
