package fsm

import (
	"errors"
	"fmt"
	"strconv"
)

// Batching: one raft entry that carries many commands, so concurrent
// writers (API submissions, the controller's background steps) share one
// log record, one replication round and one FSM lock instead of paying for
// each. raft/cluster's group commit builds them; nothing else needs to.
//
// The commands of a batch are applied one by one, in order, inside the one
// entry, each with its own result: a command its handler refuses fails
// alone (handlers validate before they mutate, so a refusal leaves the
// state as it was) and the commands after it see the state exactly as if
// they had been separate entries. Applying a batch is as deterministic as
// applying its commands one entry each.

// CmdBatch is in perf's block of type bytes (97-99).
const CmdBatch CommandType = 97

// MaxBatchEntryBytes bounds one encoded sub-entry; the whole batch is
// bounded by what the leader puts in it (raft/cluster's group commit).
const MaxBatchEntryBytes = 64 << 20

// Batch is a list of commands committed as one raft entry.
//
// Wire format after the type byte: for each command, its type byte in
// decimal, ':', the length of its JSON body in decimal, ':', and the body,
// e.g. `3:57:{"job":...}10:40:{"node":...}`. Lengths frame the bodies (no
// JSON scan is needed to split them, and the leader concatenates entries it
// already encoded); the digits keep the framing printable, so the wire
// golden file and log dumps stay readable (a binary SubmitJob body,
// submitwire.go, is not text; the golden file shows such entries in hex).
type Batch struct {
	Commands []Command
}

func (Batch) Type() CommandType { return CmdBatch }

// BatchResults is what applying a Batch returns: one Result per command,
// in the batch's order.
type BatchResults []Result

// Batchable reports whether a command may travel inside a Batch: not a
// batch itself, and not an ExpireRecords, whose apply the raft adapter
// brackets for the archive entry by entry.
func Batchable(t CommandType) bool { return t != CmdBatch && t != CmdExpireRecords }

// EncodeBatch builds a Batch entry from entries already made by Encode, so
// a caller that encoded its command once (to size it, or to send it alone)
// does not encode it again.
func EncodeBatch(entries [][]byte) ([]byte, error) {
	n := 1
	for _, e := range entries {
		n += len(e) + 24
	}
	out := make([]byte, 1, n)
	out[0] = byte(CmdBatch)
	for i, e := range entries {
		if len(e) == 0 {
			return nil, fmt.Errorf("encode batch: command %d is empty", i)
		}
		if !Batchable(CommandType(e[0])) {
			return nil, fmt.Errorf("encode batch: command %d has type %d, which cannot be batched", i, e[0])
		}
		if len(e)-1 > MaxBatchEntryBytes {
			return nil, fmt.Errorf("encode batch: command %d is %d bytes, over the %d-byte limit", i, len(e)-1, MaxBatchEntryBytes)
		}
		out = strconv.AppendUint(out, uint64(e[0]), 10)
		out = append(out, ':')
		out = strconv.AppendUint(out, uint64(len(e)-1), 10)
		out = append(out, ':')
		out = append(out, e[1:]...)
	}
	return out, nil
}

// encodeEntry implements entryEncoder: Encode calls it instead of JSON.
func (b *Batch) encodeEntry() ([]byte, error) {
	entries := make([][]byte, len(b.Commands))
	for i, c := range b.Commands {
		if c == nil {
			return nil, fmt.Errorf("encode batch: command %d is nil", i)
		}
		e, err := Encode(c)
		if err != nil {
			return nil, err
		}
		entries[i] = e
	}
	return EncodeBatch(entries)
}

// splitBatch calls fn with each sub-entry's type and body, in order.
// The bodies alias the batch's bytes: decoders only read them.
func splitBatch(body []byte, fn func(i int, typ CommandType, body []byte) error) error {
	for i := 0; len(body) > 0; i++ {
		typ, rest, err := batchNumber(body, 255)
		if err != nil {
			return fmt.Errorf("batch command %d: type: %w", i, err)
		}
		n, rest, err := batchNumber(rest, MaxBatchEntryBytes)
		if err != nil {
			return fmt.Errorf("batch command %d: length: %w", i, err)
		}
		if uint64(len(rest)) < n {
			return fmt.Errorf("batch command %d: %d bytes announced, %d left", i, n, len(rest))
		}
		if err := fn(i, CommandType(typ), rest[:n:n]); err != nil {
			return err
		}
		body = rest[n:]
	}
	return nil
}

// batchNumber reads a decimal number up to max followed by ':'. It takes
// no sign, no leading zeros (so every number has one spelling) and at most
// as many digits as max has.
func batchNumber(b []byte, max uint64) (uint64, []byte, error) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	switch {
	case i == 0:
		return 0, nil, errors.New("no digits")
	case i == len(b) || b[i] != ':':
		return 0, nil, errors.New("no ':' after the digits")
	case i > 1 && b[0] == '0':
		return 0, nil, errors.New("leading zero")
	case i > len(strconv.FormatUint(max, 10)):
		return 0, nil, fmt.Errorf("more than %d", max)
	}
	v, err := strconv.ParseUint(string(b[:i]), 10, 64)
	if err != nil || v > max {
		return 0, nil, fmt.Errorf("more than %d", max)
	}
	return v, b[i+1:], nil
}

func decodeBatch(body []byte) (Command, error) {
	b := &Batch{}
	err := splitBatch(body, func(i int, typ CommandType, body []byte) error {
		if !Batchable(typ) {
			return fmt.Errorf("batch command %d: type %d cannot be batched", i, typ)
		}
		h, ok := handlers[typ]
		if !ok {
			return fmt.Errorf("batch command %d: unknown type byte %d (known: %v); was the entry written by a newer ibexd?", i, typ, knownTypes())
		}
		c, err := h.decode(body)
		if err != nil {
			return fmt.Errorf("batch command %d (%s): %w", i, h.name, err)
		}
		b.Commands = append(b.Commands, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// applyBatch applies each command in order; a refused command's error is
// its own result and does not stop the rest.
func (s *State) applyBatch(b *Batch) (any, error) {
	out := make(BatchResults, len(b.Commands))
	for i, c := range b.Commands {
		if !Batchable(c.Type()) {
			out[i].Err = errorf(ErrInvalid, "command type %d cannot be batched", c.Type())
			continue
		}
		v, err := s.apply(c)
		out[i] = Result{Value: v, Err: err}
	}
	return out, nil
}

func init() {
	handlers[CmdBatch] = handler{
		name:   "Batch",
		decode: decodeBatch,
		apply: func(s *State, c Command) (any, error) {
			b, ok := c.(*Batch)
			if !ok {
				return nil, fmt.Errorf("fsm: Batch: got %T", c)
			}
			return s.applyBatch(b)
		},
	}
}
