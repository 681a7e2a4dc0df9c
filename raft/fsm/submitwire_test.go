package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ibex-hpc/ibex/model"
)

// fill sets every field of v (a struct, reached by reflection) to a
// non-zero value derived from seed, so a field the binary encoding forgets
// shows up as a difference after a round trip.
func fill(t testing.TB, v reflect.Value, seed int) {
	t.Helper()
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 12, 5, 3, seed%60, 7, 123456789+seed, time.UTC)))
		return
	case v.Type() == reflect.TypeFor[time.Duration]():
		v.SetInt(int64(seed) * int64(time.Millisecond))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%dé", seed)) // distinct per field: a swap shows
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(-int64(seed)) // negative: zigzag must carry the sign
	case reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Uint16:
		v.SetUint(uint64(seed))
	case reflect.Float64:
		v.SetFloat(float64(seed) + 0.25)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), seed)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(t, s.Index(0), seed)
		fill(t, s.Index(1), seed+1)
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i), seed+i+1)
		}
	default:
		t.Fatalf("fill: no rule for %s (%s): teach fill and submitwire.go about it", v.Type(), v.Kind())
	}
}

func binaryRoundTrip(t *testing.T, c *SubmitJob) *SubmitJob {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if CommandType(b[0]) != CmdSubmitJobBinary {
		t.Fatalf("Encode wrote type %d, want %d", b[0], CmdSubmitJobBinary)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return d.(*SubmitJob)
}

func jsonRoundTrip(t *testing.T, c *SubmitJob) *SubmitJob {
	t.Helper()
	b, err := legacyJSON(c)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return d.(*SubmitJob)
}

// Every field of model.Job survives the binary encoding, and decodes to
// what the JSON encoding gives: a field added to model.Job without a field
// number in submitwire.go fails here.
func TestSubmitBinaryCoversEveryJobField(t *testing.T) {
	var c SubmitJob
	fill(t, reflect.ValueOf(&c).Elem(), 1)
	jt := reflect.TypeFor[model.Job]()
	for i := range jt.NumField() {
		if reflect.ValueOf(c.Job).Field(i).IsZero() {
			t.Fatalf("fill left model.Job.%s zero", jt.Field(i).Name)
		}
	}
	got := binaryRoundTrip(t, &c)
	if !reflect.DeepEqual(got, &c) {
		for i := range jt.NumField() {
			a, b := reflect.ValueOf(got.Job).Field(i).Interface(), reflect.ValueOf(c.Job).Field(i).Interface()
			if !reflect.DeepEqual(a, b) {
				t.Errorf("model.Job.%s: sent %#v, decoded %#v: give it a field number in submitwire.go (appendJob and decodeJob)", jt.Field(i).Name, b, a)
			}
		}
		if !got.Time.Equal(c.Time) {
			t.Errorf("SubmitJob.Time: sent %v, decoded %v", c.Time, got.Time)
		}
		t.FailNow()
	}
	if j := jsonRoundTrip(t, &c); !reflect.DeepEqual(got, j) {
		t.Errorf("binary and JSON decode differently:\nbinary %+v\nJSON   %+v", got, j)
	}
	// Every bool is true above, so two swapped bools would pass: each
	// alone must come back alone.
	for i := range jt.NumField() {
		if jt.Field(i).Type.Kind() != reflect.Bool {
			continue
		}
		var one SubmitJob
		reflect.ValueOf(&one.Job).Elem().Field(i).SetBool(true)
		if got := binaryRoundTrip(t, &one); !reflect.DeepEqual(got, &one) {
			t.Errorf("model.Job.%s alone: decoded %+v", jt.Field(i).Name, got.Job)
		}
	}
}

// The submissions the API sends, and edge values, decode from the binary
// form exactly as from the JSON form.
func TestSubmitBinaryMatchesJSON(t *testing.T) {
	zero, neg := 0, -3
	cases := []*SubmitJob{
		{},
		{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Interactive: true, RequestID: "r1"}, Time: t0},
		{Job: model.Job{Tenant: "alice", NumNodes: 4, TimeLimit: time.Minute, Script: strings.Repeat("echo hi\n", 100), Argv: []string{"", "a b"}}, Time: t0.Add(time.Nanosecond)},
		{Job: model.Job{Tenant: "t", ExitCode: &zero, Usage: &model.JobUsage{}}, Time: time.Unix(-5, 7).UTC()},
		{Job: model.Job{Tenant: "t", ExitCode: &neg, PKey: 0xffff, Usage: &model.JobUsage{CPUSeconds: 1e-9, MemoryPeakBytes: 1 << 63, OutputBytes: -1}}},
		{Job: model.Job{NumNodes: -1 << 62, ID: 1<<64 - 1, ArrayPending: model.IndexSet{{Lo: 0, Hi: 0}}, Depend: []model.Dependency{{}}}},
		{Job: model.Job{SubmitTime: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), BeginTime: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}},
	}
	for _, w := range wireLog() {
		if c, ok := w.cmd.(*SubmitJob); ok {
			cases = append(cases, c)
		}
	}
	for i, c := range cases {
		b, j := binaryRoundTrip(t, c), jsonRoundTrip(t, c)
		if !reflect.DeepEqual(b, j) {
			t.Errorf("case %d: binary %+v\nJSON %+v", i, b, j)
		}
	}
}

