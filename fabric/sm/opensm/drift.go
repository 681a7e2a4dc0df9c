package opensm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// Drift of partitions.conf: anyone who can write the file and signal
// OpenSM can change every tenant's partition without ibex. Apply repairs
// that eventually, but only when it runs; CheckFile lets a watcher compare
// the file with what Apply last installed several times a second, so a
// tampered file is rewritten before or right after OpenSM acts on it.

// maxConfFile bounds what CheckFile reads.
const maxConfFile = 64 << 20

// FileDrift is a partitions.conf that is not the one Apply installed.
type FileDrift struct {
	// Found is the file's tenant partitions as OpenSM would read them, nil
	// when ParseErr is set.
	Found []sm.Partition
	// ParseErr: the file does not parse; OpenSM may then fall back to its
	// default, every port a full member of the default partition.
	ParseErr error
	// Installed is what Apply installed, parsed.
	Installed []sm.Partition
	Size      int
}

func (f *FileDrift) String() string {
	if f.ParseErr != nil {
		return fmt.Sprintf("partitions file (%d bytes) replaced by one that does not parse: %v", f.Size, f.ParseErr)
	}
	return fmt.Sprintf("partitions file (%d bytes) replaced: %d tenant partitions in it, %d installed", f.Size, len(f.Found), len(f.Installed))
}

// CheckFile compares the partitions file with what Apply last installed.
// It returns nil when they are the same or nothing was installed yet.
func (d *Driver) CheckFile() (*FileDrift, error) {
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	if d.installed == nil {
		return nil, nil
	}
	f, err := os.Open(d.cfg.PartitionsFile)
	var got []byte
	if err == nil {
		got, err = io.ReadAll(io.LimitReader(f, maxConfFile+1))
		f.Close()
	}
	if errors.Is(err, os.ErrNotExist) {
		got, err = nil, nil // removed: OpenSM's next sweep runs without it
	}
	if err != nil {
		return nil, fmt.Errorf("opensm: read %s: %w", d.cfg.PartitionsFile, err)
	}
	if bytes.Equal(got, d.installed) {
		return nil, nil
	}
	drift := &FileDrift{Size: len(got)}
	if inst, err := Parse(d.installed).Partitions(); err == nil {
		drift.Installed = inst
	}
	pf := Parse(got)
	switch {
	case len(got) > maxConfFile:
		drift.ParseErr = fmt.Errorf("larger than %d bytes", maxConfFile)
	case len(got) == 0:
		drift.ParseErr = errors.New("empty or removed")
	case pf.Err(Error) != nil:
		drift.ParseErr = pf.Err(Error)
	default:
		drift.Found, drift.ParseErr = pf.Partitions()
		if drift.ParseErr != nil {
			drift.Found = nil
		}
	}
	return drift, nil
}
