// Package secretkey holds the key-encryption keys that seal secrets kept
// in the replicated state, such as nodes' BMC logins.
//
// The raft log and snapshots are replicated to every server and copied by
// backups, so a secret stored there in the clear is as exposed as the least
// protected copy. Secrets are therefore sealed (AES-256-GCM) under a key
// that never enters raft: a file on each server (DATADIR/secrets.key by
// default, created with mode 0600 when a single server bootstraps a
// cluster). Every server of a cluster needs the same file, since any of
// them may lead and must open what another sealed: copy it to the others
// and give it with --secrets-key-file.
//
// The file holds one key per line (base64 of 32 random bytes; '#' starts a
// comment). The first key seals; all of them open, which is how a key is
// rotated: put a new key on the first line of every server's file and
// restart them one by one; the leader re-seals what the old key sealed
// (server/control), and once `ibex nodes show` names the new key for every
// BMC the old line can go.
package secretkey

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Limits of a key file: a handful of keys, in a small text file.
const (
	KeyBytes     = 32
	MaxKeys      = 16
	MaxFileBytes = 16 << 10
	nonceBytes   = 12
	// MaxPlaintext bounds what is sealed (a login is far smaller).
	MaxPlaintext = 2 << 10
)

// Keyring is the keys of one server's key file. The first seals.
//
// A keyring loaded from a file reads the file again when it is asked to
// open a secret sealed under a key it lacks (at most once per
// reloadEvery): during a rotation the leader may seal under a key that was
// added to this server's file after it started.
type Keyring struct {
	mu       sync.RWMutex
	keys     []key
	path     string
	reloaded time.Time
}

// reloadEvery bounds how often a miss reads the key file again.
const reloadEvery = time.Second

type key struct {
	id   string
	aead cipher.AEAD
}

// ErrNoKey is wrapped when a secret was sealed under a key this server's
// file lacks.
var ErrNoKey = errors.New("key not in this server's secrets key file")

// ID names a key without revealing it: the first 16 hex digits of a
// SHA-256 over a label and the key.
func ID(k []byte) string {
	sum := sha256.Sum256(append([]byte("ibex key-encryption key id\x00"), k...))
	return "k" + hex.EncodeToString(sum[:8])
}

// Parse reads a key file's contents. Errors name the line, never a key.
func Parse(data []byte) (*Keyring, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("secrets key file is %d bytes, the limit is %d", len(data), MaxFileBytes)
	}
	r := &Keyring{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), MaxFileBytes+1)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if text == "" {
			continue
		}
		k, err := base64.StdEncoding.Strict().DecodeString(text)
		if err != nil || len(k) != KeyBytes {
			return nil, fmt.Errorf("secrets key file, line %d: want base64 of %d bytes (make one with: head -c 32 /dev/urandom | base64)", line, KeyBytes)
		}
		if len(r.keys) == MaxKeys {
			return nil, fmt.Errorf("secrets key file holds more than %d keys", MaxKeys)
		}
		id := ID(k)
		if seen[id] {
			return nil, fmt.Errorf("secrets key file, line %d: the same key as an earlier line", line)
		}
		seen[id] = true
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		r.keys = append(r.keys, key{id: id, aead: aead})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	if len(r.keys) == 0 {
		return nil, errors.New("secrets key file holds no key")
	}
	return r, nil
}

// Load reads the key file at path, which must be a regular file that
// neither group nor others may access.
func Load(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secrets key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secrets key file %s has mode %#o, which lets group or others read it; run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	r, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.path = path
	return r, nil
}

// Create writes a new key file with one random key at path (mode 0600,
// refusing to overwrite anything) and returns its keyring.
func Create(path string) (*Keyring, error) {
	k := make([]byte, KeyBytes)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	text := "# ibex key-encryption key (" + ID(k) + "): every server of the cluster needs this same file.\n" +
		base64.StdEncoding.EncodeToString(k) + "\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return Load(path)
}

// LoadOrCreate loads path, or creates it when it does not exist and create
// is set. created reports whether it did.
func LoadOrCreate(path string, create bool) (r *Keyring, created bool, err error) {
	r, err = Load(path)
	if err == nil || !create || !errors.Is(err, os.ErrNotExist) {
		return r, false, err
	}
	r, err = Create(path)
	return r, err == nil, err
}

// Primary is the id of the key that seals.
func (r *Keyring) Primary() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys[0].id
}

// IDs lists the ids of every key, the sealing one first.
func (r *Keyring) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, len(r.keys))
	for i, k := range r.keys {
		out[i] = k.id
	}
	return out
}

// Path is the file the keyring was loaded from ("" if parsed).
func (r *Keyring) Path() string { return r.path }

// Seal encrypts plaintext under the primary key, bound to aad.
func (r *Keyring) Seal(plaintext, aad []byte) (model.Sealed, error) {
	if len(plaintext) > MaxPlaintext {
		return model.Sealed{}, fmt.Errorf("secret is %d bytes, the limit is %d", len(plaintext), MaxPlaintext)
	}
	r.mu.RLock()
	k := r.keys[0]
	r.mu.RUnlock()
	nonce := make([]byte, nonceBytes, nonceBytes+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return model.Sealed{}, err
	}
	return model.Sealed{KeyID: k.id, Box: k.aead.Seal(nonce, nonce, plaintext, aad)}, nil
}

// Open decrypts s, which must have been sealed with the same aad. Its
// errors say which key is missing, never anything about the contents.
func (r *Keyring) Open(s model.Sealed, aad []byte) ([]byte, error) {
	if !r.Has(s.KeyID) {
		r.reload()
	}
	r.mu.RLock()
	keys := r.keys
	r.mu.RUnlock()
	for _, k := range keys {
		if k.id != s.KeyID {
			continue
		}
		if len(s.Box) < nonceBytes+k.aead.Overhead() {
			return nil, errors.New("sealed secret is truncated")
		}
		out, err := k.aead.Open(nil, s.Box[:nonceBytes], s.Box[nonceBytes:], aad)
		if err != nil {
			return nil, fmt.Errorf("sealed secret does not open under key %s: it was altered, or sealed for another node or BMC", s.KeyID)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: sealed under %s, this server has %s; give every server the same --secrets-key-file", ErrNoKey, s.KeyID, strings.Join(r.IDs(), ", "))
}

// Stale reports whether s was sealed under another key of this ring than
// the primary one, and so should be sealed again after a rotation. A
// secret sealed under a key the ring lacks is not stale: it cannot be
// re-sealed here (Open says why).
func (r *Keyring) Stale(s model.Sealed) bool { return s.KeyID != r.Primary() && r.Has(s.KeyID) }

// Has reports whether the ring holds the key id.
func (r *Keyring) Has(id string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range r.keys {
		if k.id == id {
			return true
		}
	}
	return false
}

// reload reads the key file again (a keyring loaded from one), keeping the
// keys it has when the file cannot be read or parsed: a key added to the
// file since this server started then opens what a leader sealed with it.
func (r *Keyring) reload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.path == "" || time.Since(r.reloaded) < reloadEvery {
		return
	}
	r.reloaded = time.Now()
	fresh, err := Load(r.path)
	if err != nil {
		return
	}
	r.keys = fresh.keys
}