// An entry an older server wrote in JSON (type 3) still decodes and
// applies; the same command written now is binary (type 25), and both
// leave the same state.
func TestSubmitOldJSONEntriesReplay(t *testing.T) {
	old := []byte(`{"job":{"id":0,"name":"x","tenant":"alice","num_nodes":1,"time_limit":60000000000,"argv":["true"],"request_id":"r1","state":"","submit_time":"0001-01-01T00:00:00Z"},"time":"2026-11-27T08:00:00Z"}`)
	cmd := &SubmitJob{Job: model.Job{Name: "x", Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"}, RequestID: "r1"}, Time: t0}
	if j, _ := legacyJSON(cmd); !bytes.Equal(j[1:], old) {
		t.Fatalf("the pinned old entry is not what JSON gives:\n%s\n%s", j[1:], old)
	}
	states := [2]*FSM{New(), New()}
	for _, f := range states {
		f.Apply(&RegisterNodes{Nodes: []NodeSpec{{Name: "node001", Leaf: "leaf01"}}, Time: t0})
		f.Apply(&CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "a"}})
	}
	r := states[0].ApplyEntry(3, append([]byte{byte(CmdSubmitJob)}, old...))
	if r.Err != nil || r.Value != uint64(1) {
		t.Fatalf("old entry: %+v", r)
	}
	bin, _ := Encode(cmd)
	if CommandType(bin[0]) != CmdSubmitJobBinary {
		t.Fatalf("a new SubmitJob is written as type %d", bin[0])
	}
	if r := states[1].ApplyEntry(3, bin); r.Err != nil || r.Value != uint64(1) {
		t.Fatalf("binary entry: %+v", r)
	}
	if a, b := states[0].View().Hash(), states[1].View().Hash(); a != b {
		t.Errorf("the old and the new entry leave different states")
	}
}

// Broken or hostile bodies are refused with an error that says what is
// wrong, never a panic or a silently dropped field.
func TestSubmitBinaryRefuses(t *testing.T) {
	good, _ := Encode(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, RequestID: "r"}, Time: t0})
	tag := func(n protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, n, typ) }
	job := func(inner ...byte) []byte {
		b := protowire.AppendTag(nil, sjJob, protowire.BytesType)
		return protowire.AppendBytes(b, inner)
	}
	cases := map[string]struct {
		body []byte
		want string
	}{
		"empty":             {nil, "no job field"},
		"truncated":         {good[1 : len(good)-3], "unexpected EOF"},
		"unknown field":     {append(bytes.Clone(good[1:]), append(tag(9, protowire.VarintType), 1)...), "unknown field 9; was the entry written by a newer ibexd?"},
		"unknown job field": {job(append(tag(999, protowire.VarintType), 1)...), "field 1: unknown field 999"},
		"wrong wire type":   {job(append(tag(jTenant, protowire.VarintType), 1)...), "field 3: wire type 0, want 2"},
		"bad bool":          {job(append(tag(jInteractive, protowire.VarintType), 2)...), "boolean 2"},
		"pkey overflow":     {job(protowire.AppendVarint(tag(jPKey, protowire.VarintType), 1<<16)...), "over 0xffff"},
		"huge length":       {append(tag(sjJob, protowire.BytesType), 0xff, 0xff, 0xff, 0xff, 0x0f), "unexpected EOF"},
	}
	// A time whose nanoseconds field is a second or more.
	tb := protowire.AppendVarint(tag(2, protowire.VarintType), uint64(time.Second))
	cases["nanoseconds"] = struct {
		body []byte
		want string
	}{append(append(job(), tag(sjTime, protowire.BytesType)...), protowire.AppendBytes(nil, tb)...), "1000000000 nanoseconds"}
	for name, c := range cases {
		_, err := Decode(append([]byte{byte(CmdSubmitJobBinary)}, c.body...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, c.want)
		}
	}
}

// FuzzDecodeSubmitJobBinary: any body either is refused with an error or
// decodes to a command that encodes to an entry decoding to the same
// command, with a stable encoding; never a panic.
func FuzzDecodeSubmitJobBinary(f *testing.F) {
	for _, w := range wireLog() {
		if c, ok := w.cmd.(*SubmitJob); ok {
			b, _ := Encode(c)
			f.Add(b[1:])
		}
	}
	var full SubmitJob
	fill(f, reflect.ValueOf(&full).Elem(), 3)
	b, _ := Encode(&full)
	f.Add(b[1:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		c, err := Decode(append([]byte{byte(CmdSubmitJobBinary)}, body...))
		if err != nil {
			return
		}
		e, err := Encode(c)
		if err != nil {
			t.Fatalf("decoded command does not encode: %v", err)
		}
		c2, err := Decode(e)
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the command:\n%+v\n%+v", c, c2)
		}
		if e2, _ := Encode(c2); !bytes.Equal(e, e2) {
			t.Fatalf("encoding is not stable: %x then %x", e, e2)
		}
	})
}

// What an API submission costs to encode and decode, JSON against
// binary: go test ./raft/fsm -run '^$' -bench SubmitCodec -benchmem
func BenchmarkSubmitCodec(b *testing.B) {
	c := &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Interactive: true, RequestID: "bench-12345"}, Time: t0}
	jsonEntry, _ := legacyJSON(c)
	binEntry, _ := Encode(c)
	b.Run("encode-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			body, _ := json.Marshal(c)
			_ = append([]byte{byte(CmdSubmitJob)}, body...)
		}
	})
	b.Run("encode-binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = Encode(c)
		}
	})
	b.Run("decode-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = Decode(jsonEntry)
		}
	})
	b.Run("decode-binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = Decode(binEntry)
		}
	})
	b.Logf("entry size: JSON %d bytes, binary %d bytes", len(jsonEntry), len(binEntry))
}
