package firmware

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	vOld = "20.34.1002"
	vNew = "20.35.1012"
	dev  = "mlx5_0"
)

// bench is a Fake device plus a DirStore holding one image per version and
// a policy pinning psidCX6 to `pinned`.
type bench struct {
	fake    *Fake
	store   DirStore
	policy  Policy
	digests map[string]string // version -> sha256 of its image
}

func newBench(t *testing.T, d FakeDevice, pinned string) *bench {
	t.Helper()
	b := &bench{fake: NewFake(), store: DirStore{Dir: t.TempDir()}, digests: map[string]string{}}
	b.fake.AddDevice(dev, d)
	for _, v := range []string{vOld, vNew} {
		content := []byte("ConnectX-6 firmware image " + v)
		if err := os.WriteFile(filepath.Join(b.store.Dir, "cx6-"+v+".bin"), content, 0o644); err != nil {
			t.Fatal(err)
		}
		b.digests[v] = b.fake.AddImage(content, FakeImage{PSID: psidCX6, Version: v})
	}
	b.policy = mustPolicy(t, Rule{PSID: psidCX6, Version: pinned, SHA256: b.digests[pinned], Image: "cx6-" + pinned + ".bin"})
	return b
}

func (b *bench) pin(t *testing.T) (Evidence, error) {
	t.Helper()
	return Pin(context.Background(), b.fake, dev, b.policy, b.store)
}

func (b *bench) methods() string {
	var m []string
	for _, c := range b.fake.Calls() {
		m = append(m, string(c.Method))
	}
	return strings.Join(m, " ")
}

func (b *bench) wantDevice(t *testing.T, burned, running string) {
	t.Helper()
	d, _ := b.fake.Device(dev)
	if d.Burned != burned || d.Running != running {
		t.Errorf("device burned %s running %s, want %s %s", d.Burned, d.Running, burned, running)
	}
}

func wantQuarantine(t *testing.T, err error, step string, touched bool) *QuarantineError {
	t.Helper()
	var qe *QuarantineError
	if !errors.As(err, &qe) {
		t.Fatalf("want *QuarantineError at %s, got %v", step, err)
	}
	if qe.Step != step || qe.Touched != touched || qe.Device != dev || !strings.Contains(err.Error(), "quarantine "+dev) {
		t.Errorf("quarantine: step %q touched %v (want %q %v): %v", qe.Step, qe.Touched, step, touched, err)
	}
	return qe
}

func stepNames(ev Evidence) string {
	var s []string
	for i, st := range ev.Steps {
		s = append(s, st.Name)
		if st.Start.IsZero() || st.End.Before(st.Start) || (i > 0 && st.Start.Before(ev.Steps[i-1].End)) {
			panic("step times out of order: " + st.Name)
		}
	}
	return strings.Join(s, " ")
}

func TestPinHappyPath(t *testing.T) {
	b := newBench(t, FakeDevice{PSID: psidCX6, Burned: vOld, Running: vOld}, vNew)
	ev, err := b.pin(t)
	if err != nil {
		t.Fatal(err)
	}
	b.wantDevice(t, vNew, vNew)
	if got := b.methods(); got != "Query QueryImage Burn Reset Query" {
		t.Errorf("calls: %s", got)
	}
	if burn := b.fake.Calls()[2]; burn.ImageSHA256 != b.digests[vNew] {
		t.Errorf("burned a file with digest %s, want %s", burn.ImageSHA256, b.digests[vNew])
	}
	if ev.Outcome != Burned || ev.PSID != psidCX6 || ev.PinnedVersion != vNew || ev.Image != "cx6-"+vNew+".bin" ||
		ev.WantSHA256 != b.digests[vNew] || ev.GotSHA256 != b.digests[vNew] ||
		ev.BurnedBefore != vOld || ev.RunningBefore != vOld || ev.BurnedAfter != vNew || ev.RunningAfter != vNew ||
		ev.Before == nil || ev.After == nil || ev.End.Before(ev.Start) {
		t.Errorf("evidence: %+v", ev)
	}
	if got := stepNames(ev); got != "query stage image-check burn reset verify" {
		t.Errorf("steps: %s", got)
	}
}

