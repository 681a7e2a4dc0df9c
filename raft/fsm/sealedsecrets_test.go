package fsm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

func sealedBox(key, what string) model.Sealed {
	return model.Sealed{KeyID: key, Box: []byte("nonce+" + what)}
}

func TestSetClusterSecretsForms(t *testing.T) {
	for name, sec := range map[string]model.ClusterSecrets{
		"no cert":      {CAKeySealed: sealedBox("k1", "ca"), GossipKeySealed: sealedBox("k1", "gk")},
		"both forms":   {CACertPEM: "cert", CAKeyPEM: "key", GossipKey: "gk", CAKeySealed: sealedBox("k1", "ca"), GossipKeySealed: sealedBox("k1", "gk")},
		"half clear":   {CACertPEM: "cert", CAKeyPEM: "key"},
		"half sealed":  {CACertPEM: "cert", CAKeySealed: sealedBox("k1", "ca")},
		"two keys":     {CACertPEM: "cert", CAKeySealed: sealedBox("k1", "ca"), GossipKeySealed: sealedBox("k2", "gk")},
		"empty box":    {CACertPEM: "cert", CAKeySealed: model.Sealed{KeyID: "k1"}, GossipKeySealed: sealedBox("k1", "gk")},
		"oversize box": {CACertPEM: "cert", CAKeySealed: model.Sealed{KeyID: "k1", Box: make([]byte, model.MaxSealedBytes+1)}, GossipKeySealed: sealedBox("k1", "gk")},
	} {
		f := New()
		if r := f.Apply(&SetClusterSecrets{Secrets: sec}); !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("%s: %v", name, r.Err)
		}
		if f.View().Secrets.CACertPEM != "" {
			t.Errorf("%s: a refused command changed the state", name)
		}
	}
	f := New()
	sealed := model.ClusterSecrets{CACertPEM: "cert", CAKeySealed: sealedBox("k1", "ca"), GossipKeySealed: sealedBox("k1", "gk")}
	must(t, f.Apply(&SetClusterSecrets{Secrets: sealed}))
	if got := f.View().Secrets; !got.IsSealed() || got.CAKeyPEM != "" || got.GossipKey != "" {
		t.Fatalf("sealed secrets stored as %+v", got)
	}
}

func TestResealClusterSecrets(t *testing.T) {
	f := New()
	if r := f.Apply(&ResealClusterSecrets{CACertPEM: "cert", CAKey: sealedBox("k1", "ca"), GossipKey: sealedBox("k1", "gk")}); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("reseal before any secrets: %v", r.Err)
	}
	// A log from before sealing: the secrets in the clear.
	must(t, f.Apply(&SetClusterSecrets{Secrets: model.ClusterSecrets{CACertPEM: "cert", CAKeyPEM: "key", GossipKey: "gk"}}))
	for name, c := range map[string]*ResealClusterSecrets{
		"other CA":    {CACertPEM: "other", CAKey: sealedBox("k1", "ca"), GossipKey: sealedBox("k1", "gk")},
		"stale from":  {From: "k0", CACertPEM: "cert", CAKey: sealedBox("k1", "ca"), GossipKey: sealedBox("k1", "gk")},
		"half sealed": {CACertPEM: "cert", CAKey: sealedBox("k1", "ca")},
	} {
		before := f.View().Hash()
		if r := f.Apply(c); r.Err == nil {
			t.Errorf("%s: applied", name)
		}
		if f.View().Hash() != before {
			t.Errorf("%s: a refused command changed the state", name)
		}
	}
	must(t, f.Apply(&ResealClusterSecrets{CACertPEM: "cert", CAKey: sealedBox("k1", "ca"), GossipKey: sealedBox("k1", "gk")}))
	got := f.View().Secrets
	if got.CAKeyPEM != "" || got.GossipKey != "" || got.CAKeySealed.KeyID != "k1" || got.CACertPEM != "cert" {
		t.Fatalf("after sealing: %+v", got)
	}
	// A second leader racing the first: sealed already, From "" conflicts.
	if r := f.Apply(&ResealClusterSecrets{CACertPEM: "cert", CAKey: sealedBox("k1", "ca2"), GossipKey: sealedBox("k1", "gk2")}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("second seal from the clear: %v", r.Err)
	}
	// A rotation: from k1 to k2.
	must(t, f.Apply(&ResealClusterSecrets{From: "k1", CACertPEM: "cert", CAKey: sealedBox("k2", "ca"), GossipKey: sealedBox("k2", "gk")}))
	if f.View().Secrets.GossipKeySealed.KeyID != "k2" {
		t.Fatalf("after rotation: %+v", f.View().Secrets)
	}
	// The snapshot carries the sealed form and restores it.
	var snap bytes.Buffer
	if err := WriteSnapshot(&snap, f.SnapshotState()); err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if g.View().Secrets.CAKeySealed.KeyID != "k2" || g.View().Hash() != f.View().Hash() {
		t.Fatalf("restored: %+v", g.View().Secrets)
	}
}
