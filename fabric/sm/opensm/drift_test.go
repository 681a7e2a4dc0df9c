package opensm

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

func TestCheckFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "partitions.conf")
	read := func(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
		return sm.Expected([]sm.Partition{{Name: "job1", PKey: 0x10, Members: []sm.Member{{GUID: 1, Membership: sm.Full}}}}, sm.TenantIsolation, ports), nil
	}
	d, err := New(Config{PartitionsFile: path, Rules: sm.TenantIsolation, Reload: func(context.Context) error { return nil }, Reader: ReaderFunc(read)})
	if err != nil {
		t.Fatal(err)
	}
	if drift, err := d.CheckFile(); drift != nil || err != nil {
		t.Fatalf("before any Apply: %v %v", drift, err)
	}
	desired := []sm.Partition{{Name: "job1", PKey: 0x10, Members: []sm.Member{{GUID: 1, Membership: sm.Full}}}}
	if err := d.Apply(context.Background(), desired); err != nil {
		t.Fatal(err)
	}
	if drift, err := d.CheckFile(); drift != nil || err != nil {
		t.Fatalf("right after Apply: %v %v", drift, err)
	}
	moved, _ := Render([]sm.Partition{{Name: "job1", PKey: 0x10, Members: []sm.Member{{GUID: 1, Membership: sm.Full}, {GUID: 2, Membership: sm.Full}}}}, sm.TenantIsolation)
	os.WriteFile(path, moved, 0o644)
	drift, err := d.CheckFile()
	if err != nil || drift == nil || drift.ParseErr != nil || len(drift.Found) != 1 || len(drift.Found[0].Members) != 2 {
		t.Fatalf("moved member: %+v %v", drift, err)
	}
	os.WriteFile(path, []byte("Default=0x7fff ALL=full\njob1=0x10, 0x000000000000001\n; garbage ( ,"), 0o644)
	if drift, err := d.CheckFile(); err != nil || drift == nil || drift.ParseErr == nil {
		t.Fatalf("broken file: %+v %v", drift, err)
	}
	os.Remove(path)
	if drift, err := d.CheckFile(); err != nil || drift == nil || drift.ParseErr == nil {
		t.Fatalf("removed file: %+v %v", drift, err)
	}
	if err := d.Apply(context.Background(), desired); err != nil {
		t.Fatal(err)
	}
	if drift, _ := d.CheckFile(); drift != nil {
		t.Fatalf("after the repair: %v", drift)
	}
}
