package simnode

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// Trees is the fake sysfs of simulated hosts whose agents run outside
// this process: ibex-agent processes given --sysfs-root Root/<name>, as
// the multi-host test runs them in network namespaces. Each tree holds
// the host's HCA with the port GUIDs the simulated fabric gives it, like
// a Node's; wrapped in a Mirror, the trees' P_Key tables follow the
// subnet manager, so those agents' own P_Key check reads what the SM
// read back.
//
// Several servers of one cluster may share Root: each opens the trees
// (a tree that exists is kept, not rebuilt: a server restarting while a
// job runs must not wipe that job's key), and only the leader's Mirror
// writes. Every write rewrites the port's whole table, since another
// server may have written it since this one last did.
type Trees struct {
	Root   string
	byPort map[sm.GUID]*sysfs
}

var _ PKeyWriter = (*Trees)(nil)

// NewTrees opens or creates the trees of specs under root. LIDs are given
// in order from 2, as NewFleet gives them.
func NewTrees(root string, specs []Spec) (*Trees, error) {
	if root == "" {
		return nil, fmt.Errorf("simnode: no directory for the hosts' sysfs trees")
	}
	t := &Trees{Root: root, byPort: map[sm.GUID]*sysfs{}}
	unlock, err := lockTrees(root)
	if err != nil {
		return nil, err
	}
	defer unlock()
	lid := uint16(2)
	for _, s := range specs {
		if s.Name == "" || !filepath.IsLocal(s.Name) || strings.ContainsRune(s.Name, '/') {
			return nil, fmt.Errorf("simnode: host name %q cannot name a directory", s.Name)
		}
		fs := &sysfs{root: filepath.Join(root, s.Name), ports: s.Ports, pkeys: map[int][]uint16{}}
		if _, err := os.Stat(fs.devDir()); os.IsNotExist(err) {
			if err := fs.create(s.Name, PSID, ShippedFirmware, lid); err != nil {
				return nil, fmt.Errorf("simnode %s: sysfs: %w", s.Name, err)
			}
		} else if err != nil {
			return nil, err
		}
		for _, g := range s.Ports {
			if _, dup := t.byPort[g]; dup {
				return nil, fmt.Errorf("simnode: port %s is on two hosts", g)
			}
			t.byPort[g] = fs
		}
		lid += uint16(len(s.Ports))
	}
	return t, nil
}

// Ports lists every host's port GUIDs.
func (t *Trees) Ports() []sm.GUID {
	out := make([]sm.GUID, 0, len(t.byPort))
	for g := range t.byPort {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// WritePKeys writes port guid's whole P_Key table into its host's tree.
func (t *Trees) WritePKeys(guid sm.GUID, raw []uint16) error {
	fs, ok := t.byPort[guid]
	if !ok {
		return fmt.Errorf("simnode: no simulated host has port %s", guid)
	}
	port := fs.portOf(guid)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.pkeys, port) // what is on disk may be another server's
	return fs.writePKeys(port, raw)
}

// lockTrees takes root's creation lock, an flock on root/.lock: servers
// sharing root that start together each check for a tree and build it if
// missing, and without the lock one's build removed another's half-built
// tree under it.
func lockTrees(root string) (unlock func(), err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("simnode: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("simnode: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("simnode: lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}
