package cli

import (
	"bytes"
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// TestJSONNumbersAreNumbers: ids, counts and sizes of 64 bits come out as
// JSON numbers (protojson writes them as strings), nested and repeated
// ones too, while durations keep protojson's form.
func TestJSONNumbersAreNumbers(t *testing.T) {
	var buf bytes.Buffer
	j := &pb.Job{Id: 12, Name: "12", ExitCode: 3, HasExitCode: true, OutputBytes: 4096, MemoryPeakBytes: 1 << 40,
		TimeLimit: durationpb.New(3600e9)}
	if err := printJSON(&buf, j, j); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if len(got) != 2 {
		t.Fatalf("want 2 jobs, got %d", len(got))
	}
	for k, want := range map[string]string{"id": "12", "exit_code": "3", "output_bytes": "4096", "memory_peak_bytes": "1099511627776"} {
		n, ok := got[1][k].(json.Number)
		if !ok || n.String() != want {
			t.Errorf("%s = %#v, want the number %s", k, got[1][k], want)
		}
	}
	if got[0]["name"] != "12" {
		t.Errorf("name = %#v: a string field that looks like a number must stay a string", got[0]["name"])
	}
	if got[0]["time_limit"] != "3600s" {
		t.Errorf("time_limit = %#v, want protojson's \"3600s\"", got[0]["time_limit"])
	}

	buf.Reset()
	if err := printOneJSON(&buf, &pb.UsageResponse{Tenants: []*pb.TenantUsage{{Tenant: "alice", Jobs: 7, NodeHours: 1.5}}}); err != nil {
		t.Fatal(err)
	}
	var u struct {
		Tenants []map[string]any `json:"tenants"`
	}
	d2 := json.NewDecoder(&buf)
	d2.UseNumber()
	if err := d2.Decode(&u); err != nil {
		t.Fatal(err)
	}
	if n, ok := u.Tenants[0]["jobs"].(json.Number); !ok || n.String() != "7" {
		t.Errorf("nested repeated count = %#v, want the number 7", u.Tenants[0]["jobs"])
	}
}
