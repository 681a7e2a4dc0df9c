package fsm

import (
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ibex-hpc/ibex/model"
)

// Binary SubmitJob entries (#17.2). A submission is the hottest write of
// the cluster: every API submit is one, and each server decodes every one.
// JSON cost ~10% of the leader's CPU and ~20% of a follower's under load,
// most of it reflection; this encoding is the protobuf wire format
// (protowire: tag, then varint, zigzag, fixed64 or length-delimited value),
// written and read field by field without reflection.
//
// Encode writes a SubmitJob under CmdSubmitJobBinary. Entries of type
// CmdSubmitJob (JSON) that older servers wrote stay in raft logs and
// still decode, into the same *SubmitJob: both type bytes are pinned in
// testdata/wire.golden. Snapshots are not affected (they stay JSON).
//
// Determinism: every server decodes the same bytes the same way. The
// decoder refuses an unknown field number instead of skipping it, so a
// server never silently drops a field a newer ibexd wrote (JSON would
// have): the FSM stops with "written by a newer ibexd?" instead of
// diverging. Times are carried as UTC seconds and nanoseconds (the
// leader stamps UTC; a zero time is left out and decodes as time.Time{},
// as the JSON form's "0001-01-01T00:00:00Z" does). Integers are zigzag
// varints so negative values (refused later by the FSM) round-trip.
//
// Adding a field to model.Job: give it the next field number below, in
// both appendJob and decodeJob; TestSubmitBinaryCoversEveryJobField fails
// until then.

// CmdSubmitJobBinary is SubmitJob in the binary encoding (submit's block
// of type bytes, 25-32).
const CmdSubmitJobBinary CommandType = 25

// SubmitJob field numbers.
const (
	sjJob  = 1
	sjTime = 2
)

// model.Job field numbers; never renumber or reuse one.
const (
	jID = iota + 1
	jName
	jTenant
	jNumNodes
	jTimeLimit
	jInteractive
	jScript
	jArgv
	jSwitches
	jSwitchWait
	jSwitchLevel
	jFeatures
	jImage
	jRequestID
	jPKey
	jPartitionReady
	jState
	jNodes
	jSubmitTime
	jStartTime
	jEndTime
	jExitCode
	jReason
	jEndRequestID
	jUsage
	jDepend
	jHeld
	jReleaseRequestID
	jBeginTime
	jArrayJobID
	jArrayTaskID
	jArrayPending
	jArrayThrottle
	jArrayCount
	jArrayMin
	jArrayMax
	jArrayDone
	jArrayFailed
	jEnv
	jWorkdir
	jSubmitDir
	jOutput
	jError
	jNoSlurmEnv
	jFirmwareProfile
	jIsolation
	jLinks // 47
)

// encodeEntry implements entryEncoder: the type byte, then the fields.
func (c *SubmitJob) encodeEntry() ([]byte, error) {
	b := make([]byte, 1, 160+len(c.Job.Script)+len(c.Job.Name)+len(c.Job.RequestID))
	b[0] = byte(CmdSubmitJobBinary)
	return appendSubmitJob(b, c), nil
}

func appendSubmitJob(b []byte, c *SubmitJob) []byte {
	b = appendMessage(b, sjJob, func(b []byte) []byte { return appendJob(b, &c.Job) })
	return appendTime(b, sjTime, c.Time)
}

// appendMessage writes field num as a length-delimited message that fn
// appends. The length is a varint in front of the body, so the body is
// written first at a guessed offset and moved when the guess was wrong.
func appendMessage(b []byte, num protowire.Number, fn func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	const guess = 1 // one length byte: bodies under 128 bytes
	at := len(b)
	b = append(b, 0)
	b = fn(b)
	n := len(b) - at - guess
	size := protowire.SizeVarint(uint64(n))
	if size == guess {
		b[at] = byte(n)
		return b
	}
	b = append(b, make([]byte, size-guess)...)
	copy(b[at+size:], b[at+guess:at+guess+n])
	protowire.AppendVarint(b[at:at], uint64(n))
	return b
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendStrings writes every element, empty ones included (a repeated
// field has no other way to say "").
func appendStrings(b []byte, num protowire.Number, ss []string) []byte {
	for _, s := range ss {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	return b
}

func appendInt(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeZigZag(v))
}

func appendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return append(b, 1)
}

// appendTime writes a non-zero time as {1: unix seconds (zigzag), 2:
// nanoseconds}.
func appendTime(b []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return appendMessage(b, num, func(b []byte) []byte {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeZigZag(t.Unix()))
		return appendUint(b, 2, uint64(t.Nanosecond()))
	})
}

