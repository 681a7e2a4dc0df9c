package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Files in Config.DataDir.
const (
	keyFile     = "node.key"    // PKCS#8 PEM, the node's private key
	certFile    = "node.crt"    // PEM, issued by the cluster CA at enrollment
	caFile      = "ca.crt"      // PEM, the cluster CA
	gossipFile  = "gossip.json" // gossip key and seeds from enrollment
	journalFile = "tasks.log"   // the task journal (journal.go)
)

// ensureDataDir creates dir 0700, or tightens an existing one to 0700: it
// holds the node's private key and the gossip key.
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("agent: data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("agent: data dir %s is not a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("agent: data dir: %w", err)
		}
	}
	return nil
}

// writeFileAtomic replaces path with data, mode 0600, so that a crash
// leaves either the old or the new content, never a torn file: write a
// temporary file in the same directory, fsync it, rename it over path,
// fsync the directory.
func writeFileAtomic(path string, data []byte) error { return writeFileAtomicSync(path, data, true) }

// writeFileAtomicSync is writeFileAtomic that, with sync false, leaves out
// the two fsyncs: the replacement is still atomic (write, then rename) and
// survives the writer's crash, not the machine's (Agent.JournalNoSync).
func writeFileAtomicSync(path string, data []byte, sync bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if sync {
		if err := tmp.Sync(); err != nil {
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	if !sync {
		return nil
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readFileIfExists returns (nil, nil) for a missing file.
func readFileIfExists(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// readBoundedFile returns (nil, nil) for a missing file, an empty non-nil
// slice for an empty one, and an error for one bigger than limit.
func readBoundedFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", path, limit)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}
