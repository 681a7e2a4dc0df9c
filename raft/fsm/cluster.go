package fsm

import (
	"time"

	"github.com/ibex-hpc/ibex/fabric/placement"
	"github.com/ibex-hpc/ibex/model"
)

// Commands about the cluster as a whole: its servers, tenants, secrets
// and imported fabric topology.

// RegisterServer records a server's addresses (idempotent; the latest wins).
type RegisterServer struct {
	Server model.Server `json:"server"`
}

// DeregisterServer forgets a removed server.
type DeregisterServer struct {
	ID string `json:"id"`
}

// CreateTenant adds a tenant with the digest of its bearer token.
type CreateTenant struct {
	Tenant model.Tenant `json:"tenant"`
}

// SetClusterSecrets stores the CA and gossip key, once: sealed
// (sealedsecrets.go), or in the clear in logs written before sealing.
type SetClusterSecrets struct {
	Secrets model.ClusterSecrets `json:"secrets"`
}

// ImportTopology stores a validated ibnetdiscover dump (the server parsed
// it before proposing) and registers Hosts as nodes with their leaf
// switches (simulated clusters; on real machines Hosts is empty, nodes
// come from enrollment). Places are the dump's hosts with their port
// GUIDs: real machines' nodes are placed on them again (placement.go).
type ImportTopology struct {
	Text    string           `json:"text"`
	NameMap string           `json:"name_map,omitempty"`
	Hosts   []NodeSpec       `json:"hosts"`
	Places  []placement.Host `json:"places,omitempty"`
	Time    time.Time        `json:"time"`
	// Infra are the dump's hosts the server classified as infrastructure,
	// with why (see infra.go).
	Infra []InfraHost `json:"infra,omitempty"`
	// Replace makes Hosts the node set of a simulated cluster: nodes not
	// among them are drained, and those an earlier import drained that
	// are back are returned.
	Replace bool `json:"replace,omitempty"`
	Origin
}

func (RegisterServer) Type() CommandType    { return CmdRegisterServer }
func (DeregisterServer) Type() CommandType  { return CmdDeregisterServer }
func (CreateTenant) Type() CommandType      { return CmdCreateTenant }
func (SetClusterSecrets) Type() CommandType { return CmdSetClusterSecrets }
func (ImportTopology) Type() CommandType    { return CmdImportTopology }

func init() {
	registerE(CmdRegisterServer, (*State).registerServer)
	registerE(CmdDeregisterServer, (*State).deregisterServer)
	registerE(CmdCreateTenant, (*State).createTenant)
	registerE(CmdSetClusterSecrets, (*State).setClusterSecrets)
	registerE(CmdImportTopology, (*State).importTopology)
}

func (s *State) registerServer(c *RegisterServer) error {
	if c.Server.ID == "" || c.Server.APIAddr == "" {
		return errorf(ErrInvalid, "server needs an id and an API address")
	}
	sv := c.Server
	s.Servers[sv.ID] = &sv
	return nil
}

func (s *State) deregisterServer(c *DeregisterServer) error {
	delete(s.Servers, c.ID)
	return nil
}

func (s *State) createTenant(c *CreateTenant) error {
	t := c.Tenant
	if t.Name == "" || t.TokenHash == "" {
		return errorf(ErrInvalid, "tenant needs a name and a token")
	}
	if _, ok := s.Tenants[t.Name]; ok {
		return errorf(ErrConflict, "tenant %q already exists", t.Name)
	}
	if s.TenantByTokenHash(t.TokenHash) != nil {
		return errorf(ErrConflict, "token already in use")
	}
	s.Tenants[t.Name] = &t
	return nil
}

func (s *State) setClusterSecrets(c *SetClusterSecrets) error {
	if s.Secrets.CACertPEM != "" {
		return errorf(ErrConflict, "cluster secrets already set")
	}
	if err := validSecrets(c.Secrets); err != nil {
		return err
	}
	s.Secrets = c.Secrets
	return nil
}

func (s *State) importTopology(c *ImportTopology) error {
	if c.Text == "" || len(c.Hosts) == 0 && len(c.Places) == 0 {
		return errorf(ErrInvalid, "topology has no hosts")
	}
	if err := s.registerNodes(&RegisterNodes{Nodes: c.Hosts, Time: c.Time}); err != nil {
		return err
	}
	s.Topology = Topology{Text: c.Text, NameMap: c.NameMap, Hosts: c.Places, Infra: c.Infra}
	s.topoIdx, s.topoInfra = nil, nil
	s.classifyNodes(c)
	s.placeAll(c.Origin, c.Time)
	return nil
}