func appendJob(b []byte, j *model.Job) []byte {
	b = appendUint(b, jID, j.ID)
	b = appendString(b, jName, j.Name)
	b = appendString(b, jTenant, j.Tenant)
	b = appendInt(b, jNumNodes, int64(j.NumNodes))
	b = appendInt(b, jTimeLimit, int64(j.TimeLimit))
	b = appendBool(b, jInteractive, j.Interactive)
	b = appendString(b, jScript, j.Script)
	b = appendStrings(b, jArgv, j.Argv)
	b = appendInt(b, jSwitches, int64(j.Switches))
	b = appendInt(b, jSwitchWait, int64(j.SwitchWait))
	b = appendInt(b, jSwitchLevel, int64(j.SwitchLevel))
	b = appendStrings(b, jFeatures, j.Features)
	b = appendString(b, jImage, j.Image)
	b = appendString(b, jRequestID, j.RequestID)
	b = appendUint(b, jPKey, uint64(j.PKey))
	b = appendBool(b, jPartitionReady, j.PartitionReady)
	b = appendString(b, jState, string(j.State))
	b = appendStrings(b, jNodes, j.Nodes)
	b = appendTime(b, jSubmitTime, j.SubmitTime)
	b = appendTime(b, jStartTime, j.StartTime)
	b = appendTime(b, jEndTime, j.EndTime)
	if j.ExitCode != nil { // present even when 0
		b = protowire.AppendTag(b, jExitCode, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(*j.ExitCode)))
	}
	b = appendString(b, jReason, j.Reason)
	b = appendString(b, jEndRequestID, j.EndRequestID)
	if u := j.Usage; u != nil { // present even when all zero
		b = appendMessage(b, jUsage, func(b []byte) []byte {
			if u.CPUSeconds != 0 || math.Signbit(u.CPUSeconds) {
				b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
				b = protowire.AppendFixed64(b, math.Float64bits(u.CPUSeconds))
			}
			b = appendUint(b, 2, u.MemoryPeakBytes)
			return appendInt(b, 3, u.OutputBytes)
		})
	}
	for _, d := range j.Depend {
		b = appendMessage(b, jDepend, func(b []byte) []byte {
			b = appendString(b, 1, d.Type)
			b = appendUint(b, 2, d.JobID)
			return appendString(b, 3, string(d.Final))
		})
	}
	b = appendBool(b, jHeld, j.Held)
	b = appendString(b, jReleaseRequestID, j.ReleaseRequestID)
	b = appendTime(b, jBeginTime, j.BeginTime)
	b = appendUint(b, jArrayJobID, j.ArrayJobID)
	b = appendInt(b, jArrayTaskID, int64(j.ArrayTaskID))
	for _, r := range j.ArrayPending {
		b = appendMessage(b, jArrayPending, func(b []byte) []byte {
			b = appendInt(b, 1, int64(r.Lo))
			b = appendInt(b, 2, int64(r.Hi))
			return appendInt(b, 3, int64(r.Step))
		})
	}
	b = appendInt(b, jArrayThrottle, int64(j.ArrayThrottle))
	b = appendInt(b, jArrayCount, int64(j.ArrayCount))
	b = appendInt(b, jArrayMin, int64(j.ArrayMin))
	b = appendInt(b, jArrayMax, int64(j.ArrayMax))
	b = appendBool(b, jArrayDone, j.ArrayDone)
	b = appendInt(b, jArrayFailed, int64(j.ArrayFailed))
	b = appendStrings(b, jEnv, j.Env)
	b = appendString(b, jWorkdir, j.Workdir)
	b = appendString(b, jSubmitDir, j.SubmitDir)
	b = appendString(b, jOutput, j.Output)
	b = appendString(b, jError, j.Error)
	b = appendBool(b, jNoSlurmEnv, j.NoSlurmEnv)
	b = appendString(b, jFirmwareProfile, j.FirmwareProfile)
	b = appendString(b, jIsolation, j.Isolation)
	return appendStrings(b, jLinks, j.Links)
}

// wireReader reads the fields of one message. Every read checks what is
// left, so truncated or hostile input is an error, never a panic.
type wireReader struct {
	b   []byte
	err error
}

// next reads the next field's tag; ok is false at the end or on an error.
func (r *wireReader) next() (protowire.Number, protowire.Type, bool) {
	if r.err != nil || len(r.b) == 0 {
		return 0, 0, false
	}
	num, typ, n := protowire.ConsumeTag(r.b)
	if n < 0 {
		r.err = fmt.Errorf("field tag: %w", protowire.ParseError(n))
		return 0, 0, false
	}
	r.b = r.b[n:]
	return num, typ, true
}

