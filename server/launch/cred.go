package launch

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Job credentials let processes inside a job call Launch.Exec for that job
// and nothing else: the MPI runtime's agent (`ibex exec`) runs on the job's
// nodes, where the tenant's own token does not belong. A credential is
// valid while its job runs, because Exec only serves running jobs.
//
// It is kept in the job directory, which every server of a simulated
// cluster shares (Config.JobsDir), so any server can check it.
// TODO(agent): with real node agents, keep a digest in the replicated job
// state instead, the way tenant tokens are kept.
const (
	jobTokenPrefix = "ibexjob_"
	jobTokenFile   = ".ibex-job-token"
)

// jobCredential returns the job's credential, creating it on first use.
func jobCredential(jobDir string, jobID uint64) (string, error) {
	path := filepath.Join(jobDir, jobTokenFile)
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.MkdirAll(jobDir, 0o755); err != nil {
		return "", fmt.Errorf("job credential: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	tok := fmt.Sprintf("%s%d_%s", jobTokenPrefix, jobID, base64.RawURLEncoding.EncodeToString(secret))
	// Written aside and hard-linked into place: whoever links first wins,
	// and nobody ever reads a half-written file.
	f, err := os.CreateTemp(jobDir, jobTokenFile+".*")
	if err != nil {
		return "", fmt.Errorf("job credential: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(tok + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("job credential: %w", err)
	}
	if err := os.Link(f.Name(), path); errors.Is(err, os.ErrExist) {
		b, err := os.ReadFile(path)
		return strings.TrimSpace(string(b)), err
	} else if err != nil {
		return "", fmt.Errorf("job credential: %w", err)
	}
	return tok, nil
}

// jobTokenID parses the job id out of a job credential; ok is false for
// anything else (a tenant token).
func jobTokenID(tok string) (uint64, bool) {
	rest, ok := strings.CutPrefix(tok, jobTokenPrefix)
	if !ok {
		return 0, false
	}
	idStr, _, ok := strings.Cut(rest, "_")
	id, err := strconv.ParseUint(idStr, 10, 64)
	return id, ok && err == nil && id > 0
}

// checkJobCredential reports whether tok is the credential kept in jobDir.
func checkJobCredential(jobDir, tok string) bool {
	b, err := os.ReadFile(filepath.Join(jobDir, jobTokenFile))
	if err != nil {
		return false
	}
	want := strings.TrimSpace(string(b))
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(tok)) == 1
}