// The staged copy is what gets burned, and it is removed afterwards.
func TestPinBurnsPrivateCopy(t *testing.T) {
	b := newBench(t, FakeDevice{PSID: psidCX6, Burned: vOld, Running: vOld}, vNew)
	spy := &burnSpy{Fake: b.fake}
	if _, err := Pin(context.Background(), spy, dev, b.policy, b.store); err != nil {
		t.Fatal(err)
	}
	if spy.path == "" || strings.HasPrefix(spy.path, b.store.Dir) {
		t.Errorf("burned %q, want a staged copy outside the store", spy.path)
	}
	if _, err := os.Stat(spy.path); !os.IsNotExist(err) {
		t.Errorf("staged copy left behind: %v", err)
	}
}

type burnSpy struct {
	*Fake
	path string
}

func (s *burnSpy) Burn(ctx context.Context, device, path string) error {
	s.path = path
	return s.Fake.Burn(ctx, device, path)
}

func TestPinAlreadyCompliant(t *testing.T) {
	b := newBench(t, FakeDevice{PSID: psidCX6, Burned: vNew, Running: vNew}, vNew)
	ev, err := b.pin(t)
	if err != nil || ev.Outcome != AlreadyCompliant || ev.GotSHA256 != "" || ev.RunningAfter != vNew {
		t.Fatalf("%+v %v", ev, err)
	}
	if got := b.methods(); got != "Query" {
		t.Errorf("a compliant device was touched: %s", got)
	}
}

