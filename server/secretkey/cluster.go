package secretkey

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/ibex-hpc/ibex/model"
)

// The cluster's own secrets (the CA key and the gossip key) are sealed
// like BMC logins before they enter the replicated state: the leader seals
// them when it creates them (or finds them in the clear, in a state from
// before sealing), and every server opens them with its own key file when
// it signs a certificate, joins the gossip pool or checks a job
// credential. Each is bound to the CA certificate and to its role, so a
// sealed box cannot be moved to the other field or to another cluster.

// ErrNoKeyFile is wrapped when the state's secrets are sealed and this
// server was started without a key file.
var ErrNoKeyFile = errors.New("this server has no secrets key file")

func clusterAAD(role, caCertPEM string) []byte {
	sum := sha256.Sum256([]byte(caCertPEM))
	return append([]byte("ibex cluster "+role+"\x00"), sum[:]...)
}

// SealClusterSecrets returns sec with the CA key and gossip key sealed
// under the primary key and their plaintext fields empty.
func (r *Keyring) SealClusterSecrets(sec model.ClusterSecrets) (model.ClusterSecrets, error) {
	if r == nil {
		return model.ClusterSecrets{}, fmt.Errorf("%w: it cannot seal the cluster CA key and gossip key; start ibexd with --secrets-key-file (the same file on every server)", ErrNoKeyFile)
	}
	if sec.CACertPEM == "" || sec.CAKeyPEM == "" || sec.GossipKey == "" {
		return model.ClusterSecrets{}, errors.New("cluster secrets to seal are incomplete")
	}
	ca, err := r.Seal([]byte(sec.CAKeyPEM), clusterAAD("ca key", sec.CACertPEM))
	if err != nil {
		return model.ClusterSecrets{}, fmt.Errorf("seal the cluster CA key: %w", err)
	}
	gk, err := r.Seal([]byte(sec.GossipKey), clusterAAD("gossip key", sec.CACertPEM))
	if err != nil {
		return model.ClusterSecrets{}, fmt.Errorf("seal the gossip key: %w", err)
	}
	return model.ClusterSecrets{CACertPEM: sec.CACertPEM, CAKeySealed: ca, GossipKeySealed: gk}, nil
}

// OpenClusterSecrets returns the secrets of the replicated state in the
// clear: opened with this keyring when sealed, as they are when from a
// state written before sealing. A nil keyring opens only the latter.
// Errors name what is missing, never a secret.
func (r *Keyring) OpenClusterSecrets(sec model.ClusterSecrets) (model.ClusterSecrets, error) {
	if !sec.IsSealed() {
		return sec, nil
	}
	if r == nil {
		return model.ClusterSecrets{}, fmt.Errorf("%w, and the cluster CA key and gossip key in the replicated state are sealed (under key %s): "+
			"start ibexd with --secrets-key-file naming the cluster's key file (the same file on every server)", ErrNoKeyFile, sec.CAKeySealed.KeyID)
	}
	ca, err := r.Open(sec.CAKeySealed, clusterAAD("ca key", sec.CACertPEM))
	if err != nil {
		return model.ClusterSecrets{}, fmt.Errorf("cluster CA key: %w", err)
	}
	gk, err := r.Open(sec.GossipKeySealed, clusterAAD("gossip key", sec.CACertPEM))
	if err != nil {
		return model.ClusterSecrets{}, fmt.Errorf("gossip key: %w", err)
	}
	if k, err := base64.StdEncoding.DecodeString(string(gk)); err != nil || len(k) != 32 {
		return model.ClusterSecrets{}, errors.New("gossip key: the sealed value is not base64 of 32 bytes")
	}
	return model.ClusterSecrets{CACertPEM: sec.CACertPEM, CAKeyPEM: string(ca), GossipKey: string(gk)}, nil
}

// ClusterSecretsStale reports whether the leader should seal sec (again):
// it is in the clear, or sealed under a key of this ring other than the
// primary one (a rotation). Secrets sealed under a key the ring lacks are
// not stale: they cannot be opened here to be sealed again.
func (r *Keyring) ClusterSecretsStale(sec model.ClusterSecrets) bool {
	if r == nil || sec.CACertPEM == "" {
		return false
	}
	if !sec.IsSealed() {
		return true
	}
	return r.Stale(sec.CAKeySealed) || r.Stale(sec.GossipKeySealed)
}

// ResealClusterSecrets opens sec and seals it under the primary key.
func (r *Keyring) ResealClusterSecrets(sec model.ClusterSecrets) (model.ClusterSecrets, error) {
	plain, err := r.OpenClusterSecrets(sec)
	if err != nil {
		return model.ClusterSecrets{}, err
	}
	return r.SealClusterSecrets(plain)
}
