package model

import (
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// NodeBMC is a node's baseboard management controller as the control plane
// holds it: where it is, which system of it is the node, the CA its
// certificate must chain to, and the login, sealed. The login is never
// stored in the clear: Credentials is AES-GCM under a key-encryption key
// that each server keeps outside the replicated state (see
// server/secretkey), bound to this node and endpoint (BMCCredentialsAAD),
// so a sealed login copied to another node's record does not open.
type NodeBMC struct {
	Endpoint string `json:"endpoint"`
	SystemID string `json:"system_id,omitempty"`
	// CAPEM pins the CA of the BMC's certificate ("" : the system roots).
	CAPEM       string    `json:"ca_pem,omitempty"`
	Credentials Sealed    `json:"credentials"`
	SetBy       string    `json:"set_by,omitempty"`
	SetAt       time.Time `json:"set_at,omitzero"`
}

// Sealed is a secret encrypted under the key-encryption key KeyID: the
// 12-byte GCM nonce followed by the ciphertext and tag.
type Sealed struct {
	KeyID string `json:"key_id"`
	Box   []byte `json:"box"`
}

// Byte limits of a BMC registration. Endpoints and system ids end up in
// URLs, log lines and ledger evidence; a login is short; a CA bundle of a
// few certificates fits in 64 KiB.
const (
	MaxBMCEndpointBytes = 256
	MaxBMCSystemIDBytes = 64
	MaxBMCCABytes       = 64 << 10
	MaxBMCLoginBytes    = 256 // username, and password, each
	MaxSealedBytes      = 4 << 10
	MaxKeyIDBytes       = 64
)

// ErrInvalidBMC is wrapped by every BMC validation error.
var ErrInvalidBMC = errors.New("invalid BMC")

// ValidateBMCEndpoint accepts an http(s) base URL: scheme, host and
// optional port, no credentials, path, query or fragment, printable ASCII
// of at most MaxBMCEndpointBytes. Its errors quote the endpoint only when
// it cannot hold a password (no '@').
func ValidateBMCEndpoint(ep string) error {
	shown := fmt.Sprintf("%q", ep)
	if strings.Contains(ep, "@") {
		shown = "(not shown: it contains '@')"
	}
	if ep == "" || len(ep) > MaxBMCEndpointBytes {
		return fmt.Errorf("%w: endpoint is %d bytes, want 1..%d", ErrInvalidBMC, len(ep), MaxBMCEndpointBytes)
	}
	for i := 0; i < len(ep); i++ {
		if ep[i] <= ' ' || ep[i] >= 0x7f {
			return fmt.Errorf("%w: endpoint has a space, control or non-ASCII byte at %d", ErrInvalidBMC, i)
		}
	}
	u, err := url.Parse(ep)
	if err != nil {
		return fmt.Errorf("%w: endpoint %s is not a URL", ErrInvalidBMC, shown)
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("%w: endpoint must not carry credentials; give them with --credentials-file", ErrInvalidBMC)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%w: endpoint %s must start with https:// (or http://)", ErrInvalidBMC, shown)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%w: endpoint %s has no host", ErrInvalidBMC, shown)
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(ep, "#"):
		return fmt.Errorf("%w: endpoint %s must be a base URL such as https://10.0.0.17, without path, query or fragment", ErrInvalidBMC, shown)
	}
	if p := u.Port(); p != "" {
		n := 0
		for _, c := range p {
			n = n*10 + int(c-'0')
			if n > 65535 {
				break
			}
		}
		if n == 0 || n > 65535 {
			return fmt.Errorf("%w: endpoint %s: port %s out of range", ErrInvalidBMC, shown, p)
		}
	}
	return nil
}

// ValidateBMCSystemID accepts "" (the BMC's only system) or a Redfish
// ComputerSystem Id: 1..64 of [A-Za-z0-9._-], starting with a letter or
// digit, no "..": it becomes a URL path segment.
func ValidateBMCSystemID(id string) error {
	if id == "" {
		return nil
	}
	if len(id) > MaxBMCSystemIDBytes {
		return fmt.Errorf("%w: system id is %d bytes, the limit is %d", ErrInvalidBMC, len(id), MaxBMCSystemIDBytes)
	}
	if !isAlnum(id[0]) {
		return fmt.Errorf("%w: system id %q must start with a letter or digit", ErrInvalidBMC, id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w: system id %q: character %q not allowed (A-Z a-z 0-9 . _ -)", ErrInvalidBMC, id, c)
		}
	}
	if strings.Contains(id, "..") {
		return fmt.Errorf("%w: system id %q: \"..\" not allowed", ErrInvalidBMC, id)
	}
	return nil
}

// ValidateBMCCA accepts "" or PEM holding at least one CERTIFICATE block
// and nothing else, at most MaxBMCCABytes. It checks the shape; the TLS
// stack parses the certificates when it uses them.
func ValidateBMCCA(caPEM string) error {
	if caPEM == "" {
		return nil
	}
	if len(caPEM) > MaxBMCCABytes {
		return fmt.Errorf("%w: CA file is %d bytes, the limit is %d", ErrInvalidBMC, len(caPEM), MaxBMCCABytes)
	}
	rest, n := []byte(caPEM), 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("%w: CA file holds a %q block; want only CERTIFICATE blocks (never a key)", ErrInvalidBMC, b.Type)
		}
		n++
	}
	if n == 0 || strings.TrimSpace(string(rest)) != "" {
		return fmt.Errorf("%w: CA file is not PEM certificates", ErrInvalidBMC)
	}
	return nil
}

// Validate checks a registration as the state machine stores it.
func (b NodeBMC) Validate() error {
	if err := ValidateBMCEndpoint(b.Endpoint); err != nil {
		return err
	}
	if err := ValidateBMCSystemID(b.SystemID); err != nil {
		return err
	}
	if err := ValidateBMCCA(b.CAPEM); err != nil {
		return err
	}
	c := b.Credentials
	if c.KeyID == "" || len(c.KeyID) > MaxKeyIDBytes || len(c.Box) == 0 || len(c.Box) > MaxSealedBytes {
		return fmt.Errorf("%w: sealed credentials missing or oversized (key id %d bytes, box %d bytes)", ErrInvalidBMC, len(c.KeyID), len(c.Box))
	}
	return nil
}

// BMCCredentialsAAD is the additional data a node's sealed BMC login is
// bound to: the node, the endpoint and the system. Opening it for another
// node or another BMC fails.
func BMCCredentialsAAD(node, endpoint, systemID string) []byte {
	return []byte("ibex bmc credentials\x00" + node + "\x00" + endpoint + "\x00" + systemID)
}

// Describe is the registration for display: never the login.
func (b NodeBMC) Describe() string {
	s := b.Endpoint
	if b.SystemID != "" {
		s += " system " + b.SystemID
	}
	s += ", credentials: set (key " + b.Credentials.KeyID + ")"
	if b.CAPEM != "" {
		s += ", CA pinned"
	}
	return s
}