func TestPinWrongDigestRefusedBeforeBurn(t *testing.T) {
	b := newBench(t, FakeDevice{PSID: psidCX6, Burned: vOld, Running: vOld}, vNew)
	// The store's file changed after the policy was approved.
	if err := os.WriteFile(filepath.Join(b.store.Dir, "cx6-"+vNew+".bin"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	ev, err := b.pin(t)
	qe := wantQuarantine(t, err, "digest", false)
	if !strings.Contains(qe.Reason, "refusing to burn") || ev.GotSHA256 == ev.WantSHA256 || ev.GotSHA256 == "" {
		t.Errorf("reason %q, evidence digests %s vs %s", qe.Reason, ev.GotSHA256, ev.WantSHA256)
	}
	if got := b.methods(); got != "Query" {
		t.Errorf("calls after a digest mismatch: %s", got)
	}
	b.wantDevice(t, vOld, vOld)
}

func TestPinBurnFailure(t *testing.T) {
	b := newBench(t, FakeDevice{PSID: psidCX6, Burned: vOld, Running: vOld}, vNew)
	boom := errors.New("-E- Burning FS4 image failed: Flash timeout")
	b.fake.FailNext(MethodBurn, boom)
	ev, err := b.pin(t)
	wantQuarantine(t, err, "burn", true)
	if !errors.Is(err, boom) || ev.Outcome != "" || ev.After != nil {
		t.Errorf("err %v, evidence %+v", err, ev)
	}
	if got := b.methods(); got != "Query QueryImage Burn" {
		t.Errorf("calls after a failed burn: %s", got)
	}
	if last := ev.Steps[len(ev.Steps)-1]; last.Name != "burn" || !strings.Contains(last.Err, "Flash timeout") {
		t.Errorf("last step %+v", last)
	}
}

// Reset "succeeds" but the old firmware keeps running: running != burned.
func TestPinResetDoesNotActivate(t *testing.T) {
	b := newBench(t, FakeDevice{PSID: psidCX6, Burned: vOld, Running: vOld}, vNew)
	b.fake.ResetDoesNotActivate = true
	ev, err := b.pin(t)
	qe := wantQuarantine(t, err, "verify", true)
	if !strings.Contains(qe.Reason, "flash holds "+vNew+" and "+vOld+" runs") || ev.RunningAfter != vOld || ev.BurnedAfter != vNew {
		t.Errorf("reason %q evidence %+v", qe.Reason, ev)
	}
}

// Burn reports success but leaves another version on flash.
func TestPinBurnLeavesWrongVersion(t *testing.T) {
	b := newBench(t, FakeDevice{PSID: psidCX6, Burned: vOld, Running: vOld}, vNew)
	b.fake.WrongVersion = "20.35.1010"
	ev, err := b.pin(t)
	wantQuarantine(t, err, "verify", true)
	if ev.BurnedAfter != "20.35.1010" || ev.RunningAfter != "20.35.1010" {
		t.Errorf("evidence %+v", ev)
	}
}

// Starts from the real mstflint output where 20.35.1012 is burned and
// 20.34.1002 still runs.
func TestPinPendingResetFromRealOutput(t *testing.T) {
	pending := FakeDeviceFromQuery(parseOutput(t, "mstflint_q_running_fw_pending_reset.txt"))
	if pending.Burned != vNew || pending.Running != vOld || pending.PSID != psidCX6 {
		t.Fatalf("fixture: %+v", pending)
	}

	t.Run("pinned to the burned version: reset only", func(t *testing.T) {
		b := newBench(t, pending, vNew)
		if r := Check(ObservedFromQuery(dev, parseOutput(t, "mstflint_q_running_fw_pending_reset.txt")), b.policy); r.Status != Drift {
			t.Fatalf("Check before Pin: %+v", r)
		}
		ev, err := b.pin(t)
		if err != nil || ev.Outcome != ResetOnly || ev.GotSHA256 != "" {
			t.Fatalf("%+v %v", ev, err)
		}
		if got := b.methods(); got != "Query Reset Query" {
			t.Errorf("calls: %s", got)
		}
		b.wantDevice(t, vNew, vNew)
	})
	t.Run("pinned to the burned version, reset does not activate", func(t *testing.T) {
		b := newBench(t, pending, vNew)
		b.fake.ResetDoesNotActivate = true
		_, err := b.pin(t)
		wantQuarantine(t, err, "verify", true)
	})
	t.Run("pinned to the running version: burn it back", func(t *testing.T) {
		b := newBench(t, pending, vOld)
		ev, err := b.pin(t)
		if err != nil || ev.Outcome != Burned || ev.BurnedBefore != vNew || ev.RunningBefore != vOld {
			t.Fatalf("%+v %v", ev, err)
		}
		b.wantDevice(t, vOld, vOld)
	})
}

func TestPinFailures(t *testing.T) {
	old := FakeDevice{PSID: psidCX6, Burned: vOld, Running: vOld}
	boom := errors.New("boom")
	cases := []struct {
		name    string
		setup   func(t *testing.T, b *bench)
		step    string
		touched bool
		calls   string
	}{
		{"query fails", func(t *testing.T, b *bench) { b.fake.FailNext(MethodQuery, boom) }, "query", false, "Query"},
		{"unknown PSID", func(t *testing.T, b *bench) {
			b.policy = mustPolicy(t, Rule{PSID: "MT_0000000008", Version: vNew, SHA256: sha0, Image: "x"})
		}, "policy", false, "Query"},
		{"image missing", func(t *testing.T, b *bench) { os.Remove(filepath.Join(b.store.Dir, "cx6-"+vNew+".bin")) }, "stage", false, "Query"},
		{"image outside store", func(t *testing.T, b *bench) {
			b.policy = mustPolicy(t, Rule{PSID: psidCX6, Version: vNew, SHA256: b.digests[vNew], Image: "../cx6.bin"})
		}, "stage", false, "Query"},
		{"image is another version", func(t *testing.T, b *bench) {
			// The digest matches the policy, but the file is a 20.36 image.
			content := []byte("mislabelled")
			os.WriteFile(filepath.Join(b.store.Dir, "mislabelled.bin"), content, 0o644)
			d := b.fake.AddImage(content, FakeImage{PSID: psidCX6, Version: "20.36.1012"})
			b.policy = mustPolicy(t, Rule{PSID: psidCX6, Version: vNew, SHA256: d, Image: "mislabelled.bin"})
		}, "image-check", false, "Query QueryImage"},
		{"image for another board", func(t *testing.T, b *bench) {
			content := []byte("cx5 image")
			os.WriteFile(filepath.Join(b.store.Dir, "cx5.bin"), content, 0o644)
			d := b.fake.AddImage(content, FakeImage{PSID: "MT_0000000008", Version: vNew})
			b.policy = mustPolicy(t, Rule{PSID: psidCX6, Version: vNew, SHA256: d, Image: "cx5.bin"})
		}, "image-check", false, "Query QueryImage"},
		{"image query fails", func(t *testing.T, b *bench) { b.fake.FailNext(MethodQueryImage, boom) }, "image-check", false, "Query QueryImage"},
		{"reset fails", func(t *testing.T, b *bench) { b.fake.FailNext(MethodReset, boom) }, "reset", true, "Query QueryImage Burn Reset"},
		{"re-query fails", func(t *testing.T, b *bench) { b.fake.FailNext(MethodQuery, nil, boom) }, "verify", true, "Query QueryImage Burn Reset Query"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBench(t, old, vNew)
			c.setup(t, b)
			_, err := b.pin(t)
			wantQuarantine(t, err, c.step, c.touched)
			if got := b.methods(); got != c.calls {
				t.Errorf("calls %q, want %q", got, c.calls)
			}
		})
	}
}

func TestPinCancelledContext(t *testing.T) {
	b := newBench(t, FakeDevice{PSID: psidCX6, Burned: vOld, Running: vOld}, vNew)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Pin(ctx, b.fake, dev, b.policy, b.store)
	wantQuarantine(t, err, "query", false)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v", err)
	}
}

