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

// oldEntry is an entry as a version without Start and End wrote it, with
// the hash that version computed (pinned: computed by the ComputeHash of
// commit 9daa8d2, before the fields existed).
func oldEntry() LedgerEntry {
	return LedgerEntry{Time: time.Date(2026, 11, 27, 8, 0, 0, 123, time.UTC), Step: "erase", Actor: "agent 0a1b", OK: true,
		Evidence: `{"bytes_erased":1048576}`, JobID: 7, Tenant: "alice", Seq: 3, Prev: "9f",
		Hash: "3e629bc6da34a70979697df435cfbbb2fa1e2c660e1fc8ddbe2608acb4129761"}
}

// TestOldChainsStillVerify: an entry without Start and End hashes as the
// old encoding did, so a chain written by an older version verifies, and
// a chain that goes on from it with the new fields verifies too.
func TestOldChainsStillVerify(t *testing.T) {
	old := oldEntry()
	if got := old.ComputeHash(); got != old.Hash {
		t.Fatalf("an old-format entry hashes to %s, the old version wrote %s: old chains would not verify", got, old.Hash)
	}
	next := LedgerEntry{Time: old.Time.Add(time.Minute), Step: "firmware", Actor: "agent 0a1b", OK: true, Evidence: "{}", JobID: 7,
		Tenant: "alice", Seq: 4, Prev: old.Hash, Start: old.Time.Add(time.Second), End: old.Time.Add(time.Minute)}
	next.Hash = next.ComputeHash()
	if n, err := VerifyChain([]LedgerEntry{old, next}); err != nil || n != 2 {
		t.Fatalf("old entry then a new one: %d, %v", n, err)
	}
}

// TestNewFieldsAreCovered: changing, adding or removing Start or End of
// an entry breaks the chain; moving a time from Start to End too.
func TestNewFieldsAreCovered(t *testing.T) {
	base := func() []LedgerEntry {
		es := chain(3)
		prev := ""
		for i := range es {
			es[i].Start, es[i].End = es[i].Time.Add(-time.Minute), es[i].Time
			es[i].Prev = prev
			es[i].Hash = es[i].ComputeHash()
			prev = es[i].Hash
		}
		return es
	}
	if n, err := VerifyChain(base()); err != nil || n != 3 {
		t.Fatalf("intact: %d, %v", n, err)
	}
	for name, edit := range map[string]func(e *LedgerEntry){
		"start moved":   func(e *LedgerEntry) { e.Start = e.Start.Add(-time.Hour) },
		"end moved":     func(e *LedgerEntry) { e.End = e.End.Add(time.Nanosecond) },
		"start removed": func(e *LedgerEntry) { e.Start = time.Time{} },
		"both removed":  func(e *LedgerEntry) { e.Start, e.End = time.Time{}, time.Time{} },
		"swapped":       func(e *LedgerEntry) { e.Start, e.End = time.Time{}, e.Start },
	} {
		es := base()
		edit(&es[1])
		if _, err := VerifyChain(es); err == nil || !strings.Contains(err.Error(), "entry 2") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Adding the fields to an old entry is an edit as well.
	old := oldEntry()
	old.Start, old.End = old.Time, old.Time
	if _, err := VerifyChain([]LedgerEntry{old}); err == nil {
		t.Error("an old entry given times still verifies")
	}
	// An entry that ends before it starts is refused even when its hash
	// was recomputed to match.
	es := base()
	es[2].Start, es[2].End = es[2].End, es[2].Start
	es[2].Hash = es[2].ComputeHash()
	if _, err := VerifyChain(es); err == nil || !strings.Contains(err.Error(), "before it starts") {
		t.Errorf("end before start: %v", err)
	}
}
