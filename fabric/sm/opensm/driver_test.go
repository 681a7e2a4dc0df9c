package opensm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// fakeSM models OpenSM just enough to test the driver's logic without
// a fabric: on reload it parses the file and programs every known
// port; it can lose signals and be told to stop applying.
type fakeSM struct {
	mu      sync.Mutex
	path    string
	ports   []sm.GUID
	tables  map[sm.GUID]sm.Table
	reloads int
	lose    int  // reloads to ignore
	frozen  bool // never apply
}

func newFakeSM(t *testing.T, ports ...sm.GUID) *fakeSM {
	f := &fakeSM{path: filepath.Join(t.TempDir(), "partitions.conf"), ports: ports, tables: map[sm.GUID]sm.Table{}}
	for _, g := range ports {
		f.tables[g] = sm.NewTable(0xffff) // OpenSM's no-file default: ALL=full
	}
	return f
}

func (f *fakeSM) Reload(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	if f.lose > 0 {
		f.lose--
		return nil
	}
	if f.frozen {
		return nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	parts, err := Parse(b).Partitions()
	if err != nil {
		return err
	}
	for g, t := range sm.Expected(parts, sm.TenantIsolation, f.ports) {
		f.tables[g] = t
	}
	return nil
}

func (f *fakeSM) ReadPKeys(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[sm.GUID]sm.Table{}
	for _, g := range ports {
		if t, ok := f.tables[g]; ok {
			out[g] = t
		}
	}
	return out, nil
}

func newTestDriver(t *testing.T, f *fakeSM) *Driver {
	d, err := New(Config{PartitionsFile: f.path, Rules: sm.TenantIsolation, Reload: f.Reload, Reader: f,
		VerifyTimeout: 2 * time.Second, Poll: time.Millisecond, ResignalAfter: 50 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func job(name string, key sm.PKey, guids ...sm.GUID) sm.Partition {
	p := sm.Partition{Name: name, PKey: key}
	for _, g := range guids {
		p.Members = append(p.Members, sm.Member{GUID: g, Membership: sm.Full})
	}
	return p
}

func TestDriverApplyIdempotent(t *testing.T) {
	f := newFakeSM(t, 1, 2, 3, 4)
	d := newTestDriver(t, f)
	ctx := context.Background()
	want := []sm.Partition{job("a", 1, 1, 2), job("b", 2, 3, 4)}
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	if st := d.LastStats(); !st.Written || st.Signals != 1 || st.Checked != 4 {
		t.Fatalf("first apply: %+v", st)
	}
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	if st := d.LastStats(); st.Written || st.Signals != 0 || st.Checked != 4 {
		t.Fatalf("repeat apply must neither write nor signal but check all members: %+v", st)
	}
	// Move port 2 from a to b: only ports whose table changes are read.
	if err := d.Apply(ctx, []sm.Partition{job("a", 1, 1), job("b", 2, 2, 3, 4)}); err != nil {
		t.Fatal(err)
	}
	if st := d.LastStats(); st.Checked != 1 || st.Signals != 1 {
		t.Fatalf("move: %+v", st)
	}
	got, _ := d.Observe(ctx, []sm.GUID{2})
	if got[2].String() != "0x7fff,0x8002" {
		t.Fatalf("port 2: %v", got[2])
	}
}

func TestDriverRepairsDrift(t *testing.T) {
	f := newFakeSM(t, 1, 2)
	d := newTestDriver(t, f)
	ctx := context.Background()
	want := []sm.Partition{job("a", 1, 1, 2)}
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.tables[2] = sm.NewTable(0xffff) // e.g. an SM restarted with another file
	f.mu.Unlock()
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	if st := d.LastStats(); st.Written || st.Signals != 1 {
		t.Fatalf("drift repair: %+v", st)
	}
}

func TestDriverResignalsLostHUP(t *testing.T) {
	f := newFakeSM(t, 1, 2)
	f.lose = 1
	d := newTestDriver(t, f)
	if err := d.Apply(context.Background(), []sm.Partition{job("a", 1, 1, 2)}); err != nil {
		t.Fatal(err)
	}
	if st := d.LastStats(); st.Signals != 2 {
		t.Fatalf("lost SIGHUP: %+v", st)
	}
}

func TestDriverVerifyTimeout(t *testing.T) {
	f := newFakeSM(t, 1, 2)
	f.frozen = true
	d := newTestDriver(t, f)
	d.cfg.VerifyTimeout = 200 * time.Millisecond
	err := d.Apply(context.Background(), []sm.Partition{job("a", 1, 1, 2)})
	var ve *VerifyError
	if !errors.As(err, &ve) || len(ve.Ports) != 2 {
		t.Fatalf("want VerifyError for 2 ports, got %v", err)
	}
	t.Log(err)
}

func TestDriverValidationFailureChangesNothing(t *testing.T) {
	f := newFakeSM(t, 1, 2)
	d := newTestDriver(t, f)
	ctx := context.Background()
	if err := d.Apply(ctx, []sm.Partition{job("a", 1, 1, 2)}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(f.path)
	reloads := f.reloads
	check := func(name string, err error) {
		t.Helper()
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s: want ValidationError, got %v", name, err)
		}
		after, _ := os.ReadFile(f.path)
		if !bytes.Equal(before, after) || f.reloads != reloads {
			t.Fatalf("%s: file or SM touched", name)
		}
		t.Logf("%s: %v", name, err)
	}
	check("bad desired", d.Apply(ctx, []sm.Partition{job("a,b", 1, 1)}))
	d.renderHook = func(b []byte) []byte { return append(b, "oops\n"...) }
	check("corrupt render", d.Apply(ctx, []sm.Partition{job("a", 1, 1)}))
	d.renderHook = func(b []byte) []byte {
		return bytes.Replace(b, []byte("0x0000000000000002=full"), []byte("0x0000000000000003=full"), 1)
	}
	check("render disagrees with desired", d.Apply(ctx, []sm.Partition{job("a", 1, 1, 2)}))
	d.renderHook = nil
	d.cfg.Validators = []Validator{ValidatorFunc(func(context.Context, []byte) error { return errors.New("no") })}
	check("validator", d.Apply(ctx, []sm.Partition{job("a", 1, 1)}))
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(f.path), ".*tmp*")); len(m) > 0 {
		t.Fatalf("temp files left: %v", m)
	}
}
