package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	"github.com/ibex-hpc/ibex/nodeagent/imaging"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// enrolled starts a fake server and an agent enrolled with it, and
// returns the agent's first stream.
func enrolled(t *testing.T, env *testEnv, setup func(*Agent)) (*fakeServer, *fakeConn, func()) {
	t.Helper()
	ca := newTestCA(t)
	fs := startFakeServer(t, ca, fakeOpts{})
	a := env.agent(t, []string{fs.addr}, fs.token, ca.pin())
	if setup != nil {
		setup(a)
	}
	stop := run(t, a)
	return fs, fs.nextConn(t), stop
}

// imageServer serves content at /img, optionally slowly: chunk bytes per
// delay, so a test can interrupt a write half way.
type imageServer struct {
	*httptest.Server
	content  []byte
	chunk    int
	delay    time.Duration
	requests atomic.Int32
	sent     atomic.Int64
}

func newImageServer(t *testing.T, content []byte, chunk int, delay time.Duration) *imageServer {
	s := &imageServer{content: content, chunk: chunk, delay: delay}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if s.delay == 0 {
			http.ServeContent(w, r, "img", time.Time{}, bytes.NewReader(s.content))
			return
		}
		// Slow path: no Range support, so an interrupted write starts over.
		w.Header().Set("Content-Length", strconv.Itoa(len(s.content)))
		for off := 0; off < len(s.content); off += s.chunk {
			if _, err := w.Write(s.content[off:min(off+s.chunk, len(s.content))]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			s.sent.Add(int64(min(s.chunk, len(s.content)-off)))
			select {
			case <-time.After(s.delay):
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func imageTask(id string, srv *imageServer, content []byte) *pb.AgentTask {
	sum := sha256.Sum256(content)
	return &pb.AgentTask{Id: id, Kind: &pb.AgentTask_Image{Image: &pb.ImageTask{Image: &pb.Image{
		Name: "rocky9-hpc", Version: "2024.06.1", Size: uint64(len(content)),
		Sha256: hex.EncodeToString(sum[:]), SourceUrl: srv.URL + "/img",
	}}}}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImageTaskWritesVerifiesAndReportsProgress(t *testing.T) {
	env := newTestEnv(t)
	content := randomBytes(t, 2<<20)
	srv := newImageServer(t, content, 128<<10, 60*time.Millisecond) // ~1s
	_, c, _ := enrolled(t, env, func(a *Agent) { a.Imager = &imaging.Writer{BufferSize: 64 << 10, Buffers: 2} })

	c.send <- imageTask("img-1", srv, content)
	var progress []time.Time
	var last *pb.TaskProgress
	var res *pb.TaskResult
	for res == nil {
		select {
		case m := <-c.msgs:
			if p := m.GetProgress(); p != nil {
				progress = append(progress, time.Now())
				if last != nil && p.GetDone() < last.GetDone() {
					t.Errorf("progress went backwards: %d after %d", p.GetDone(), last.GetDone())
				}
				last = p
			}
			res = m.GetResult()
		case <-time.After(20 * time.Second):
			t.Fatal("no result")
		}
	}
	if !res.GetOk() || res.GetQuarantine() {
		t.Fatalf("result = %v", res)
	}
	got, err := os.ReadFile(env.disk)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("disk does not hold the image (err %v, %d bytes)", err, len(got))
	}
	var ev imaging.Evidence
	if err := json.Unmarshal([]byte(res.GetEvidenceJson()), &ev); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	if ev.SHA256 != hex.EncodeToString(sum[:]) || ev.ReadBackSHA256 != ev.SHA256 || ev.BytesWritten != int64(len(content)) || ev.Dirty {
		t.Fatalf("evidence = %+v", ev)
	}
	if len(progress) < 2 {
		t.Fatalf("%d progress reports for a ~1s write, want several", len(progress))
	}
	if last.GetId() != "img-1" || last.GetTotal() != 2*uint64(len(content)) {
		t.Fatalf("last progress = %v", last)
	}
	for i := 1; i < len(progress); i++ {
		// Throttled at the source to 250ms; allow for delivery jitter.
		if d := progress[i].Sub(progress[i-1]); d < 150*time.Millisecond {
			t.Fatalf("progress reports %v apart, want at most one per 250ms", d)
		}
	}
}

func TestImageTaskDigestMismatchFails(t *testing.T) {
	env := newTestEnv(t)
	content := randomBytes(t, 256<<10)
	srv := newImageServer(t, content, 0, 0)
	_, c, _ := enrolled(t, env, nil)

	task := imageTask("img-bad", srv, content)
	task.GetImage().GetImage().Sha256 = strings.Repeat("0", 64)
	c.send <- task
	res := c.result(t, "img-bad")
	if res.GetOk() || res.GetQuarantine() || !strings.Contains(res.GetError(), "sha256 mismatch") {
		t.Fatalf("result = %v, want a digest failure without quarantine", res)
	}
	var ev imaging.Evidence
	if err := json.Unmarshal([]byte(res.GetEvidenceJson()), &ev); err != nil || !ev.Dirty {
		t.Fatalf("evidence %q: dirty must be set (err %v)", res.GetEvidenceJson(), err)
	}
}

func TestEraseTaskOverwritesAndVerifies(t *testing.T) {
	env := newTestEnv(t)
	if err := os.WriteFile(env.disk, randomBytes(t, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	_, c, _ := enrolled(t, env, nil)
	c.send <- &pb.AgentTask{Id: "erase-1", Kind: &pb.AgentTask_Erase{Erase: &pb.EraseTask{}}}
	res := c.result(t, "erase-1")
	if !res.GetOk() {
		t.Fatalf("result = %v", res)
	}
	got, _ := os.ReadFile(env.disk)
	if len(got) != 1<<20 || !bytes.Equal(got, make([]byte, 1<<20)) {
		t.Fatal("disk not zeroed")
	}
	var ev erase.Evidence
	if err := json.Unmarshal([]byte(res.GetEvidenceJson()), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Method != erase.MethodOverwrite || ev.Disk.Kind != erase.KindFile || ev.Bytes != 1<<20 || ev.SamplesChecked < 8 {
		t.Fatalf("evidence = %+v", ev)
	}
}

// firmwareSetup puts one adapter at 20.1.1000 and an approved 20.2.2000
// image in the store, and returns the pin for it.
func firmwareSetup(t *testing.T, env *testEnv) *pb.FirmwarePin {
	env.flasher.AddDevice("mlx5_0", firmware.FakeDevice{PSID: "MT_0000000228", Burned: "20.1.1000", Running: "20.1.1000"})
	img := []byte("fw image 20.2.2000 for MT_0000000228")
	digest := env.flasher.AddImage(img, firmware.FakeImage{PSID: "MT_0000000228", Version: "20.2.2000"})
	if err := os.WriteFile(filepath.Join(env.fwDir, "fw-20.2.2000.bin"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	return &pb.FirmwarePin{Psid: "MT_0000000228", Version: "20.2.2000", Sha256: digest, File: "fw-20.2.2000.bin"}
}

func firmwareTask(id string, pins ...*pb.FirmwarePin) *pb.AgentTask {
	return &pb.AgentTask{Id: id, Kind: &pb.AgentTask_Firmware{Firmware: &pb.FirmwareTask{Pins: pins}}}
}

func TestFirmwareTaskDriftIsPinned(t *testing.T) {
	env := newTestEnv(t)
	pin := firmwareSetup(t, env)
	_, c, _ := enrolled(t, env, nil)
	c.send <- firmwareTask("fw-1", pin)
	res := c.result(t, "fw-1")
	if !res.GetOk() || res.GetQuarantine() {
		t.Fatalf("result = %v", res)
	}
	var ev firmwareEvidence
	if err := json.Unmarshal([]byte(res.GetEvidenceJson()), &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Devices) != 1 {
		t.Fatalf("devices = %+v", ev.Devices)
	}
	d := ev.Devices[0]
	if d.Sysfs == nil || d.Sysfs.Status != "drift" || d.Sysfs.Running != "20.1.1000" {
		t.Fatalf("sysfs check = %+v", d.Sysfs)
	}
	if d.Pin.Outcome != firmware.Burned || d.Pin.RunningBefore != "20.1.1000" || d.Pin.RunningAfter != "20.2.2000" || d.Pin.BurnedAfter != "20.2.2000" {
		t.Fatalf("pin evidence = %+v", d.Pin)
	}
	if dev, _ := env.flasher.Device("mlx5_0"); dev.Running != "20.2.2000" {
		t.Fatalf("device runs %s", dev.Running)
	}
}

func TestFirmwareTaskFailedFlashQuarantines(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(*firmware.Fake)
		want    string
	}{
		{"burn fails", func(f *firmware.Fake) {
			f.FailNext(firmware.MethodBurn, errors.New("-E- Burning FS4 image failed: flash write error"))
		}, "burn failed"},
		{"reset does not activate", func(f *firmware.Fake) { f.ResetDoesNotActivate = true }, "after reset"},
		{"unverifiable", func(f *firmware.Fake) { f.FailNext(firmware.MethodQuery, nil, errors.New("device vanished")) }, "unverifiable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			pin := firmwareSetup(t, env)
			tc.breakIt(env.flasher)
			_, c, _ := enrolled(t, env, nil)
			c.send <- firmwareTask("fw-q", pin)
			res := c.result(t, "fw-q")
			if res.GetOk() || !res.GetQuarantine() || !strings.Contains(res.GetError(), tc.want) {
				t.Fatalf("result = %v, want quarantine with %q", res, tc.want)
			}
			var ev firmwareEvidence
			if err := json.Unmarshal([]byte(res.GetEvidenceJson()), &ev); err != nil || len(ev.Devices) != 1 || ev.Devices[0].Pin.RunningBefore != "20.1.1000" {
				t.Fatalf("evidence %s (err %v)", res.GetEvidenceJson(), err)
			}
		})
	}
}

func TestFirmwareTaskBadPinsIsNotQuarantine(t *testing.T) {
	env := newTestEnv(t)
	_, c, _ := enrolled(t, env, nil)
	c.send <- firmwareTask("fw-bad", &pb.FirmwarePin{Psid: "MT_0000000228", Version: "20.2.2000", Sha256: "nope", File: "x"})
	res := c.result(t, "fw-bad")
	if res.GetOk() || res.GetQuarantine() {
		t.Fatalf("result = %v: a malformed task is not the node's fault", res)
	}
}

// countingEraser counts calls and, when gate is set, blocks each call
// until the gate is closed.
type countingEraser struct {
	mu      sync.Mutex
	calls   int
	started chan struct{}
	gate    chan struct{}
}

func (e *countingEraser) Erase(ctx context.Context, d erase.Disk) (erase.Evidence, error) {
	e.mu.Lock()
	e.calls++
	e.mu.Unlock()
	if e.started != nil {
		e.started <- struct{}{}
	}
	if e.gate != nil {
		select {
		case <-e.gate:
		case <-ctx.Done():
			return erase.Evidence{}, ctx.Err()
		}
	}
	return erase.Evidence{Disk: d, Method: erase.MethodFake, Bytes: 42}, nil
}

// waitStarted waits for the next Erase call to begin.
func (e *countingEraser) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-e.started:
	case <-time.After(10 * time.Second):
		t.Fatal("erase did not start within 10s")
	}
}

func (e *countingEraser) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

func TestSameTaskIDRunsOnceAndResendsResult(t *testing.T) {
	env := newTestEnv(t)
	er := &countingEraser{started: make(chan struct{}, 4), gate: make(chan struct{})}
	_, c, _ := enrolled(t, env, func(a *Agent) { a.Eraser = er })
	task := &pb.AgentTask{Id: "erase-7", Kind: &pb.AgentTask_Erase{Erase: &pb.EraseTask{}}}

	c.send <- task
	er.waitStarted(t)
	c.send <- task // while running: ignored, its result follows
	time.Sleep(100 * time.Millisecond)
	close(er.gate)
	first := c.result(t, "erase-7")

	c.send <- task // after done: the stored result, not a second erase
	second := c.result(t, "erase-7")
	if !first.GetOk() || first.GetEvidenceJson() != second.GetEvidenceJson() || first.GetOk() != second.GetOk() {
		t.Fatalf("results differ: %v vs %v", first, second)
	}
	select {
	case m := <-c.msgs:
		if m.GetResult() != nil {
			t.Fatalf("extra result %v", m)
		}
	case <-time.After(200 * time.Millisecond):
	}
	if n := er.count(); n != 1 {
		t.Fatalf("eraser ran %d times, want 1", n)
	}
}

func TestRestartMidImagingRedoesTheTask(t *testing.T) {
	env := newTestEnv(t)
	content := randomBytes(t, 1<<20)
	srv := newImageServer(t, content, 64<<10, 100*time.Millisecond) // ~1.6s
	ca := newTestCA(t)
	fs := startFakeServer(t, ca, fakeOpts{})
	small := func(a *Agent) { a.Imager = &imaging.Writer{BufferSize: 64 << 10, Buffers: 2} }

	a := env.agent(t, []string{fs.addr}, fs.token, ca.pin())
	small(a)
	stop := run(t, a)
	c := fs.nextConn(t)
	c.send <- imageTask("img-r", srv, content)
	// "Kill" the agent once part of the image is on its way.
	deadline := time.Now().Add(10 * time.Second)
	for srv.sent.Load() < 256<<10 {
		if time.Now().After(deadline) {
			t.Fatal("image transfer did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	for {
		select {
		case m := <-c.msgs:
			if m.GetResult() != nil {
				t.Fatalf("interrupted task sent a result: %v", m)
			}
			continue
		default:
		}
		break
	}
	j, warn := openJournal(filepath.Join(env.dataDir, journalFile), 0)
	if warn != nil {
		t.Fatal(warn)
	}
	if e, ok := j.get("img-r"); !ok || e.State != stateStarted {
		t.Fatalf("journal after kill: %+v, %v; want started", e, ok)
	}
	if got, _ := os.ReadFile(env.disk); bytes.Equal(got, content) {
		t.Fatal("the image completed before the kill; the test proves nothing")
	}

	// A new agent on the same data dir; the server resends the task.
	b := env.agent(t, []string{fs.addr}, "", "")
	small(b)
	run(t, b)
	c = fs.nextConn(t)
	c.send <- imageTask("img-r", srv, content)
	res := c.result(t, "img-r")
	if !res.GetOk() {
		t.Fatalf("redo result = %v", res)
	}
	// The run that died is accounted for, for the server's ledger.
	if a, err := model.ParseAnswer([]byte(res.GetAnswerJson())); err != nil || a.Reruns == nil || a.Reruns.Interrupted != 1 ||
		a.Reruns.LastStarted.IsZero() || a.Reruns.Again.Before(a.Reruns.LastStarted) {
		t.Fatalf("redo answer %s (%v): want one interrupted run", res.GetAnswerJson(), err)
	}
	if got, _ := os.ReadFile(env.disk); !bytes.Equal(got, content) {
		t.Fatal("disk does not hold the image after the redo")
	}
	if n := srv.requests.Load(); n < 2 {
		t.Fatalf("%d image requests, want the redo to fetch again", n)
	}
	j, _ = openJournal(filepath.Join(env.dataDir, journalFile), 0)
	if e, _ := j.get("img-r"); e.State != stateDone || e.Runs != 2 || !e.Result.OK {
		t.Fatalf("journal after redo: %+v", e)
	}
}

func TestReconnectAfterStreamDropAndResultResent(t *testing.T) {
	env := newTestEnv(t)
	er := &countingEraser{started: make(chan struct{}, 4), gate: make(chan struct{})}
	fs, c, _ := enrolled(t, env, func(a *Agent) { a.Eraser = er })
	task := &pb.AgentTask{Id: "erase-9", Kind: &pb.AgentTask_Erase{Erase: &pb.EraseTask{}}}
	c.send <- task
	er.waitStarted(t)

	close(c.drop) // the server goes away mid-task
	c2 := fs.nextConn(t)
	if c2.hello.GetNode() != "node001" {
		t.Fatalf("reconnect hello = %v", c2.hello)
	}
	close(er.gate)
	// The new server resends the task it has no result for.
	c2.send <- task
	res := c2.result(t, "erase-9")
	if !res.GetOk() {
		t.Fatalf("result = %v", res)
	}
	if n := er.count(); n != 1 {
		t.Fatalf("eraser ran %d times across the reconnect, want 1", n)
	}
}

func TestWrongClientCertRefused(t *testing.T) {
	env := newTestEnv(t)
	ca := newTestCA(t)
	fs := startFakeServer(t, ca, fakeOpts{})
	a := env.agent(t, []string{fs.addr}, fs.token, ca.pin())
	stop := run(t, a)
	fs.nextConn(t)
	stop()

	id, ok, err := loadIdentity(env.dataDir, "node001")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A listener that requires client certificates from another CA: the
	// TLS handshake rejects the node.
	strict := startFakeServer(t, ca, fakeOpts{clientCA: newTestCA(t)})
	_, err = a.session(ctx, strict.addr, id)
	var r *RefusedError
	if !errors.As(err, &r) {
		t.Fatalf("session on a listener that rejects the cert: %v, want *RefusedError", err)
	}

	// A revoked node is refused by the service.
	fs.revoke("node001")
	_, err = a.session(ctx, fs.addr, id)
	if !errors.As(err, &r) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("session as a revoked node: %v, want *RefusedError", err)
	}

	// A server whose certificate is from another CA is not trusted.
	impostor := startFakeServer(t, newTestCA(t), fakeOpts{})
	_, err = a.session(ctx, impostor.addr, id)
	if err == nil || errors.As(err, &r) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("session with an impostor server: %v", err)
	}
}

func TestRevokedAgentKeepsRetryingSlowly(t *testing.T) {
	env := newTestEnv(t)
	ca := newTestCA(t)
	fs := startFakeServer(t, ca, fakeOpts{})
	a := env.agent(t, []string{fs.addr}, fs.token, ca.pin())
	stop := run(t, a)
	fs.nextConn(t)
	stop()
	fs.revoke("node001")

	b := env.agent(t, []string{fs.addr}, "", "")
	b.Config.RefusedRetry = 300 * time.Millisecond
	stop = run(t, b)
	time.Sleep(time.Second)
	stop() // still running (no exit), and returns cleanly
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.accepted != 1 {
		t.Fatalf("accepted %d streams, want only the one before revocation", fs.accepted)
	}
	// About 1s / 300ms refused attempts: retried, but not hammered.
	if refused := fs.attempts - fs.accepted; refused < 2 || refused > 6 {
		t.Fatalf("%d refused attempts in 1s with RefusedRetry 300ms", refused)
	}
}

func TestUnknownTaskKindFails(t *testing.T) {
	env := newTestEnv(t)
	_, c, _ := enrolled(t, env, nil)
	c.send <- &pb.AgentTask{Id: "mystery"}
	res := c.result(t, "mystery")
	if res.GetOk() || !strings.Contains(res.GetError(), "not supported") {
		t.Fatalf("result = %v", res)
	}
}

func ExamplePinCA() {
	// ibexd prints this next to a join token; operators pass it to
	// ibex-agent --ca-pin.
	fmt.Println(strings.HasPrefix(PinOf([]byte("DER bytes")).String(), "sha256:"))
	// Output: true
}
