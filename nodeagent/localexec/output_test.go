package localexec

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

func TestReadOutput(t *testing.T) {
	r := mustRunner(t, t.TempDir(), Options{})
	if data, size, err := r.ReadOutput(1, "n1", 0, 100); err != nil || data != nil || size != 0 {
		t.Fatalf("before start: %q %d %v", data, size, err)
	}
	// 1.5 MiB of numbered lines: more than one read may return.
	const total = 3 << 19
	script := "seq -f %07g 0 " + strconv.Itoa(total/8-1) + "\n"
	if err := r.Start(Task{JobID: 1, Node: "n1", Nodes: []string{"n1"}, Script: script}); err != nil {
		t.Fatal(err)
	}
	if st := waitPhase(t, r, 1, "n1", Exited); st.OutputBytes != total {
		t.Fatalf("status %+v, want %d output bytes", st, total)
	}
	var all bytes.Buffer
	var reads int
	for off := int64(0); ; reads++ {
		data, size, err := r.ReadOutput(1, "n1", off, 8<<20)
		if err != nil || size != total || len(data) > MaxReadOutput {
			t.Fatalf("read at %d: %d bytes, size %d, %v", off, len(data), size, err)
		}
		if len(data) == 0 {
			break
		}
		all.Write(data)
		off += int64(len(data))
	}
	if reads != 2 || all.Len() != total || !strings.HasPrefix(all.String(), "0000000\n") || !strings.HasSuffix(all.String(), "0196607\n") {
		t.Fatalf("%d reads, %d bytes", reads, all.Len())
	}
	if data, _, err := r.ReadOutput(1, "n1", 8, 8); err != nil || string(data) != "0000001\n" {
		t.Fatalf("read at 8: %q, %v", data, err)
	}
	if data, size, err := r.ReadOutput(1, "n1", total+10, 8); err != nil || len(data) != 0 || size != total {
		t.Fatalf("read past the end: %q %d %v", data, size, err)
	}
	if _, _, err := r.ReadOutput(1, "n1", -1, 8); err == nil || !strings.Contains(err.Error(), "negative offset") {
		t.Fatalf("negative offset: %v", err)
	}
	if _, _, err := r.ReadOutput(1, "n1", 0, -1); err == nil {
		t.Fatal("negative length accepted")
	}
}

func FuzzParseKeyed(f *testing.F) {
	for _, s := range []string{"usage_usec 120\nuser_usec 100\nsystem_usec 20\n", "populated 1\nfrozen 0\n", "a 1\na 2\n", "x\n", "k 18446744073709551616", "k -1", "k +1", "k 007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseKeyed([]byte(s))
		if err != nil {
			return
		}
		var b strings.Builder
		for k, v := range m {
			if k == "" || strings.ContainsAny(k, " \n") {
				t.Fatalf("%q: accepted key %q", s, k)
			}
			b.WriteString(k + " " + strconv.FormatUint(v, 10) + "\n")
		}
		back, err := parseKeyed([]byte(b.String()))
		if err != nil || len(back) != len(m) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, m, b.String(), back, err)
		}
		for k, v := range m {
			if back[k] != v {
				t.Fatalf("%q: %s %d came back %d", s, k, v, back[k])
			}
		}
	})
}

func FuzzParsePids(f *testing.F) {
	for _, s := range []string{"1\n22\n333\n", "", "0\n", "-4\n", "12 13\n", "99999999999999999999\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pids, err := parsePids([]byte(s))
		if err != nil {
			return
		}
		for _, p := range pids {
			if p <= 0 {
				t.Fatalf("%q: accepted pid %d", s, p)
			}
		}
	})
}

// TestAccountingErrorDoesNotFailStatus: a job whose accounting cannot be
// read still ends; the reason is in the status.
func TestAccountingErrorDoesNotFailStatus(t *testing.T) {
	r := mustRunner(t, t.TempDir(), Options{})
	if err := r.Start(Task{JobID: 1, Node: "n1", Nodes: []string{"n1"}, Argv: []string{"sh", "-c", "exit 3"}}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, r, 1, "n1", Exited)
	if err := writeAtomic(r.file(1, "n1", "acct"), []byte("cpu_usec lots\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := r.Status(1, "n1")
	if err != nil || st.Phase != Exited || st.ExitCode != 3 || !strings.Contains(st.AccountingError, "n1.acct") {
		t.Fatalf("status %+v, %v", st, err)
	}
}
