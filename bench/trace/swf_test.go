package trace

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

const sample = `; Version: 2.2
; Computer: IBM SP2
; MaxNodes: 100
; MaxProcs: 100
;              http://www.cs.huji.ac.il/labs/parallel/workload/
; Note: a free-form note
    1   0  10  100  4  -1  -1  4  120  -1  1  3  3  -1  1  -1  -1  -1

    2  30   0   50  2  12.5 1024.0  2  -1  -1  0  4  4  7  1  1  1  20
    3  40   0   50  2  -1  -1
    4  x   0   50  2  -1  -1  2  60  -1  1  4  4  -1  1  -1  -1  -1
    5  50  0   50  2.5  -1  -1  2  60  -1  1  4  4  -1  1  -1  -1  -1
    6  60  0   50  2  -1  -1  2  60  -1  1  4  4  -1  1  -1  -1  -1  99
    7  70.0  0   5  1  -1  -1  1  60  -1  1  4  4  -1  1  -1  -1  -1
`

func TestParseFieldsAndHeader(t *testing.T) {
	tr, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if tr.HeaderInt("MaxProcs") != 100 || tr.HeaderValue("computer") != "IBM SP2" || tr.HeaderValue("http") != "" {
		t.Fatalf("header = %+v", tr.Header)
	}
	if len(tr.Records) != 3 {
		t.Fatalf("%d records: %+v", len(tr.Records), tr.Records)
	}
	want := Record{Job: 2, Submit: 30, Wait: 0, Run: 50, Procs: 2, AvgCPU: 12.5, Memory: 1024, ReqProcs: 2, ReqTime: -1,
		ReqMemory: -1, Status: 0, User: 4, Group: 4, App: 7, Queue: 1, Partition: 1, Preceding: 1, ThinkTime: 20}
	if tr.Records[1] != want {
		t.Fatalf("record 2 = %+v\nwant %+v", tr.Records[1], want)
	}
	if tr.Records[2].Submit != 70 {
		t.Fatalf("70.0 read as %d", tr.Records[2].Submit)
	}
}

func TestParseBadRecords(t *testing.T) {
	tr, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Bad != 4 || len(tr.BadLines) != 4 {
		t.Fatalf("bad = %d %+v", tr.Bad, tr.BadLines)
	}
	for i, want := range []struct {
		line int
		msg  string
	}{{10, "7 fields"}, {11, "field 2"}, {12, "field 5"}, {13, "19 fields"}} {
		if got := tr.BadLines[i]; got.Line != want.line || !strings.Contains(got.Reason, want.msg) {
			t.Errorf("bad line %d = %+v, want line %d %q", i, got, want.line, want.msg)
		}
	}
}

func TestParseGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(sample))
	zw.Close()
	tr, err := Parse(&buf)
	if err != nil || len(tr.Records) != 3 {
		t.Fatalf("gzip: %v, %d records", err, len(tr.Records))
	}
	if _, err := Parse(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0})); err == nil {
		t.Fatal("broken gzip accepted")
	}
}

func TestParseRealSamples(t *testing.T) {
	for _, c := range []struct {
		file    string
		records int
		procs   int64
	}{
		{"gridsim-sample-l_sdsc_blue.swf.txt", 10, 1152},
		{"gridsim-sample-l_lanl_o2k.swf.txt", 10, 2048},
	} {
		tr := parseFile(t, c.file)
		if len(tr.Records) != c.records || tr.Bad != 0 || tr.HeaderInt("MaxProcs") != c.procs {
			t.Errorf("%s: %d records, %d bad, MaxProcs %d", c.file, len(tr.Records), tr.Bad, tr.HeaderInt("MaxProcs"))
		}
	}
}

func TestJobsMapping(t *testing.T) {
	recs := []Record{
		{Job: 1, Submit: 100, Run: 50, Procs: 6, ReqProcs: 8, ReqTime: 60, User: 3},
		{Job: 2, Submit: 50, Run: 70, Procs: -1, ReqProcs: 3, ReqTime: 60, User: -1}, // ran past its request
		{Job: 3, Submit: 50, Run: 10, Procs: 2, ReqTime: -1},                         // no request: walltime = run
		{Job: 4, Submit: 0, Run: -1, Procs: 2},
		{Job: 5, Submit: 0, Run: 1, Procs: -1, ReqProcs: -1},
		{Job: 6, Submit: 0, Run: 1, Procs: 9},
		{Job: 7, Submit: -1, Run: 1, Procs: 1},
	}
	jobs, sk := Jobs(recs, Mapping{ProcsPerNode: 2, MaxNodes: 4})
	if sk != (Skipped{NoSize: 1, NoRunTime: 1, NoSubmit: 1, TooLarge: 1, OverLimits: 1}) || sk.Total() != 4 {
		t.Fatalf("skipped = %+v", sk)
	}
	if len(jobs) != 3 || jobs[0].ID != 2 || jobs[1].ID != 3 || jobs[2].ID != 1 {
		t.Fatalf("jobs = %+v", jobs)
	}
	if j := jobs[0]; j.Nodes != 2 || j.Walltime != j.Run || j.Tenant != "unknown" {
		t.Fatalf("job 2 = %+v", j)
	}
	if j := jobs[1]; j.Walltime.Seconds() != 10 || j.Nodes != 1 {
		t.Fatalf("job 3 = %+v", j)
	}
	if j := jobs[2]; j.Nodes != 3 || j.Walltime.Seconds() != 60 || j.Tenant != "u3" {
		t.Fatalf("job 1 = %+v", j)
	}
}
