package model

import (
	"strings"
	"testing"
	"time"
)

func chain(n int) []LedgerEntry {
	var out []LedgerEntry
	prev := ""
	for i := 1; i <= n; i++ {
		e := LedgerEntry{Time: time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC), Step: "erase", Actor: "agent", OK: true, Evidence: "{}", JobID: 7, Tenant: "alice", Seq: uint64(i), Prev: prev}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

// TestVerifyChain: an intact chain verifies; an edited, removed or
// re-chained entry is caught and named.
func TestVerifyChain(t *testing.T) {
	if n, err := VerifyChain(chain(5)); err != nil || n != 5 {
		t.Fatalf("intact chain: %d, %v", n, err)
	}
	edited := chain(5)
	edited[2].Evidence = `{"erased":"nothing"}`
	if _, err := VerifyChain(edited); err == nil || !strings.Contains(err.Error(), "entry 3") {
		t.Fatalf("edited evidence: %v", err)
	}
	removed := chain(5)
	removed = append(removed[:2], removed[3:]...)
	if _, err := VerifyChain(removed); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("removed entry: %v", err)
	}
	forged := chain(5)
	forged[3].Prev = strings.Repeat("0", 64)
	forged[3].Hash = forged[3].ComputeHash() // consistent by itself, not chained
	if _, err := VerifyChain(forged); err == nil || !strings.Contains(err.Error(), "rewritten") {
		t.Fatalf("re-chained entry: %v", err)
	}
	tenant := chain(3)
	tenant[1].Tenant = "mallory"
	if _, err := VerifyChain(tenant); err == nil {
		t.Fatal("changed tenant not caught")
	}
	// A window that starts mid-chain verifies from its first entry.
	if n, err := VerifyChain(chain(6)[2:]); err != nil || n != 4 {
		t.Fatalf("window: %d, %v", n, err)
	}
	legacy := append([]LedgerEntry{{Step: "erase", Evidence: "old"}}, chain(2)...)
	if n, err := VerifyChain(legacy); err != nil || n != 2 {
		t.Fatalf("entries before the chain: %d, %v", n, err)
	}
}
