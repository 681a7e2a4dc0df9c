package walstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/hashicorp/raft"
)

// A record is one raft.Log on disk:
//
//	[0:4]  payload length n, little endian
//	[4:8]  CRC32C (Castagnoli) of bytes [0:4] followed by the payload
//	[8:8+n] payload:
//	        index u64 | term u64 | type u8 | flags u8 |
//	        appendedAt seconds i64 | appendedAt nanoseconds u32 |
//	        len(Data) u32 | Data | len(Extensions) u32 | Extensions
//
// The CRC covers the length so a torn or bit-flipped length is caught too,
// and the decoder insists the payload is consumed exactly, so a record that
// passes is byte-for-byte what the encoder wrote.
const (
	headerSize = 8
	// fixedPayload is the payload size of a record with no data and no
	// extensions, the smallest valid payload.
	fixedPayload = 8 + 8 + 1 + 1 + 8 + 4 + 4 + 4
	// maxPayload bounds one record. It keeps a corrupt length from making
	// recovery allocate gigabytes; raft entries are far smaller.
	maxPayload = 1 << 30

	flagAppendedAt = 1 << 0
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errShortRecord = errors.New("record is truncated")
	errBadLength   = errors.New("record length is out of range")
	errChecksum    = errors.New("record checksum mismatch")
	errMalformed   = errors.New("record payload is malformed")
)

// recordSize is the encoded size of l.
func recordSize(l *raft.Log) int {
	return headerSize + fixedPayload + len(l.Data) + len(l.Extensions)
}

// appendRecord appends l's encoding to dst.
func appendRecord(dst []byte, l *raft.Log) ([]byte, error) {
	n := recordSize(l) - headerSize
	if n > maxPayload {
		return dst, fmt.Errorf("walstore: log %d is %d bytes; the limit is %d", l.Index, n, maxPayload)
	}
	start := len(dst)
	var flags byte
	var sec int64
	var nsec uint32
	if !l.AppendedAt.IsZero() {
		flags |= flagAppendedAt
		sec = l.AppendedAt.Unix()
		nsec = uint32(l.AppendedAt.Nanosecond())
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	dst = binary.LittleEndian.AppendUint32(dst, 0) // CRC, filled in below
	dst = binary.LittleEndian.AppendUint64(dst, l.Index)
	dst = binary.LittleEndian.AppendUint64(dst, l.Term)
	dst = append(dst, byte(l.Type), flags)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(sec))
	dst = binary.LittleEndian.AppendUint32(dst, nsec)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(l.Data)))
	dst = append(dst, l.Data...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(l.Extensions)))
	dst = append(dst, l.Extensions...)
	rec := dst[start:]
	binary.LittleEndian.PutUint32(rec[4:8], recordCRC(rec[0:4], rec[headerSize:]))
	return dst, nil
}

func recordCRC(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

// payloadLen reads and range-checks the length in a record header.
func payloadLen(hdr []byte) (int, error) {
	n := binary.LittleEndian.Uint32(hdr[0:4])
	if n < fixedPayload || n > maxPayload {
		return 0, errBadLength
	}
	return int(n), nil
}

// decodeRecord decodes the record at the start of b and returns it with its
// encoded size. Data and Extensions alias b. It never panics, and any error
// means b does not start with a complete record that passes its CRC.
func decodeRecord(b []byte) (raft.Log, int, error) {
	if len(b) < headerSize {
		return raft.Log{}, 0, errShortRecord
	}
	n, err := payloadLen(b)
	if err != nil {
		return raft.Log{}, 0, err
	}
	if len(b)-headerSize < n {
		return raft.Log{}, 0, errShortRecord
	}
	p := b[headerSize : headerSize+n]
	if recordCRC(b[0:4], p) != binary.LittleEndian.Uint32(b[4:8]) {
		return raft.Log{}, 0, errChecksum
	}
	var l raft.Log
	l.Index = binary.LittleEndian.Uint64(p[0:8])
	l.Term = binary.LittleEndian.Uint64(p[8:16])
	l.Type = raft.LogType(p[16])
	flags := p[17]
	sec := int64(binary.LittleEndian.Uint64(p[18:26]))
	nsec := binary.LittleEndian.Uint32(p[26:30])
	switch {
	case flags&^flagAppendedAt != 0, nsec >= 1e9:
		return raft.Log{}, 0, errMalformed
	case flags&flagAppendedAt != 0:
		l.AppendedAt = time.Unix(sec, int64(nsec))
	case sec != 0 || nsec != 0:
		return raft.Log{}, 0, errMalformed
	}
	rest := p[30:]
	dlen := uint64(binary.LittleEndian.Uint32(rest[0:4]))
	rest = rest[4:]
	if dlen > uint64(len(rest))-4 { // len(rest) >= 4 since n >= fixedPayload
		return raft.Log{}, 0, errMalformed
	}
	if dlen > 0 {
		l.Data = rest[:dlen:dlen]
	}
	rest = rest[dlen:]
	elen := uint64(binary.LittleEndian.Uint32(rest[0:4]))
	rest = rest[4:]
	if elen != uint64(len(rest)) {
		return raft.Log{}, 0, errMalformed
	}
	if elen > 0 {
		l.Extensions = rest[:elen:elen]
	}
	return l, headerSize + n, nil
}
