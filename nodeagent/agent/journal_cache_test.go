package agent

import (
	"path/filepath"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

// The journal re-encodes only changed entries (save): what a restarted
// agent reads back must still be every entry's latest state, including an
// entry that changed after it was first saved.
func TestJournalReadsBackEveryChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), journalFile)
	j, warn := openJournal(path, 0)
	if warn != nil {
		t.Fatal(warn)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(j.start("a", model.TaskErase))
	must(j.finish("a", &savedResult{OK: true, EvidenceJSON: `{"blocks":1}`}))
	must(j.start("b", model.TaskFirmware))
	must(j.start("a", model.TaskErase)) // a resent task run again: started, result gone
	must(j.finish("b", &savedResult{OK: false, Error: "flash failed"}))

	back, warn := openJournal(path, 0)
	if warn != nil {
		t.Fatal(warn)
	}
	a, okA := back.get("a")
	b, okB := back.get("b")
	if !okA || !okB {
		t.Fatalf("entries read back: a %v, b %v", okA, okB)
	}
	if a.State != stateStarted || a.Runs != 2 || a.Result != nil {
		t.Fatalf("a read back as %+v; want started, 2 runs, no result", a)
	}
	if b.State != stateDone || b.Result == nil || b.Result.OK || b.Result.Error != "flash failed" {
		t.Fatalf("b read back as %+v; want done with its failure", b)
	}
	// And once more after a save by the reopened journal (its entries
	// have no cached encoding yet).
	must(back.finish("a", &savedResult{OK: true}))
	again, _ := openJournal(path, 0)
	if e, _ := again.get("a"); e.State != stateDone || e.Result == nil || !e.Result.OK {
		t.Fatalf("a after the reopened journal finished it: %+v", e)
	}
}