// A Flasher without QueryImage still pins; the digest is the only image check.
func TestPinWithoutImageQuerier(t *testing.T) {
	b := newBench(t, FakeDevice{PSID: psidCX6, Burned: vOld, Running: vOld}, vNew)
	ev, err := Pin(context.Background(), plainFlasher{b.fake}, dev, b.policy, b.store)
	if err != nil || ev.Outcome != Burned {
		t.Fatalf("%+v %v", ev, err)
	}
	if got := b.methods(); got != "Query Burn Reset Query" {
		t.Errorf("calls: %s", got)
	}
}

type plainFlasher struct{ f *Fake }

func (p plainFlasher) Query(ctx context.Context, d string) (Query, error) { return p.f.Query(ctx, d) }
func (p plainFlasher) Burn(ctx context.Context, d, img string) error      { return p.f.Burn(ctx, d, img) }
func (p plainFlasher) Reset(ctx context.Context, d string) error          { return p.f.Reset(ctx, d) }

func TestFakeRefusesLikeTheTool(t *testing.T) {
	f := NewFake()
	f.AddDevice(dev, FakeDevice{PSID: psidCX6, Burned: vOld, Running: vOld})
	img := filepath.Join(t.TempDir(), "x.bin")
	os.WriteFile(img, []byte("unregistered"), 0o644)
	ctx := context.Background()
	if err := f.Burn(ctx, dev, img); err == nil {
		t.Error("unregistered image burned")
	}
	f.AddImage([]byte("unregistered"), FakeImage{PSID: "MT_0000000008", Version: vNew})
	if err := f.Burn(ctx, dev, img); err == nil || !strings.Contains(err.Error(), "PSID mismatch") {
		t.Errorf("PSID mismatch: %v", err)
	}
	if _, err := f.Query(ctx, "mlx5_9"); err == nil {
		t.Error("unknown device answered")
	}
	if d, _ := f.Device(dev); d.Burned != vOld {
		t.Errorf("refused burns changed the device: %+v", d)
	}
	calls := f.Calls()
	if len(calls) != 3 || calls[0].Err == nil || calls[1].Err == nil || calls[2].Err == nil {
		t.Errorf("call log: %+v", calls)
	}
}
