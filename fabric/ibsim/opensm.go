package ibsim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// writeOpenSMConf dumps opensm's defaults ("opensm -c") and points
// every file it writes into the fabric directory. force_log_flush
// matters: without it "SUBNET UP" reaches the log late.
func (f *Fabric) writeOpenSMConf(ctx context.Context) error {
	tmpl := filepath.Join(f.Dir, "opensm.conf.defaults")
	cmd := exec.CommandContext(ctx, f.osmBin, "-c", tmpl)
	cmd.Dir = filepath.Join(f.Dir, "scratch")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ibsim: opensm -c: %v: %s", err, out)
	}
	def, err := os.ReadFile(tmpl)
	if err != nil {
		return err
	}
	sweep := f.cfg.SweepInterval
	if sweep == 0 {
		sweep = 10
	}
	set := map[string]string{
		"log_file":              f.OpenSMLog,
		"dump_files_dir":        filepath.Join(f.Dir, "cache") + "/",
		"partition_config_file": f.PartitionsFile,
		"force_log_flush":       "TRUE",
		"sweep_interval":        fmt.Sprint(sweep),
		"daemon":                "FALSE",
		"console":               "off",
	}
	if f.cfg.LMC > 0 {
		set["lmc"] = fmt.Sprint(f.cfg.LMC)
	}
	if f.cfg.FileRouting {
		set["routing_engine"] = "file"
		set["lfts_file"] = f.LFTsFile
	}
	out, err := setOptions(def, set)
	if err != nil {
		return err
	}
	return os.WriteFile(f.OpenSMConf, out, 0o644)
}

// setOptions rewrites "key value" lines of an opensm.conf; a key that
// the template lacks is an error, so a renamed option cannot be lost
// silently.
func setOptions(conf []byte, set map[string]string) ([]byte, error) {
	var b bytes.Buffer
	done := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		line := sc.Text()
		if k, _, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(k, "#") {
			if v, want := set[k]; want {
				line = k + " " + v
				done[k] = true
			}
		}
		b.WriteString(line + "\n")
	}
	var missing []string
	for k := range set {
		if !done[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ibsim: opensm -c template lacks %v", missing)
	}
	return b.Bytes(), sc.Err()
}

// Env is the environment that attaches a libibumad program to this
// fabric at the SM node.
func (f *Fabric) Env() []string {
	return append(os.Environ(),
		"LD_PRELOAD="+f.umad,
		"IBSIM_SOCKNAME="+f.SockName,
		"SIM_HOST="+smName,
		"OSM_CACHE_DIR="+filepath.Join(f.Dir, "cache"),
		"OSM_TMP_DIR="+filepath.Join(f.Dir, "cache"),
	)
}

// StartSM starts opensm under umad2sim and waits for SUBNET UP.
// Started directly (not through a shell) so the PID we signal is
// opensm's.
func (f *Fabric) StartSM(ctx context.Context) error {
	f.smMu.Lock()
	defer f.smMu.Unlock()
	if f.sm != nil && !f.sm.exited() {
		return errors.New("ibsim: opensm already running")
	}
	off := fileSize(f.OpenSMLog)
	out, err := os.OpenFile(filepath.Join(f.Dir, "opensm.stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(f.osmBin, "-F", f.OpenSMConf)
	cmd.Dir = filepath.Join(f.Dir, "scratch")
	cmd.Env = f.Env()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = dieWithParent()
	p, err := startProc(cmd)
	if err != nil {
		return fmt.Errorf("ibsim: opensm: %w", err)
	}
	f.sm = p
	return f.waitLog(ctx, off, "SUBNET UP", p)
}

// StopSM sends SIGTERM to opensm and waits for it to exit (1-2 s): a
// clean exit releases its ibsim client slot, a SIGKILL would not.
func (f *Fabric) StopSM() error {
	f.smMu.Lock()
	defer f.smMu.Unlock()
	if f.sm == nil {
		return nil
	}
	err := f.sm.stop(syscall.SIGTERM, 15*time.Second)
	f.sm = nil
	return err
}

// RestartSM stops and starts opensm (it re-reads partitions.conf).
func (f *Fabric) RestartSM(ctx context.Context) error {
	if err := f.StopSM(); err != nil {
		return err
	}
	return f.StartSM(ctx)
}

// ReloadSM sends SIGHUP: opensm re-reads partitions.conf and runs a
// heavy sweep that reprograms the P_Key tables.
func (f *Fabric) ReloadSM() error {
	f.smMu.Lock()
	defer f.smMu.Unlock()
	if f.sm == nil || f.sm.exited() {
		return errors.New("ibsim: opensm is not running")
	}
	return f.sm.cmd.Process.Signal(syscall.SIGHUP)
}

// SMPID returns opensm's PID, or 0 when it is not running.
func (f *Fabric) SMPID() int {
	f.smMu.Lock()
	defer f.smMu.Unlock()
	if f.sm == nil || f.sm.exited() {
		return 0
	}
	return f.sm.cmd.Process.Pid
}

// LogOffset is the current size of opensm's log; pass it to WaitLog
// to wait for a line written after now.
func (f *Fabric) LogOffset() int64 { return fileSize(f.OpenSMLog) }

// WaitLog waits until opensm's log, past offset, contains substr
// (e.g. "SUBNET UP" after a SIGHUP).
func (f *Fabric) WaitLog(ctx context.Context, offset int64, substr string) error {
	f.smMu.Lock()
	p := f.sm
	f.smMu.Unlock()
	return f.waitLog(ctx, offset, substr, p)
}

func (f *Fabric) waitLog(ctx context.Context, off int64, substr string, p *proc) error {
	return f.poll(ctx, "opensm "+substr, func() (bool, error) {
		b, err := readFrom(f.OpenSMLog, off)
		if err == nil && bytes.Contains(b, []byte(substr)) {
			return true, nil
		}
		if p != nil && p.exited() {
			return false, fmt.Errorf("opensm exited: %v: %s", p.err, tail(filepath.Join(f.Dir, "opensm.stdout")))
		}
		return false, nil
	})
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func readFrom(path string, off int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	if _, err := fh.Seek(off, 0); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	_, err = b.ReadFrom(fh)
	return b.Bytes(), err
}
