package auth

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/ibex-hpc/ibex/model"
)

// Job credentials let processes inside a job call Launch.Exec for that job
// and nothing else: the MPI runtime's rsh agent (`ibex exec`) runs on the
// job's nodes, where the tenant's own token does not belong. A credential
// is valid while its job runs, because Exec only serves running jobs.
//
// A credential is "ibexjob_<id>_<mac>", the MAC an HMAC-SHA256 of the job
// id under a key derived from the cluster CA's private key. So any server
// can make and check one from the replicated state alone, and no node can
// forge one: the CA key never leaves the servers (the gossip key, which
// agents hold, would not do).
const jobTokenPrefix = "ibexjob_"

// jobCredentialInfo separates this key from any other derived from the CA
// key; a new version string invalidates every credential.
const jobCredentialInfo = "ibex job credential v1"

// maxJobTokenLen bounds what JobCredentialID parses.
const maxJobTokenLen = 128

// JobCredential is job jobID's credential. It fails only before the
// cluster CA exists (a cluster still bootstrapping).
func JobCredential(sec model.ClusterSecrets, jobID uint64) (string, error) {
	mac, err := jobMAC(sec, jobID)
	if err != nil {
		return "", err
	}
	return jobTokenPrefix + strconv.FormatUint(jobID, 10) + "_" + base64.RawURLEncoding.EncodeToString(mac), nil
}

// JobCredentialID parses the job id out of a job credential; ok is false
// for anything else (a tenant token). It does not check the MAC.
func JobCredentialID(tok string) (uint64, bool) {
	if len(tok) > maxJobTokenLen {
		return 0, false
	}
	rest, ok := strings.CutPrefix(tok, jobTokenPrefix)
	if !ok {
		return 0, false
	}
	idStr, _, ok := strings.Cut(rest, "_")
	id, err := strconv.ParseUint(idStr, 10, 64)
	return id, ok && err == nil && id > 0
}

// CheckJobCredential reports whether tok is the credential of job jobID.
func CheckJobCredential(sec model.ClusterSecrets, jobID uint64, tok string) bool {
	want, err := JobCredential(sec, jobID)
	return err == nil && hmac.Equal([]byte(want), []byte(tok))
}

func jobMAC(sec model.ClusterSecrets, jobID uint64) ([]byte, error) {
	if sec.CAKeyPEM == "" {
		return nil, errors.New("job credential: the cluster CA does not exist yet; retry shortly")
	}
	key, err := hkdf.Key(sha256.New, []byte(sec.CAKeyPEM), nil, jobCredentialInfo, 32)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("job " + strconv.FormatUint(jobID, 10)))
	return m.Sum(nil), nil
}
