package walstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func sameLog(a, b raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt) && a.AppendedAt.IsZero() == b.AppendedAt.IsZero()
}

func TestRecordRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 1<<20)
	cases := []struct {
		name string
		log  raft.Log
	}{
		{"empty", raft.Log{Index: 1, Term: 1}},
		{"command", raft.Log{Index: 7, Term: 3, Type: raft.LogCommand, Data: []byte("hello")}},
		{"extensions only", raft.Log{Index: 8, Term: 3, Type: raft.LogNoop, Extensions: []byte{1, 2, 3}}},
		{"all fields", raft.Log{Index: 1<<63 + 5, Term: 1<<64 - 1, Type: raft.LogConfiguration,
			Data: []byte("cfg"), Extensions: []byte("ext"), AppendedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)}},
		{"pre-epoch time", raft.Log{Index: 2, Term: 2, AppendedAt: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"epoch time", raft.Log{Index: 2, Term: 2, AppendedAt: time.Unix(0, 0)}},
		{"unknown type", raft.Log{Index: 3, Term: 2, Type: raft.LogType(200)}},
		{"large", raft.Log{Index: 4, Term: 2, Data: big}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := appendRecord([]byte("prefix"), &c.log)
			if err != nil {
				t.Fatal(err)
			}
			rec := b[len("prefix"):]
			if len(rec) != recordSize(&c.log) {
				t.Fatalf("encoded %d bytes, recordSize says %d", len(rec), recordSize(&c.log))
			}
			got, n, err := decodeRecord(append(rec[:len(rec):len(rec)], "trailing"...))
			if err != nil {
				t.Fatal(err)
			}
			if n != len(rec) {
				t.Fatalf("decoded size %d, want %d", n, len(rec))
			}
			if !sameLog(got, c.log) {
				t.Fatalf("round trip: got %+v, want %+v", got, c.log)
			}
		})
	}
}

func TestRecordDecodeErrors(t *testing.T) {
	l := raft.Log{Index: 9, Term: 4, Data: []byte("data"), Extensions: []byte("e"), AppendedAt: time.Unix(100, 5)}
	good, _ := appendRecord(nil, &l)
	// resign recomputes the CRC so a test reaches the payload checks.
	resign := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[4:8], recordCRC(b[0:4], b[headerSize:]))
		return b
	}
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"nil", nil, errShortRecord},
		{"header only", good[:headerSize], errShortRecord},
		{"missing last byte", good[:len(good)-1], errShortRecord},
		{"zeros", make([]byte, 64), errBadLength},
		{"length too small", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b, fixedPayload-1); return b }), errBadLength},
		{"length too large", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b, maxPayload+1); return b }), errBadLength},
		{"crc flipped", mut(func(b []byte) []byte { b[5] ^= 1; return b }), errChecksum},
		{"payload flipped", mut(func(b []byte) []byte { b[20] ^= 0x80; return b }), errChecksum},
		{"unknown flag", mut(func(b []byte) []byte { b[headerSize+17] |= 2; return resign(b) }), errMalformed},
		{"nanoseconds out of range", mut(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[headerSize+26:], 1e9)
			return resign(b)
		}), errMalformed},
		{"time without flag", mut(func(b []byte) []byte { b[headerSize+17] = 0; return resign(b) }), errMalformed},
		{"data length too long", mut(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[headerSize+30:], 1000)
			return resign(b)
		}), errMalformed},
		{"extension length wrong", mut(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[len(b)-5:], 0)
			return resign(b)
		}), errMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := decodeRecord(c.b)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// Every single-bit flip anywhere in the record must be caught.
	for i := range good {
		for bit := range 8 {
			b := bytes.Clone(good)
			b[i] ^= 1 << bit
			if _, _, err := decodeRecord(b); err == nil {
				t.Fatalf("flip of byte %d bit %d went undetected", i, bit)
			}
		}
	}
}

func TestRecordTooLarge(t *testing.T) {
	l := raft.Log{Index: 1, Data: make([]byte, maxPayload)}
	if _, err := appendRecord(nil, &l); err == nil {
		t.Fatal("oversized entry was encoded")
	}
}

// FuzzDecodeRecord checks that arbitrary bytes never panic the decoder and
// that anything it accepts is exactly a record the encoder would write,
// which in particular passes its CRC.
func FuzzDecodeRecord(f *testing.F) {
	for _, l := range []raft.Log{
		{Index: 1, Term: 1},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte("abc"), Extensions: []byte("x")},
		{Index: 3, Term: 9, AppendedAt: time.Unix(1700000000, 42)},
	} {
		b, _ := appendRecord(nil, &l)
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Add(make([]byte, 100))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, n, err := decodeRecord(b)
		if err != nil {
			return
		}
		if n < headerSize+fixedPayload || n > len(b) {
			t.Fatalf("decoded size %d out of range for %d bytes", n, len(b))
		}
		payload := b[headerSize:n]
		if recordCRC(b[0:4], payload) != binary.LittleEndian.Uint32(b[4:8]) {
			t.Fatal("accepted a record whose CRC does not match")
		}
		again, err := appendRecord(nil, &l)
		if err != nil {
			t.Fatalf("accepted record cannot be re-encoded: %v", err)
		}
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("accepted record is not canonical:\n got %x\nwant %x", again, b[:n])
		}
	})
}

// FuzzDecodeSignedPayload wraps fuzzed payloads in a correct length and CRC
// so the fuzzer explores the payload parser behind the checksum: it must
// never panic, and whatever it accepts must re-encode to the same bytes.
func FuzzDecodeSignedPayload(f *testing.F) {
	for _, l := range []raft.Log{
		{Index: 1, Term: 1},
		{Index: 2, Term: 1, Data: []byte("abc"), Extensions: []byte("x")},
		{Index: 3, Term: 9, AppendedAt: time.Unix(-5, 999999999)},
	} {
		b, _ := appendRecord(nil, &l)
		f.Add(b[headerSize:])
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > 1<<16 {
			return
		}
		b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = append(b, payload...)
		binary.LittleEndian.PutUint32(b[4:8], recordCRC(b[0:4], payload))
		l, n, err := decodeRecord(b)
		if err != nil {
			if len(payload) >= fixedPayload && errors.Is(err, errChecksum) {
				t.Fatal("a correctly signed record failed its checksum")
			}
			return
		}
		if n != len(b) {
			t.Fatalf("decoded %d of %d bytes", n, len(b))
		}
		again, _ := appendRecord(nil, &l)
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted payload is not canonical:\n got %x\nwant %x", again, b)
		}
	})
}
