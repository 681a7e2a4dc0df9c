package api

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/bmc"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

// SetBMC registers a node's BMC. Everything is checked before anything is
// sealed or proposed (a refused registration writes nothing to raft); the
// login is sealed under the server's key-encryption key, stored only
// sealed, and never logged or returned.
func (n *nodesService) SetBMC(ctx context.Context, req *pb.SetBMCRequest) (*pb.Node, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	keys := n.a.cfg.Secrets
	if keys == nil {
		return nil, status.Error(codes.FailedPrecondition, "this server has no secrets key file, so it cannot seal a BMC login: "+
			"start every ibexd with the same --secrets-key-file (a single bootstrapping server creates DATADIR/secrets.key)")
	}
	b := model.NodeBMC{Endpoint: strings.TrimSuffix(req.Endpoint, "/"), SystemID: req.SystemId, CAPEM: req.CaPem}
	if err := checkBMCRequest(req, b); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	// The state's verdict before sealing (the FSM asks again).
	var verdict error
	n.a.cfg.Store.Read(func(s *fsm.State) {
		node, ok := s.Nodes[req.Node]
		if !ok {
			verdict = status.Errorf(codes.NotFound, "node %q not found", req.Node)
			return
		}
		b.Credentials = model.Sealed{KeyID: keys.Primary(), Box: []byte{0}} // shape only
		verdict = convert.Status(fsm.CheckSetNodeBMC(node, b))
	})
	if verdict != nil {
		return nil, verdict
	}
	sealed, err := keys.SealBMCLogin(req.Node, b, req.Username, req.Password)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	b.Credentials = sealed
	cmd := &fsm.SetNodeBMC{Node: req.Node, BMC: b, By: auth.Caller(ctx).Name, Time: n.a.cfg.Store.Now()}
	if _, err := n.a.cfg.Store.Apply(ctx, cmd); err != nil {
		return nil, convert.Status(err)
	}
	return n.get(req.Node)
}

// checkBMCRequest validates a registration: the endpoint, system id and CA
// by the state's rules, the CA's certificates parsed, the login bounded
// and printable, and the whole as the BMC client will use it. No message
// quotes the password.
func checkBMCRequest(req *pb.SetBMCRequest, b model.NodeBMC) error {
	if err := model.ValidateBMCEndpoint(b.Endpoint); err != nil {
		return err
	}
	if err := model.ValidateBMCSystemID(b.SystemID); err != nil {
		return err
	}
	if err := model.ValidateBMCCA(b.CAPEM); err != nil {
		return err
	}
	for rest := []byte(b.CAPEM); ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return fmt.Errorf("%w: CA file: a certificate does not parse", model.ErrInvalidBMC)
		}
	}
	if req.Username == "" || req.Password == "" {
		return fmt.Errorf("%w: a BMC login needs a username and a password (--credentials-file)", model.ErrInvalidBMC)
	}
	if err := model.CheckText("BMC username", req.Username, model.MaxBMCLoginBytes); err != nil {
		return fmt.Errorf("%w: %v", model.ErrInvalidBMC, err)
	}
	if len(req.Password) > model.MaxBMCLoginBytes || model.CheckText("password", req.Password, model.MaxBMCLoginBytes) != nil {
		return fmt.Errorf("%w: the BMC password must be printable text of at most %d bytes", model.ErrInvalidBMC, model.MaxBMCLoginBytes)
	}
	cfg := bmc.Config{Endpoint: b.Endpoint, SystemID: b.SystemID, Username: req.Username, Password: bmc.Secret(req.Password)}
	if b.CAPEM != "" {
		cfg.CAPEM = []byte(b.CAPEM)
	}
	return cfg.Validate() // scrubbed of the password
}

// nodeBMC is the admin's view of a node's BMC and provisioning.
func nodeBMC(n *model.Node) *pb.NodeBMC {
	if n.BMC == nil {
		return nil
	}
	out := &pb.NodeBMC{Endpoint: n.BMC.Endpoint, SystemId: n.BMC.SystemID, Credentials: "set", CaPinned: n.BMC.CAPEM != "",
		KeyId: n.BMC.Credentials.KeyID, Provision: string(n.ProvisionState()), SetBy: n.BMC.SetBy, SetAt: convert.TS(n.BMC.SetAt),
		AttemptBudget: model.ProvRetryBudget}
	if p := n.Prov; p != nil {
		out.Step, out.Attempts, out.Since, out.Reason, out.JobId, out.Image = string(p.Step), uint32(p.Attempts), convert.TS(p.Since), p.Reason, p.Job, p.Image
	}
	return out
}
