package trace

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Record is one SWF job line: all 18 fields, in order, -1 where the trace
// has no value (Parallel Workloads Archive, "The Standard Workload Format").
type Record struct {
	Job       int64   // 1  job number
	Submit    int64   // 2  submit time, seconds from the trace start
	Wait      int64   // 3  wait time in the original system
	Run       int64   // 4  run time (end - start)
	Procs     int64   // 5  allocated processors
	AvgCPU    float64 // 6  average CPU time used per processor
	Memory    float64 // 7  used memory per processor (KB)
	ReqProcs  int64   // 8  requested processors
	ReqTime   int64   // 9  requested time (walltime)
	ReqMemory float64 // 10 requested memory per processor (KB)
	Status    int64   // 11 1 completed, 0 failed, 5 cancelled, ...
	User      int64   // 12 user ID
	Group     int64   // 13 group ID
	App       int64   // 14 executable number
	Queue     int64   // 15 queue number
	Partition int64   // 16 partition number
	Preceding int64   // 17 preceding job number
	ThinkTime int64   // 18 think time from the preceding job
}

// HeaderField is one "; Key: Value" header comment.
type HeaderField struct{ Key, Value string }

// BadRecord is a data line that was skipped.
type BadRecord struct {
	Line   int
	Reason string
}

// Trace is a parsed SWF file.
type Trace struct {
	Header  []HeaderField
	Records []Record
	// Bad counts skipped data lines; BadLines keeps the first few.
	Bad      int
	BadLines []BadRecord
}

// keepBad is how many bad lines a Trace remembers.
const keepBad = 10

// Header returns the value of the first header field named key
// (case-insensitive), or "".
func (t *Trace) HeaderValue(key string) string {
	for _, h := range t.Header {
		if strings.EqualFold(h.Key, key) {
			return h.Value
		}
	}
	return ""
}

// HeaderInt returns a numeric header field, or 0.
func (t *Trace) HeaderInt(key string) int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(t.HeaderValue(key)), 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// Parse reads an SWF trace, plain or gzip-compressed (detected by its magic
// bytes, so a .swf that happens to be compressed works too). Lines starting
// with ';' are header comments; blank lines are ignored; a data line that
// does not have 18 numeric fields is skipped and counted, never fatal, since
// archive traces do contain the odd truncated line. Only read errors fail.
func Parse(r io.Reader) (*Trace, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("swf: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	t := &Trace{}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := bytes.TrimSpace(sc.Bytes())
		if len(s) == 0 {
			continue
		}
		if s[0] == ';' {
			t.header(string(s[1:]))
			continue
		}
		rec, err := parseRecord(string(s))
		if err != nil {
			t.Bad++
			if len(t.BadLines) < keepBad {
				t.BadLines = append(t.BadLines, BadRecord{Line: line, Reason: err.Error()})
			}
			continue
		}
		t.Records = append(t.Records, rec)
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("swf: line %d: %w", line+1, err)
	}
	return t, nil
}

// header keeps "Key: Value" comments; other comments (continuation lines,
// free notes) are not needed.
func (t *Trace) header(s string) {
	k, v, ok := strings.Cut(s, ":")
	k = strings.TrimSpace(k)
	if !ok || k == "" || strings.ContainsAny(k, " \t") || strings.HasPrefix(v, "//") {
		return
	}
	t.Header = append(t.Header, HeaderField{Key: k, Value: strings.TrimSpace(v)})
}

// parseRecord reads the 18 fields. Integer fields may be written with a
// fraction of zero ("12.0", as some converters do); the three per-processor
// averages (6, 7, 10) may be real numbers.
func parseRecord(s string) (Record, error) {
	f := strings.Fields(s)
	if len(f) != 18 {
		return Record{}, fmt.Errorf("%d fields, want 18", len(f))
	}
	var v [18]float64
	for i, x := range f {
		n, err := strconv.ParseFloat(x, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > 1<<53 {
			return Record{}, fmt.Errorf("field %d: %q is not a number", i+1, x)
		}
		if i != 5 && i != 6 && i != 9 && n != math.Trunc(n) {
			return Record{}, fmt.Errorf("field %d: %q is not an integer", i+1, x)
		}
		v[i] = n
	}
	i := func(k int) int64 { return int64(v[k-1]) }
	return Record{
		Job: i(1), Submit: i(2), Wait: i(3), Run: i(4), Procs: i(5), AvgCPU: v[5], Memory: v[6],
		ReqProcs: i(8), ReqTime: i(9), ReqMemory: v[9], Status: i(11), User: i(12), Group: i(13),
		App: i(14), Queue: i(15), Partition: i(16), Preceding: i(17), ThinkTime: i(18),
	}, nil
}
