package cluster

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestRaftLogsThroughSlog: raft's lines come out as ibexd's JSON records,
// named, at ibexd's level, with raft's Info held back by the floor.
func TestRaftLogsThroughSlog(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := SlogLogger(l, slog.LevelWarn).Named("transport").With("peer", "s2")
	h.Info("heartbeat")
	h.Warn("failed to contact", "error", "refused")
	h.StandardLogger(nil).Print("[ERR] raft: boom")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want the warning and the error only:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["level"] != "WARN" || rec["msg"] != "failed to contact" || rec["logger"] != "raft.transport" || rec["peer"] != "s2" || rec["error"] != "refused" {
		t.Fatalf("record %v", rec)
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil || rec["level"] != "ERROR" || rec["msg"] != "raft: boom" {
		t.Fatalf("standard logger line: %v %v", rec, err)
	}
}
