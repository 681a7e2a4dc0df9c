package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/internal/execrun"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
)

// procMachine is a simulated machine whose power is a Redfish mock BMC and
// whose operating system is a real ibex-agent process: powered off, the
// process is killed (SIGKILL: a power cut, no goodbye); booted, a new one
// starts, in its deploy ramdisk (--boot-mode ramdisk) when the BMC's
// one-time boot was the network or virtual media, else from its disk.
type procMachine struct {
	t      *testing.T
	argv   []string
	env    []string
	record string

	mu    sync.Mutex
	cmd   *exec.Cmd
	log   *execrun.Buffer
	boots []string // the mode of every boot, in order
}

func (m *procMachine) power(c redfishmock.PowerChange) {
	switch {
	case c.After == "Off":
		m.off()
	case c.Boots && c.After == "On":
		mode := "disk"
		switch c.BootTarget {
		case "Pxe", "UefiHttp", "Cd", "Usb":
			mode = "ramdisk"
		}
		m.boot(mode)
	}
}

func (m *procMachine) off() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		execrun.Stop(m.cmd, syscall.SIGKILL, time.Minute)
		m.cmd = nil
	}
}

func (m *procMachine) boot(mode string) {
	m.off()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = &execrun.Buffer{}
	m.cmd = exec.Command(m.argv[0], append(m.argv[1:], "--boot-mode", mode, "--boot-record", m.record)...)
	m.cmd.Env = m.env
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Errorf("boot %s: %v", mode, err)
		m.cmd = nil
		return
	}
	m.boots = append(m.boots, mode)
}

func (m *procMachine) state() (boots []string, log string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.log != nil {
		log = m.log.String()
	}
	return append([]string(nil), m.boots...), log
}

// slowFile serves a file at about rate bytes a second, so that an image
// task lasts long enough to kill the leader during it.
func slowFile(path string, rate int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		const chunk = 32 << 10
		for off := 0; off < len(b); off += chunk {
			if _, err := w.Write(b[off:min(off+chunk, len(b))]); err != nil {
				return
			}
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			time.Sleep(time.Second * chunk / time.Duration(rate))
		}
	})
}

