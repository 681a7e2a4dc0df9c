package model

import "time"

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
}

// String names the image as name@version (Ref is the catalog key).
func (i Image) String() string { return i.Name + "@" + i.Version }

// Ref is "name:version".
func (i Image) Ref() string { return i.Name + ":" + i.Version }

// LedgerEntry is one step of a node's chain of custody: what was done,
// by whom, and the evidence measured.
type LedgerEntry struct {
	Time     time.Time `json:"time"`
	Step     string    `json:"step"` // erase, firmware, partition, image, cleaned, down, up, quarantine, ...
	Actor    string    `json:"actor"`
	OK       bool      `json:"ok"`
	Evidence string    `json:"evidence"`
	JobID    uint64    `json:"job_id,omitempty"`
}

// NodeTask is the agent task a node is working on.
type NodeTask struct {
	ID      string    `json:"id"`
	Kind    TaskKind  `json:"kind"`
	Image   string    `json:"image,omitempty"`
	Started time.Time `json:"started"`
}

// ClusterSecrets are created once at bootstrap and replicated so that any
// leader can enroll agents: the CA that signs agent and server
// certificates, and the gossip encryption key.
type ClusterSecrets struct {
	CACertPEM string `json:"ca_cert_pem"`
	CAKeyPEM  string `json:"ca_key_pem"`
	GossipKey string `json:"gossip_key"` // base64, 32 bytes
}
