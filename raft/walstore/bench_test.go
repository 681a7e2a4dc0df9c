package walstore

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// BenchmarkStoreLogs appends batches of 64 small entries, the shape raft
// writes under load with BatchApplyCh, to walstore and to raft-boltdb in
// temp directories on the same disk. Both sync every batch, so ns/op is
// dominated by fsync latency: one fdatasync here, two fsyncs in bbolt.
func BenchmarkStoreLogs(b *testing.B) {
	const batch = 64
	stores := []struct {
		name string
		open func(b *testing.B) raft.LogStore
	}{
		{"walstore", func(b *testing.B) raft.LogStore {
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"boltdb", func(b *testing.B) raft.LogStore {
			s, err := raftboltdb.NewBoltStore(filepath.Join(b.TempDir(), "raft.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	}
	for _, st := range stores {
		b.Run(fmt.Sprintf("%s/batch=%d", st.name, batch), func(b *testing.B) {
			s := st.open(b)
			data := make([]byte, 128)
			logs := make([]*raft.Log, batch)
			now := time.Now()
			next := uint64(1)
			b.SetBytes(int64(batch * len(data)))
			b.ResetTimer()
			for range b.N {
				for i := range logs {
					logs[i] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: now}
					next++
				}
				if err := s.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/entry")
			if ws, ok := s.(*Store); ok {
				b.ReportMetric(float64(ws.syncs.data.Load()+ws.syncs.dir.Load())/float64(b.N), "fsyncs/op")
			}
		})
	}
}

// BenchmarkGetLog reads back entries that fell out of the cache: one pread
// and a CRC check each.
func BenchmarkGetLog(b *testing.B) {
	s, err := Open(b.TempDir(), Options{CacheSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	appendRange(b, s, 1, 4096, 1, 256)
	var l raft.Log
	b.ResetTimer()
	for i := range b.N {
		if err := s.GetLog(uint64(i%4096)+1, &l); err != nil {
			b.Fatal(err)
		}
	}
}
