package ibsim

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// TestSupervisorRestartsOpenSM: an OpenSM killed with SIGKILL is started
// again, and the fabric answers through it; a StopSM is left alone.
func TestSupervisorRestartsOpenSM(t *testing.T) {
	f := StartForTest(t, Config{Topology: Topology{Spines: 1, Leaves: 1, HostsPerLeaf: 2}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Supervise(ctx, t.Logf); close(done) }()
	defer func() { cancel(); <-done }()
	old := f.SMPID()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a new opensm", 90*time.Second, func() bool {
		pid := f.SMPID()
		return pid != 0 && pid != old && f.SMRestarts() == 1
	})
	guid := sm.GUID(f.Hosts()[0].PortGUID)
	tables, err := f.Tables(context.Background(), []sm.GUID{guid})
	if err != nil || len(tables[guid]) == 0 {
		t.Fatalf("after the restart: %v %v", tables, err)
	}
	if err := f.StopSM(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * smBackoffMin) // a supervisor that restarted it would have by now
	if f.SMPID() != 0 || f.SMRestarts() != 1 {
		t.Fatalf("a deliberate stop was undone: pid %d, %d restarts", f.SMPID(), f.SMRestarts())
	}
}

// TestNoOrphanAfterKill9: the process that runs a fabric (ibexd, here a
// child of the test) is killed with SIGKILL; its ibsim and OpenSM die
// with it (dieWithParent) instead of living on as orphans.
func TestNoOrphanAfterKill9(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("SKIP (no simulated fabric): %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFabricChild$", "-test.v")
	cmd.Env = append(os.Environ(), "IBEX_IBSIM_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var simPID, smPID int
	var dir string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "FABRIC sim=%d sm=%d dir=%s", &simPID, &smPID, &dir); err == nil {
			break
		}
	}
	if simPID == 0 || smPID == 0 {
		t.Fatalf("the child did not report its fabric (%v)", sc.Err())
	}
	defer os.RemoveAll(dir)
	go func() {
		for sc.Scan() {
		}
	}()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitUntil(t, "ibsim and opensm to die with their parent", 20*time.Second, func() bool {
		return gone(simPID) && gone(smPID)
	})
}

// TestFabricChild is the process TestNoOrphanAfterKill9 kills: it starts
// a supervised fabric, says which processes it runs, and waits.
func TestFabricChild(t *testing.T) {
	if os.Getenv("IBEX_IBSIM_CHILD") != "1" {
		t.Skip("run by TestNoOrphanAfterKill9")
	}
	f, err := Start(context.Background(), Config{Topology: Topology{Spines: 1, Leaves: 1, HostsPerLeaf: 2}})
	if err != nil {
		t.Fatal(err)
	}
	go f.Supervise(context.Background(), func(string, ...any) {})
	fmt.Printf("FABRIC sim=%d sm=%d dir=%s\n", f.SimPID(), f.SMPID(), f.Dir)
	select {}
}

// gone reports whether pid has exited (a zombie has: the reaper of
// orphans may be slow or absent in a container).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] == "Z"
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
