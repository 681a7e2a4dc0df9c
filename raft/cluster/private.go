package cluster

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// The raft log and snapshots hold every secret of the cluster state (the
// CA key among them), so nothing under the data directory may be readable
// by other users, whatever the directory's mode was before ibexd started
// and whatever modes the libraries create files with (hashicorp/raft's
// file snapshots are 0644 in 0755 directories).

// PrivateDir creates dir (and parents) and forces its mode to 0700: an
// existing directory made 0755 by hand is tightened, not trusted.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make %s private: %w", dir, err)
	}
	return nil
}

// tighten makes every directory under root 0700 and every file 0600.
func tighten(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o600)
		if d.IsDir() {
			mode = 0o700
		}
		if info, err := d.Info(); err == nil && info.Mode().Perm() == mode {
			return nil
		}
		return os.Chmod(p, mode)
	})
}

// privateSnapshots is a snapshot store whose snapshots are private once
// written.
type privateSnapshots struct {
	raft.SnapshotStore
	dir string
}

func (s privateSnapshots) Create(version raft.SnapshotVersion, index, term uint64, c raft.Configuration, ci uint64, t raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.SnapshotStore.Create(version, index, term, c, ci, t)
	if err != nil {
		return nil, err
	}
	return privateSink{SnapshotSink: sink, dir: s.dir}, nil
}

type privateSink struct {
	raft.SnapshotSink
	dir string
}

// Close finishes the snapshot, then tightens the snapshot directory (the
// finished snapshot was renamed into place with the library's modes).
func (s privateSink) Close() error {
	if err := s.SnapshotSink.Close(); err != nil {
		return err
	}
	return tighten(s.dir)
}