// TestSimBMCLeaderKilledMidDeploy: three real ibexd servers; node001 is a
// real ibex-agent process whose power is a Redfish mock BMC registered
// with `ibex nodes bmc set`. A job with its own image is deployed on it
// through the BMC, and the leader is killed with SIGKILL while the
// ramdisk's agent writes the image. The new leader carries on from the
// replicated record (no second power cycle into the ramdisk, the same
// image task): the node boots the image from disk, checks in with its
// digest, runs the job, is cleaned, and ends available.
func TestSimBMCLeaderKilledMidDeploy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o711) // jobs run as nobody
	}
	simhca, _ := filepath.Abs("../testdata/simhca")
	fwDir := filepath.Join(dir, "firmware")
	os.MkdirAll(fwDir, 0o755)
	fw := filepath.Join(fwDir, "fw-"+simnode.ShippedFirmware+".bin")
	os.WriteFile(fw, []byte("FW Version: "+simnode.ShippedFirmware+"\nPSID: "+simnode.PSID+"\n"), 0o644)
	policy := filepath.Join(dir, "firmware.json")
	os.WriteFile(policy, []byte(fmt.Sprintf(`[{"psid":%q,"version":%q,"sha256":%q,"file":%q}]`,
		simnode.PSID, simnode.ShippedFirmware, fileSHA(t, fw), filepath.Base(fw))), 0o644)
	key := make([]byte, 32)
	rand.Read(key)
	keyFile := filepath.Join(dir, "secrets.key")
	os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
	sysfs := filepath.Join(dir, "sysfs")

	const servers = 3
	var agentSrv, gossip []string
	for range servers {
		agentSrv = append(agentSrv, testcluster.FreeAddr(t))
		gossip = append(gossip, testcluster.FreeAddr(t))
	}
	each := func(i int) []string {
		args := []string{"--agent-listen", agentSrv[i], "--gossip-bind", gossip[i]}
		for j, g := range gossip {
			if j != i {
				args = append(args, "--gossip-seed", g)
			}
		}
		return args
	}
	c := testcluster.StartOn(t, binDir, servers, "127.0.0.1", 2, each,
		"--sim-agents=false", "--sim-sysfs", sysfs, "--fabric", "sim", "--leaves", "1", "--nodes-per-leaf", "2",
		"--firmware-policy", policy, "--secrets-key-file", keyFile, "--gossip-probe-interval", "200ms", "--log-level", "info")
	cfgHome := t.TempDir()
	ibex := func(args ...string) (string, string, int) {
		var addrs []string
		for _, s := range c.Live() {
			addrs = append(addrs, s.API)
		}
		cmd := exec.Command(filepath.Join(binDir, "ibex"), args...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+cfgHome, "IBEX_ADDR="+strings.Join(addrs, ","), "IBEX_TOKEN="+c.Token, "IBEX_CA_PIN="+c.CAPin())
		out, errb, err := execrun.Output(cmd)
		code, ran := execrun.ExitCode(err)
		if !ran {
			t.Fatal(err)
		}
		return string(out), string(errb), code
	}
	must := func(args ...string) string {
		t.Helper()
		out, errs, code := ibex(args...)
		if code != 0 {
			t.Fatalf("ibex %s: exit %d: %s", strings.Join(args, " "), code, errs)
		}
		return out
	}

	// node001: an agent process on a disk file, its HCA behind the
	// simulated mstflint, its sysfs the one ibexd --sim-sysfs keeps.
	const node = "node001"
	ndir := filepath.Join(dir, node)
	os.MkdirAll(filepath.Join(ndir, "hca"), 0o755)
	os.Chmod(ndir, 0o711)
	os.WriteFile(filepath.Join(ndir, "disk"), make([]byte, 4<<20), 0o600)
	for _, f := range []string{simnode.HCAName + ".burned", simnode.HCAName + ".running"} {
		os.WriteFile(filepath.Join(ndir, "hca", f), []byte(simnode.ShippedFirmware+"\n"), 0o644)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(must("agent", "token", node), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	m := &procMachine{t: t, record: filepath.Join(ndir, "boot-record.json"),
		argv: []string{filepath.Join(binDir, "ibex-agent"), "--node", node, "--server", strings.Join(agentSrv, ","),
			"--data-dir", filepath.Join(ndir, "agent"), "--job-root", filepath.Join(ndir, "jobs"),
			"--cgroup", agentCgroup(t, node), "--sweep-job-user=false",
			"--sysfs-root", filepath.Join(sysfs, node), "--disk", filepath.Join(ndir, "disk"), "--disk-kind", "file",
			"--device", simnode.HCAName, "--mstflint", filepath.Join(simhca, "mstflint"), "--firmware-dir", fwDir,
			"--gossip-bind", testcluster.FreeAddr(t), "--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms",
			"--join-token", fields["token"], "--ca-pin", fields["ca-pin"]},
		env: append(os.Environ(), "IBEX_SIM_HCA_DIR="+filepath.Join(ndir, "hca"), "IBEX_SIM_PSID="+simnode.PSID,
			"PATH="+simhca+":"+os.Getenv("PATH"))}
	t.Cleanup(m.off)
	diag := func() string {
		boots, log := m.state()
		if len(log) > 4000 {
			log = log[len(log)-4000:]
		}
		out, _, _ := ibex("nodes", "history", node)
		return fmt.Sprintf("boots %v\n%s\n--- agent ---\n%s\n--- servers ---\n%s", boots, out, log, c.Logs())
	}
	m.boot("disk") // the machine is on, running whatever its disk holds

	password := "sim-bmc-" + base64.RawURLEncoding.EncodeToString(key[:9])
	mock, err := redfishmock.New("../testdata/redfish/handwritten/vmedia-server", redfishmock.Options{Username: "ibex", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	mock.OnPower(m.power)
	bmcSrv := httptest.NewServer(mock)
	defer bmcSrv.Close()
	creds := filepath.Join(dir, "bmc.json")
	os.WriteFile(creds, []byte(`{"username":"ibex","password":"`+password+`"}`), 0o600)
	waitFor(t, node+" enrolled and connected", 60*time.Second, func() (bool, string) {
		out, _, _ := ibex("nodes", "show", node)
		return strings.Contains(out, "connected") && strings.Contains(out, "ready"), out + diag()
	})
	must("nodes", "bmc", "set", node, "--endpoint", bmcSrv.URL, "--credentials-file", creds)
	show := func() string { out, errs, _ := ibex("nodes", "show", node); return out + errs }
	waitFor(t, node+" inspected and available", 60*time.Second, func() (bool, string) {
		out := show()
		return strings.Contains(out, "Provisioning:  available"), out + diag()
	})

	img := filepath.Join(dir, "alma.img")
	b := make([]byte, 2<<20)
	rand.Read(b)
	os.WriteFile(img, b, 0o644)
	sha := fileSHA(t, img)
	imgSrv := httptest.NewServer(slowFile(img, 512<<10)) // about 4 s
	defer imgSrv.Close()
	must("images", "add", "alma:8", "--sha256", sha, "--size", fmt.Sprint(len(b)), "--url", imgSrv.URL+"/alma.img")

	id := jobID(t, must("submit", "-N", "1", "-t", "2m", "--image", "alma:8", "--", "echo", "deployed"))
	waitFor(t, node+" writing the image in its ramdisk", 60*time.Second, func() (bool, string) {
		out := show()
		return strings.Contains(out, "Provisioning:  deploying (step image)"), out + diag()
	})
	old := c.Leader()
	c.Kill(old, syscall.SIGKILL)
	leader := c.Leader()
	t.Logf("leader %s killed while %s wrote its image; %s leads", old.ID, node, leader.ID)

	waitFor(t, "job "+id+" completed after the failover", 90*time.Second, func() (bool, string) {
		out, errs, _ := ibex("show", id)
		return strings.Contains(out, "completed"), out + errs + diag()
	})
	waitFor(t, node+" cleaned and available again", 60*time.Second, func() (bool, string) {
		out := show()
		return strings.Contains(out, "Provisioning:  available"), out + diag()
	})
	h := must("nodes", "history", node)
	if n := strings.Count(h, "one-time boot Pxe"); n != 1 {
		t.Fatalf("%d power cycles into the ramdisk, want 1: the new leader started the deployment over\n%s", n, diag())
	}
	if n := strings.Count(h, "provision:deploy "); n != 1 {
		t.Fatalf("%d deployments, want 1\n%s", n, diag())
	}
	for _, s := range []string{"booted into the deploy ramdisk", "image alma:8 written and its digest verified",
		"booted from disk, running image alma:8 with digest sha256:" + sha, "stop of job " + id} {
		if !strings.Contains(h, s) {
			t.Fatalf("history lacks %q\n%s", s, diag())
		}
	}
	if boots, _ := m.state(); strings.Join(boots, ",") != "disk,ramdisk,disk" {
		t.Fatalf("the machine booted %v, want disk,ramdisk,disk", boots)
	}
	if out := must("logs", id); !strings.Contains(out, "deployed") {
		t.Fatalf("job output: %s", out)
	}
}
