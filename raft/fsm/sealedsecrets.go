package fsm

import (
	"github.com/ibex-hpc/ibex/model"
)

// The cluster CA key and the gossip key are sealed under the servers'
// key-encryption key before a leader proposes them (server/secretkey); the
// state machine never sees that key, so it checks only the form. Logs and
// snapshots written before sealing hold the secrets in the clear: they
// still replay, and the next leader seals them with ResealClusterSecrets,
// which also re-seals them under a new key after a rotation.

// ResealClusterSecrets replaces the state's CA key and gossip key with the
// same secrets sealed under the key Sealed names, if the state still holds
// them as From says: "" for in the clear, else the key id they are sealed
// under. CACertPEM must be the state's CA: the secrets belong to it.
type ResealClusterSecrets struct {
	From      string       `json:"from"`
	CACertPEM string       `json:"ca_cert_pem"`
	CAKey     model.Sealed `json:"ca_key"`
	GossipKey model.Sealed `json:"gossip_key"`
}

// CmdResealClusterSecrets is ResealClusterSecrets's type byte (84 is kept
// for this concern).
const CmdResealClusterSecrets CommandType = 83

func (ResealClusterSecrets) Type() CommandType { return CmdResealClusterSecrets }

func init() {
	registerE(CmdResealClusterSecrets, (*State).resealClusterSecrets)
}

// validSecrets accepts complete secrets in exactly one form: in the clear
// (an old log) or sealed.
func validSecrets(sec model.ClusterSecrets) error {
	if sec.CACertPEM == "" {
		return errorf(ErrInvalid, "cluster secrets incomplete: no CA certificate")
	}
	plain := sec.CAKeyPEM != "" || sec.GossipKey != ""
	sealed := sec.CAKeySealed.KeyID != "" || sec.GossipKeySealed.KeyID != ""
	switch {
	case plain && sealed:
		return errorf(ErrInvalid, "cluster secrets are both sealed and in the clear")
	case plain:
		if sec.CAKeyPEM == "" || sec.GossipKey == "" {
			return errorf(ErrInvalid, "cluster secrets incomplete")
		}
	default:
		if err := validSealed("CA key", sec.CAKeySealed); err != nil {
			return err
		}
		if err := validSealed("gossip key", sec.GossipKeySealed); err != nil {
			return err
		}
		if sec.CAKeySealed.KeyID != sec.GossipKeySealed.KeyID {
			return errorf(ErrInvalid, "cluster secrets sealed under two keys (%s, %s)", sec.CAKeySealed.KeyID, sec.GossipKeySealed.KeyID)
		}
	}
	return nil
}

func validSealed(what string, s model.Sealed) error {
	if s.KeyID == "" || len(s.KeyID) > model.MaxKeyIDBytes || len(s.Box) == 0 || len(s.Box) > model.MaxSealedBytes {
		return errorf(ErrInvalid, "sealed cluster %s missing or oversized (key id %d bytes, box %d bytes)", what, len(s.KeyID), len(s.Box))
	}
	return nil
}

func (s *State) resealClusterSecrets(c *ResealClusterSecrets) error {
	cur := s.Secrets
	if cur.CACertPEM == "" {
		return errorf(ErrNotFound, "no cluster secrets to seal yet")
	}
	if c.CACertPEM != cur.CACertPEM {
		return errorf(ErrConflict, "the sealed secrets are for another cluster CA")
	}
	if cur.CAKeySealed.KeyID != c.From {
		held := "in the clear"
		if cur.IsSealed() {
			held = "under " + cur.CAKeySealed.KeyID
		}
		return errorf(ErrConflict, "cluster secrets are sealed %s, not as the command expects (%q)", held, c.From)
	}
	next := model.ClusterSecrets{CACertPEM: cur.CACertPEM, CAKeySealed: c.CAKey, GossipKeySealed: c.GossipKey}
	if err := validSecrets(next); err != nil {
		return err
	}
	s.Secrets = next
	return nil
}
