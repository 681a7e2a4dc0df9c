package localexec

import (
	"bufio"
	"strings"
	"testing"
)

func TestCgroup2MountIn(t *testing.T) {
	hybrid := `25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
`
	if got, err := cgroup2MountIn(bufio.NewScanner(strings.NewReader(hybrid))); err != nil || got != "/sys/fs/cgroup/unified" {
		t.Fatalf("hybrid: %q %v", got, err)
	}
	unified := `30 1 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	if got, err := cgroup2MountIn(bufio.NewScanner(strings.NewReader(unified))); err != nil || got != "/sys/fs/cgroup" {
		t.Fatalf("unified: %q %v", got, err)
	}
	if _, err := cgroup2MountIn(bufio.NewScanner(strings.NewReader("1 0 0:1 / / rw - ext4 /dev/sda rw\n"))); err == nil {
		t.Fatal("no cgroup2: no error")
	}
	if got := unescapeMount(`/mnt/with\040space`); got != "/mnt/with space" {
		t.Fatalf("unescape: %q", got)
	}
}

func FuzzCgroup2MountIn(f *testing.F) {
	f.Add("26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = cgroup2MountIn(bufio.NewScanner(strings.NewReader(s)))
	})
}
