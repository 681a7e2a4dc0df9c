package fsm

import (
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Commands of the node-agent fleet: join tokens, enrollment and
// revocation, hardware inventory, and the image catalog.

// CreateJoinToken records the digest of a one-time enrollment token.
// Register allows a node name that does not exist yet: the enrollment
// creates it (real machines; placement.go).
type CreateJoinToken struct {
	Node     string    `json:"node"`
	Hash     string    `json:"hash"`
	Expires  time.Time `json:"expires"`
	Register bool      `json:"register,omitempty"`
}

// Enroll consumes a join token and records the agent's certificate.
type Enroll struct {
	Node       string    `json:"node"`
	TokenHash  string    `json:"token_hash"`
	CertSerial string    `json:"cert_serial"`
	Time       time.Time `json:"time"`
	Origin
}

// RevokeAgent refuses the node's certificate from now on and drains it.
type RevokeAgent struct {
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	Time   time.Time `json:"time"`
	Origin
}

// NodeInventory stores an agent's hardware report. Ports are its HCA port
// GUIDs as the gateway parsed them, or PortsError why they could not be:
// a real machine's node is placed (or refused) by them (placement.go).
type NodeInventory struct {
	Node       string    `json:"node"`
	Inventory  string    `json:"inventory"`
	Ports      []uint64  `json:"ports,omitempty"`
	PortsError string    `json:"ports_error,omitempty"`
	Time       time.Time `json:"time,omitzero"`
	Origin
}

// AddImage adds an image to the catalog (name:version is immutable).
type AddImage struct {
	Image model.Image `json:"image"`
}

func (CreateJoinToken) Type() CommandType { return CmdCreateJoinToken }
func (Enroll) Type() CommandType          { return CmdEnroll }
func (RevokeAgent) Type() CommandType     { return CmdRevokeAgent }
func (NodeInventory) Type() CommandType   { return CmdNodeInventory }
func (AddImage) Type() CommandType        { return CmdAddImage }

func init() {
	registerE(CmdCreateJoinToken, (*State).createJoinToken)
	registerE(CmdEnroll, (*State).enroll)
	registerE(CmdRevokeAgent, (*State).revokeAgent)
	registerE(CmdNodeInventory, (*State).nodeInventory)
	registerE(CmdAddImage, (*State).addImage)
}

func (s *State) createJoinToken(c *CreateJoinToken) error {
	if _, ok := s.Nodes[c.Node]; !ok {
		if !c.Register {
			return errorf(ErrNotFound, "node %q", c.Node)
		}
		if !validNodeName(c.Node) {
			return errorf(ErrInvalid, "node name %q: want 1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit", c.Node)
		}
	}
	s.JoinTokens[c.Hash] = JoinToken{Node: c.Node, Expires: c.Expires, Register: c.Register}
	return nil
}

func (s *State) enroll(c *Enroll) error {
	tok, ok := s.JoinTokens[c.TokenHash]
	if !ok || tok.Node != c.Node {
		return errorf(ErrPermissionDenied, "join token not valid for node %q", c.Node)
	}
	delete(s.JoinTokens, c.TokenHash) // single use, even if expired
	if !c.Time.Before(tok.Expires) {
		return errorf(ErrPermissionDenied, "join token for %q expired at %s", c.Node, tok.Expires.Format(time.RFC3339))
	}
	n, ok := s.Nodes[c.Node]
	if !ok && !tok.Register {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if !ok {
		n = newRealNode(c.Node, c.Time)
		s.addNode(n)
	}
	if n.Agent != nil && !n.Agent.Revoked {
		// Re-enrollment replaces the old certificate, which stops working.
		s.Revoked[n.Agent.CertSerial] = "replaced by re-enrollment"
	}
	if n.Agent != nil {
		// The old agent's attempt cannot answer any more (custody.go).
		s.interrupt(n, c.Origin, "the agent re-enrolled with certificate "+c.CertSerial, c.Time)
	}
	n.Agent = &model.Agent{CertSerial: c.CertSerial, EnrolledAt: c.Time}
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "enroll", Actor: "agent", OK: true, Evidence: "certificate serial " + c.CertSerial})
	if n.State == model.NodeReady {
		// Nothing about this node has been verified yet: clean it (erase,
		// firmware, image) before anyone gets it.
		beginCleaning(n, c.Time)
	}
	return nil
}

func (s *State) revokeAgent(c *RevokeAgent) error {
	n, ok := s.Nodes[c.Node]
	if !ok || n.Agent == nil {
		return errorf(ErrNotFound, "no enrolled agent on node %q", c.Node)
	}
	s.interrupt(n, c.Origin, "the agent's certificate was revoked: "+c.Reason, c.Time) // custody.go
	n.Agent.Revoked = true
	s.Revoked[n.Agent.CertSerial] = c.Reason
	n.Drained, n.DrainNote, n.DrainBy, n.DrainTime = true, "agent revoked: "+c.Reason, c.By, c.Time
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "revoke", Actor: c.By, OK: true, Evidence: "certificate " + n.Agent.CertSerial + " revoked: " + c.Reason})
	return nil
}

func (s *State) nodeInventory(c *NodeInventory) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	n.Inventory, n.InventoryAt = c.Inventory, c.Time
	switch {
	case n.Placement == nil: // a simulated node: its place is configured
	case c.PortsError != "":
		s.refuse(n, c.Origin, "its agent's port GUIDs cannot be read: "+c.PortsError, c.Time)
	default:
		n.Placement.Ports = c.Ports
		s.place(n, c.Origin, c.Time)
	}
	return nil
}

func (s *State) addImage(c *AddImage) error {
	if err := s.CheckAddImage(c.Image); err != nil { // tenantimage.go
		return err
	}
	s.Images[c.Image.Ref()] = c.Image
	return nil
}
