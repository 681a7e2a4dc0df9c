package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// Agent is what the state knows of a node's enrolled agent.
type Agent struct {
	CertSerial string    `json:"cert_serial"`
	EnrolledAt time.Time `json:"enrolled_at"`
	Revoked    bool      `json:"revoked,omitempty"`
}

// Image is an OS image in the catalog. Nodes are imaged only with
// catalogued images, and the agent refuses one whose digest differs.
type Image struct {
	Name    string `json:"name"`    // e.g. "rocky9-hpc"
	Version string `json:"version"` // e.g. "2024.06.1"
	Size    int64  `json:"size"`    // exact byte count of the image
	SHA256  string `json:"sha256"`  // 64 lowercase hex digits
	// SourceURL is http://, https:// or file:// (an absolute local path).
	SourceURL string `json:"source_url"`
	// BlockSize and Blocks are the image's block hash list: the SHA-256
	// (hex) of every BlockSize bytes, the last block short. Agents check
	// each block as they write it, and the leader challenges random
	// blocks on the disk before a node is handed out (image_blocks.go).
	BlockSize int64    `json:"block_size,omitempty"`
	Blocks    []string `json:"blocks,omitempty"`
	// Owner is the tenant that added the image, which only it sees and
	// runs ("": the admins' public catalog; tenantimage.go).
	Owner string `json:"owner,omitempty"`
}

// String names the image as name@version (Ref is the catalog key).
func (i Image) String() string { return i.Name + "@" + i.Version }

// Ref is "name:version".
func (i Image) Ref() string { return i.Name + ":" + i.Version }

