package secretkey

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

var plainSecrets = model.ClusterSecrets{
	CACertPEM: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	CAKeyPEM:  "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIAAAA\n-----END EC PRIVATE KEY-----\n",
	GossipKey: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
}

func TestClusterSecretsSealOpen(t *testing.T) {
	r, err := Parse([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeyBytes))))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := r.SealClusterSecrets(plainSecrets)
	if err != nil {
		t.Fatal(err)
	}
	if sealed.CAKeyPEM != "" || sealed.GossipKey != "" || !sealed.IsSealed() || sealed.CACertPEM != plainSecrets.CACertPEM {
		t.Fatalf("sealed: %+v", sealed)
	}
	for _, box := range [][]byte{sealed.CAKeySealed.Box, sealed.GossipKeySealed.Box} {
		if bytes.Contains(box, []byte("PRIVATE KEY")) || bytes.Contains(box, []byte(plainSecrets.GossipKey)) {
			t.Fatal("a sealed box holds the plaintext")
		}
	}
	got, err := r.OpenClusterSecrets(sealed)
	if err != nil || !reflect.DeepEqual(got, plainSecrets) {
		t.Fatalf("open: %+v %v", got, err)
	}
	// Each box is bound to its role and its CA.
	swapped := sealed
	swapped.CAKeySealed, swapped.GossipKeySealed = sealed.GossipKeySealed, sealed.CAKeySealed
	if _, err := r.OpenClusterSecrets(swapped); err == nil {
		t.Fatal("the boxes opened swapped")
	}
	other := sealed
	other.CACertPEM = "another CA"
	if _, err := r.OpenClusterSecrets(other); err == nil {
		t.Fatal("opened for another CA")
	}
	// Secrets in the clear (a state from before sealing) pass through,
	// with or without a keyring, and are stale for a leader with one.
	var none *Keyring
	if got, err := none.OpenClusterSecrets(plainSecrets); err != nil || !reflect.DeepEqual(got, plainSecrets) {
		t.Fatalf("clear secrets without a keyring: %v", err)
	}
	if !r.ClusterSecretsStale(plainSecrets) || r.ClusterSecretsStale(sealed) || none.ClusterSecretsStale(plainSecrets) {
		t.Fatal("staleness")
	}
	// Sealed secrets without a keyring: an error naming the flag.
	if _, err := none.OpenClusterSecrets(sealed); !errors.Is(err, ErrNoKeyFile) || !strings.Contains(err.Error(), "--secrets-key-file") {
		t.Fatalf("no keyring: %v", err)
	}
	if _, err := none.SealClusterSecrets(plainSecrets); !errors.Is(err, ErrNoKeyFile) {
		t.Fatalf("seal without a keyring: %v", err)
	}
}

func TestClusterSecretsRotation(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString
	oldKey, newKey := bytes.Repeat([]byte{1}, KeyBytes), bytes.Repeat([]byte{2}, KeyBytes)
	oldRing, _ := Parse([]byte(enc(oldKey)))
	sealed, err := oldRing.SealClusterSecrets(plainSecrets)
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := Parse([]byte(enc(newKey) + "\n" + enc(oldKey) + "\n"))
	if !rotated.ClusterSecretsStale(sealed) {
		t.Fatal("secrets under the old key are not stale after a rotation")
	}
	again, err := rotated.ResealClusterSecrets(sealed)
	if err != nil || again.CAKeySealed.KeyID != ID(newKey) || again.GossipKeySealed.KeyID != ID(newKey) {
		t.Fatalf("reseal: %+v %v", again, err)
	}
	newOnly, _ := Parse([]byte(enc(newKey)))
	if got, err := newOnly.OpenClusterSecrets(again); err != nil || !reflect.DeepEqual(got, plainSecrets) {
		t.Fatalf("the new key alone does not open: %v", err)
	}
	if _, err := oldRing.OpenClusterSecrets(again); !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), "--secrets-key-file") {
		t.Fatalf("the old key alone: %v", err)
	}
}

// A server whose file gained the new key after it started opens what a
// leader sealed under it: the keyring reads its file again on a miss.
func TestKeyringReloadsOnMiss(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString
	oldKey, newKey := bytes.Repeat([]byte{1}, KeyBytes), bytes.Repeat([]byte{2}, KeyBytes)
	path := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(path, []byte(enc(oldKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	running, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	leader, _ := Parse([]byte(enc(newKey) + "\n" + enc(oldKey) + "\n"))
	sealed, _ := leader.SealClusterSecrets(plainSecrets)
	if err := os.WriteFile(path, []byte(enc(newKey)+"\n"+enc(oldKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := running.OpenClusterSecrets(sealed); err != nil || !reflect.DeepEqual(got, plainSecrets) {
		t.Fatalf("after the file changed: %v", err)
	}
	if running.Primary() != ID(newKey) {
		t.Fatalf("primary after reload: %s", running.Primary())
	}
}