func (r *wireReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *wireReader) expect(num protowire.Number, got, want protowire.Type) bool {
	if got != want {
		r.fail(fmt.Errorf("field %d: wire type %d, want %d", num, got, want))
		return false
	}
	return true
}

func (r *wireReader) varint(num protowire.Number, typ protowire.Type) uint64 {
	if !r.expect(num, typ, protowire.VarintType) {
		return 0
	}
	v, n := protowire.ConsumeVarint(r.b)
	if n < 0 {
		r.fail(fmt.Errorf("field %d: %w", num, protowire.ParseError(n)))
		return 0
	}
	r.b = r.b[n:]
	return v
}

// int reads a zigzag varint that must fit an int.
func (r *wireReader) int(num protowire.Number, typ protowire.Type) int {
	v := protowire.DecodeZigZag(r.varint(num, typ))
	if int64(int(v)) != v {
		r.fail(fmt.Errorf("field %d: %d does not fit an int", num, v))
		return 0
	}
	return int(v)
}

func (r *wireReader) bool(num protowire.Number, typ protowire.Type) bool {
	switch v := r.varint(num, typ); v {
	case 0, 1:
		return v == 1
	default:
		r.fail(fmt.Errorf("field %d: boolean %d", num, v))
		return false
	}
}

func (r *wireReader) bytes(num protowire.Number, typ protowire.Type) []byte {
	if !r.expect(num, typ, protowire.BytesType) {
		return nil
	}
	v, n := protowire.ConsumeBytes(r.b)
	if n < 0 {
		r.fail(fmt.Errorf("field %d: %w", num, protowire.ParseError(n)))
		return nil
	}
	r.b = r.b[n:]
	return v
}

func (r *wireReader) string(num protowire.Number, typ protowire.Type) string {
	return string(r.bytes(num, typ))
}

// message decodes a nested message with fn.
func (r *wireReader) message(num protowire.Number, typ protowire.Type, fn func(*wireReader)) {
	body := r.bytes(num, typ)
	if r.err != nil {
		return
	}
	sub := &wireReader{b: body}
	fn(sub)
	if sub.err != nil {
		r.fail(fmt.Errorf("field %d: %w", num, sub.err))
	}
}