// LedgerEntry is one step of a node's chain of custody: what was done,
// by whom, for which tenancy, and the evidence measured. Entries of a node
// are numbered (Seq) and chained: each carries the hash of the one before
// (Prev) and its own (Hash, see ComputeHash), so a removed, reordered or
// edited entry breaks the chain (VerifyChain). Entries written before the
// chain existed have Seq 0 and no hashes.
type LedgerEntry struct {
	Time     time.Time `json:"time"`
	Step     string    `json:"step"` // erase, firmware, partition, image, cleaned, down, up, quarantine, drain, undrain, ...
	Actor    string    `json:"actor"`
	OK       bool      `json:"ok"`
	Evidence string    `json:"evidence"`
	JobID    uint64    `json:"job_id,omitempty"`
	// Tenant is the tenant of JobID: whose tenancy the step belongs to.
	Tenant string `json:"tenant,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	Prev   string `json:"prev,omitempty"`
	Hash   string `json:"hash,omitempty"`
	// Start and End are when the step (the attempt, the check, the
	// cleaning) began and ended; an instant event has Start == End ==
	// Time. Entries written before they existed have neither, and their
	// hash does not cover them (see ComputeHash), so old chains verify.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
}

// InterruptedSuffix ends the step of an attempt that was dispatched and
// then lost (its agent died or was replaced, its node went down or was
// quarantined, it timed out): "erase:interrupted", "handout-check:interrupted".
const InterruptedSuffix = ":interrupted"

// Interrupted is the ledger step of an interrupted attempt at step.
func Interrupted(step string) string { return step + InterruptedSuffix }

// ComputeHash is the SHA-256 (hex) of every field but Hash, each written
// with its length so no two entries encode alike. Fields added after the
// chain existed (Start, End) follow as tagged pairs, and only when they
// are set: an entry without them hashes exactly as older versions hashed
// it, and a tag names each value, so one optional field cannot pass for
// another.
func (e LedgerEntry) ComputeHash() string {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	num := func(v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		field(n[:])
	}
	num(e.Seq)
	field([]byte(e.Time.UTC().Format(time.RFC3339Nano)))
	field([]byte(e.Step))
	field([]byte(e.Actor))
	ok := uint64(0)
	if e.OK {
		ok = 1
	}
	num(ok)
	field([]byte(e.Evidence))
	num(e.JobID)
	field([]byte(e.Tenant))
	field([]byte(e.Prev))
	optTime := func(tag string, t time.Time) {
		if !t.IsZero() {
			field([]byte(tag))
			field([]byte(t.UTC().Format(time.RFC3339Nano)))
		}
	}
	optTime("start", e.Start)
	optTime("end", e.End)
	return hex.EncodeToString(h.Sum(nil))
}

// RedactedTenant replaces another tenant's name in a tenant's view of a
// node's history. Such an entry's hash cannot be recomputed by the reader,
// but it still links the chain (VerifyChain checks Prev against it).
const RedactedTenant = "(other)"

// VerifyChain checks a run of one node's entries in order: each hash
// matches its entry (but for redacted ones), each Prev is the hash before it and the numbers run
// without a gap. Entries from before the chain (Seq 0) are skipped; the
// first chained entry's Prev cannot be checked (its predecessor may have
// been archived away). It returns how many entries it verified.
func VerifyChain(entries []LedgerEntry) (int, error) {
	verified := 0
	var last *LedgerEntry
	for i := range entries {
		e := &entries[i]
		if e.Seq == 0 {
			continue
		}
		if got := e.ComputeHash(); got != e.Hash && e.Tenant != RedactedTenant {
			return verified, fmt.Errorf("entry %d (%s at %s) does not match its hash: it was changed", e.Seq, e.Step, e.Time.Format(time.RFC3339))
		}
		if !e.Start.IsZero() && e.End.Before(e.Start) {
			return verified, fmt.Errorf("entry %d (%s) ends at %s, before it starts at %s", e.Seq, e.Step, e.End.Format(time.RFC3339Nano), e.Start.Format(time.RFC3339Nano))
		}
		if last != nil {
			if e.Seq != last.Seq+1 {
				return verified, fmt.Errorf("entries %d to %d are missing after entry %d", last.Seq+1, e.Seq-1, last.Seq)
			}
			if e.Prev != last.Hash {
				return verified, fmt.Errorf("entry %d does not follow entry %d: the chain was rewritten", e.Seq, last.Seq)
			}
		}
		last = e
		verified++
	}
	return verified, nil
}

// NodeTask is the agent task a node is working on.
type NodeTask struct {
	ID      string    `json:"id"`
	Kind    TaskKind  `json:"kind"`
	Image   string    `json:"image,omitempty"`
	Started time.Time `json:"started"`
	// Challenge is what the leader chose to check when it started the
	// task (challenge.go); tasks from before challenges have none.
	Challenge *Challenge `json:"challenge,omitempty"`
	// Profile is the firmware profile a TaskFirmwareProfile applies.
	Profile string `json:"profile,omitempty"`
}

// ClusterSecrets are created once at bootstrap and replicated so that any
// leader can enroll agents: the CA that signs agent and server
// certificates, and the gossip encryption key.
//
// In the replicated state the two secrets are sealed (CAKeySealed,
// GossipKeySealed) under the servers' key-encryption key, which never
// enters raft (server/secretkey), and CAKeyPEM and GossipKey are empty;
// each server opens them with its own key file when it needs them. States
// written before sealing (#13.8) hold them in the clear until a leader
// seals them (fsm.ResealClusterSecrets).
type ClusterSecrets struct {
	CACertPEM string `json:"ca_cert_pem"`
	CAKeyPEM  string `json:"ca_key_pem"`
	GossipKey string `json:"gossip_key"` // base64, 32 bytes
	// --- sec: sealed secrets (#13.8) ---
	CAKeySealed     Sealed `json:"ca_key_sealed,omitzero"`
	GossipKeySealed Sealed `json:"gossip_key_sealed,omitzero"`
}

// Reruns is what an agent that restarted in the middle of a task says
// about it when it runs the task again from scratch (its journal showed
// the task started and never finished): how many runs died, when the
// last of them began and when this one did, by the agent's clock. The
// server records them as an interrupted entry before the task's result
// (RerunSpan): an attempt lost with the agent process is not hidden
// inside the task's longer span.
type Reruns struct {
	Interrupted int       `json:"interrupted"`
	LastStarted time.Time `json:"last_started"`
	Again       time.Time `json:"again"`
}

// maxReruns bounds Reruns.Interrupted in an answer.
const maxReruns = 1 << 20

// RerunSpan is the interrupted entry's span for r: the agent's times,
// held within the task's own span on the server's clock (from when the
// leader started the task to when its result came), so an agent's clock
// cannot move the entry outside the attempt it belongs to.
func (r Reruns) RerunSpan(taskStarted, resultAt time.Time) (start, end time.Time) {
	clamp := func(t time.Time) time.Time {
		if t.Before(taskStarted) {
			return taskStarted
		}
		if t.After(resultAt) {
			return resultAt
		}
		return t
	}
	start, end = clamp(r.LastStarted), clamp(r.Again)
	if end.Before(start) {
		end = start
	}
	return start, end
}

// IsSealed reports whether the secrets are in their sealed form.
func (c ClusterSecrets) IsSealed() bool { return c.CAKeySealed.KeyID != "" }
