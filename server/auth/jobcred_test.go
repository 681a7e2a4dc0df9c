package auth

import (
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

func stateWithCA(key string) model.ClusterSecrets {
	return model.ClusterSecrets{CAKeyPEM: key}
}

func TestJobCredential(t *testing.T) {
	st := stateWithCA("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
	tok, err := JobCredential(st, 12)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := JobCredential(st, 12); again != tok {
		t.Fatal("the credential is not a function of the job and the cluster")
	}
	if id, ok := JobCredentialID(tok); !ok || id != 12 || !CheckJobCredential(st, 12, tok) {
		t.Fatalf("%q: id %d, ok %v", tok, id, ok)
	}
	other, _ := JobCredential(st, 13)
	if other == tok || CheckJobCredential(st, 12, other) || CheckJobCredential(st, 13, tok) {
		t.Fatal("one job's credential opens another")
	}
	if CheckJobCredential(st, 12, tok+"x") || CheckJobCredential(st, 12, strings.Replace(tok, "_12_", "_13_", 1)) {
		t.Fatal("a tampered credential passed")
	}
	if CheckJobCredential(stateWithCA("another cluster's key"), 12, tok) {
		t.Fatal("another cluster accepted the credential")
	}
	if _, err := JobCredential(model.ClusterSecrets{}, 12); err == nil || !strings.Contains(err.Error(), "retry") {
		t.Fatalf("no CA yet: %v", err)
	}
	for _, s := range []string{"ibex_tenanttoken", "ibexjob_", "ibexjob_0_x", "ibexjob_x_y", "ibexjob_12", "ibexjob_12_" + strings.Repeat("a", 200)} {
		if _, ok := JobCredentialID(s); ok {
			t.Errorf("%q parsed as a job credential", s)
		}
	}
}

func FuzzJobCredentialID(f *testing.F) {
	f.Add("ibexjob_12_abc")
	f.Add("ibex_x")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := JobCredentialID(s)
		if ok && (id == 0 || !strings.HasPrefix(s, jobTokenPrefix) || len(s) > maxJobTokenLen) {
			t.Fatalf("%q: %d", s, id)
		}
	})
}
