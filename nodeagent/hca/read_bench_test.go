package hca

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkHasPKey reads a node's P_Key table the way an agent does before
// every job start (jobs.go waitPKey): one active InfiniBand port with a
// 32-slot table, the size simnode writes.
func BenchmarkHasPKey(b *testing.B) {
	files := map[string]string{
		"mlx5_0/ports/1/state":      "4: ACTIVE\n",
		"mlx5_0/ports/1/link_layer": "InfiniBand\n",
		"mlx5_0/ports/1/gids/0":     "fe80:0000:0000:0000:043f:7203:00f0:4c46\n",
	}
	for i := range 32 {
		files[fmt.Sprintf("mlx5_0/ports/1/pkeys/%d", i)] = "0x0000\n"
	}
	files["mlx5_0/ports/1/pkeys/0"] = "0xffff\n"
	files["mlx5_0/ports/1/pkeys/1"] = "0x8001\n"
	root := b.TempDir()
	for p, c := range files {
		full := filepath.Join(root, ClassDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	s := NewScanner(root)
	b.ReportAllocs()
	for b.Loop() {
		if ports, missing, err := s.HasPKey(0x8001); err != nil || len(ports) != 1 || len(missing) != 0 {
			b.Fatal(ports, missing, err)
		}
	}
}