func (r *wireReader) time(num protowire.Number, typ protowire.Type) time.Time {
	var sec int64
	var nsec uint64
	r.message(num, typ, func(m *wireReader) {
		for f, t, ok := m.next(); ok; f, t, ok = m.next() {
			switch f {
			case 1:
				sec = protowire.DecodeZigZag(m.varint(f, t))
			case 2:
				nsec = m.varint(f, t)
			default:
				m.unknown(f)
			}
		}
	})
	if nsec >= uint64(time.Second) {
		r.fail(fmt.Errorf("field %d: %d nanoseconds", num, nsec))
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (r *wireReader) unknown(num protowire.Number) {
	r.fail(fmt.Errorf("unknown field %d; was the entry written by a newer ibexd?", num))
}

// errBinaryEmpty: a SubmitJob always carries its job.
var errBinaryEmpty = errors.New("no job field")

func decodeSubmitJobBinary(body []byte) (Command, error) {
	c := &SubmitJob{}
	r := &wireReader{b: body}
	seen := false
	for f, t, ok := r.next(); ok; f, t, ok = r.next() {
		switch f {
		case sjJob:
			seen = true
			r.message(f, t, func(m *wireReader) { decodeJob(m, &c.Job) })
		case sjTime:
			c.Time = r.time(f, t)
		default:
			r.unknown(f)
		}
	}
	if r.err == nil && !seen {
		r.err = errBinaryEmpty
	}
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

func decodeJob(r *wireReader, j *model.Job) {
	for f, t, ok := r.next(); ok; f, t, ok = r.next() {
		switch f {
		case jID:
			j.ID = r.varint(f, t)
		case jName:
			j.Name = r.string(f, t)
		case jTenant:
			j.Tenant = r.string(f, t)
		case jNumNodes:
			j.NumNodes = r.int(f, t)
		case jTimeLimit:
			j.TimeLimit = time.Duration(protowire.DecodeZigZag(r.varint(f, t)))
		case jInteractive:
			j.Interactive = r.bool(f, t)
		case jScript:
			j.Script = r.string(f, t)
		case jArgv:
			j.Argv = append(j.Argv, r.string(f, t))
		case jSwitches:
			j.Switches = r.int(f, t)
		case jSwitchWait:
			j.SwitchWait = time.Duration(protowire.DecodeZigZag(r.varint(f, t)))
		case jSwitchLevel:
			j.SwitchLevel = r.int(f, t)
		case jFeatures:
			j.Features = append(j.Features, r.string(f, t))
		case jImage:
			j.Image = r.string(f, t)
		case jRequestID:
			j.RequestID = r.string(f, t)
		case jPKey:
			v := r.varint(f, t)
			if v > math.MaxUint16 {
				r.fail(fmt.Errorf("field %d: partition key %d over 0xffff", f, v))
			}
			j.PKey = uint16(v)
		case jPartitionReady:
			j.PartitionReady = r.bool(f, t)
		case jState:
			j.State = model.JobState(r.string(f, t))
		case jNodes:
			j.Nodes = append(j.Nodes, r.string(f, t))
		case jSubmitTime:
			j.SubmitTime = r.time(f, t)
		case jStartTime:
			j.StartTime = r.time(f, t)
		case jEndTime:
			j.EndTime = r.time(f, t)
		case jExitCode:
			v := r.int(f, t)
			j.ExitCode = &v
		case jReason:
			j.Reason = r.string(f, t)
		case jEndRequestID:
			j.EndRequestID = r.string(f, t)
		case jUsage:
			u := &model.JobUsage{}
			r.message(f, t, func(m *wireReader) {
				for f, t, ok := m.next(); ok; f, t, ok = m.next() {
					switch f {
					case 1:
						if m.expect(f, t, protowire.Fixed64Type) {
							v, n := protowire.ConsumeFixed64(m.b)
							if n < 0 {
								m.fail(fmt.Errorf("field %d: %w", f, protowire.ParseError(n)))
								break
							}
							m.b = m.b[n:]
							u.CPUSeconds = math.Float64frombits(v)
						}
					case 2:
						u.MemoryPeakBytes = m.varint(f, t)
					case 3:
						u.OutputBytes = protowire.DecodeZigZag(m.varint(f, t))
					default:
						m.unknown(f)
					}
				}
			})
			j.Usage = u
		case jDepend:
			var d model.Dependency
			r.message(f, t, func(m *wireReader) {
				for f, t, ok := m.next(); ok; f, t, ok = m.next() {
					switch f {
					case 1:
						d.Type = m.string(f, t)
					case 2:
						d.JobID = m.varint(f, t)
					case 3:
						d.Final = model.JobState(m.string(f, t))
					default:
						m.unknown(f)
					}
				}
			})
			j.Depend = append(j.Depend, d)
		case jHeld:
			j.Held = r.bool(f, t)
		case jReleaseRequestID:
			j.ReleaseRequestID = r.string(f, t)
		case jBeginTime:
			j.BeginTime = r.time(f, t)
		case jArrayJobID:
			j.ArrayJobID = r.varint(f, t)
		case jArrayTaskID:
			j.ArrayTaskID = r.int(f, t)
		case jArrayPending:
			var ir model.IndexRange
			r.message(f, t, func(m *wireReader) {
				for f, t, ok := m.next(); ok; f, t, ok = m.next() {
					switch f {
					case 1:
						ir.Lo = m.int(f, t)
					case 2:
						ir.Hi = m.int(f, t)
					case 3:
						ir.Step = m.int(f, t)
					default:
						m.unknown(f)
					}
				}
			})
			j.ArrayPending = append(j.ArrayPending, ir)
		case jArrayThrottle:
			j.ArrayThrottle = r.int(f, t)
		case jArrayCount:
			j.ArrayCount = r.int(f, t)
		case jArrayMin:
			j.ArrayMin = r.int(f, t)
		case jArrayMax:
			j.ArrayMax = r.int(f, t)
		case jArrayDone:
			j.ArrayDone = r.bool(f, t)
		case jArrayFailed:
			j.ArrayFailed = r.int(f, t)
		case jEnv:
			j.Env = append(j.Env, r.string(f, t))
		case jWorkdir:
			j.Workdir = r.string(f, t)
		case jSubmitDir:
			j.SubmitDir = r.string(f, t)
		case jOutput:
			j.Output = r.string(f, t)
		case jError:
			j.Error = r.string(f, t)
		case jNoSlurmEnv:
			j.NoSlurmEnv = r.bool(f, t)
		case jFirmwareProfile:
			j.FirmwareProfile = r.string(f, t)
		case jIsolation:
			j.Isolation = r.string(f, t)
		case jLinks:
			j.Links = append(j.Links, r.string(f, t))
		default:
			r.unknown(f)
		}
	}
}

func init() {
	handlers[CmdSubmitJobBinary] = handler{
		name:   "SubmitJob (binary)",
		decode: decodeSubmitJobBinary,
		// Decoded entries are *SubmitJob, whose Type is CmdSubmitJob:
		// State.apply dispatches them there. This row answers a direct
		// lookup by this type byte the same way.
		apply: func(s *State, c Command) (any, error) { return handlers[CmdSubmitJob].apply(s, c) },
	}
}
