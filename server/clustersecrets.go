package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// The cluster CA key and the gossip key live in the replicated state
// sealed under the key-encryption key (server/secretkey), which stays in
// each server's key file: the raft log, the snapshots and every copy of
// them hold only ciphertext. The leader seals before it proposes; every
// server opens with its own file when it needs them (store.ClusterSecrets).

// ClusterSecrets opens the state's CA key and gossip key with this
// server's key file.
func (st *store) ClusterSecrets() (model.ClusterSecrets, error) {
	var sec model.ClusterSecrets
	st.fsm.Read(func(s *fsm.State) { sec = s.Secrets })
	return st.keys.OpenClusterSecrets(sec)
}

// setupClusterSecrets, run by every new leader, creates the cluster
// secrets sealed when the state has none, and seals them again when the
// state holds them in the clear (a log from before sealing) or under a
// key other than this server's primary one (a rotation).
func (s *Server) setupClusterSecrets(ctx context.Context) error {
	var cur model.ClusterSecrets
	s.fsm.Read(func(st *fsm.State) { cur = st.Secrets })
	keys := s.store.keys
	if cur.CACertPEM == "" {
		plain, err := s.tls.bootstrapSecrets()
		if err != nil {
			return err
		}
		sealed, err := keys.SealClusterSecrets(plain)
		if err != nil {
			return fmt.Errorf("create cluster CA: %w", err)
		}
		if _, err := s.store.Apply(ctx, &fsm.SetClusterSecrets{Secrets: sealed}); err != nil {
			return fmt.Errorf("create cluster CA: %w", err)
		}
		return nil
	}
	if !keys.ClusterSecretsStale(cur) {
		if _, err := keys.OpenClusterSecrets(cur); err != nil {
			// Not fatal to leading (jobs still run), but enrollment,
			// gossip and job credentials fail here until it is fixed.
			s.log.Error("cannot open the cluster secrets", "err", err)
		}
		return nil
	}
	sealed, err := keys.ResealClusterSecrets(cur)
	if err != nil {
		s.log.Error("re-seal the cluster secrets", "err", err)
		return nil
	}
	cmd := &fsm.ResealClusterSecrets{From: cur.CAKeySealed.KeyID, CACertPEM: cur.CACertPEM,
		CAKey: sealed.CAKeySealed, GossipKey: sealed.GossipKeySealed}
	if _, err := s.store.Apply(ctx, cmd); err != nil {
		if errors.Is(err, fsm.ErrConflict) {
			return nil // another leader sealed them meanwhile
		}
		return fmt.Errorf("re-seal the cluster secrets: %w", err)
	}
	from := cur.CAKeySealed.KeyID
	if from == "" {
		from = "in the clear (a log from before sealing)"
	}
	s.log.Info("sealed the cluster CA key and gossip key", "key", keys.Primary(), "were", from)
	return nil
}
