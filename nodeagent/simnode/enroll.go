package simnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Enroller is what an operator does for a real node: tell whether the
// control plane has the node's agent on record, and create a one-time
// join token for it with the CA pin the agent must trust (`ibex agent
// token NODE`).
type Enroller interface {
	Known(ctx context.Context, node string) (bool, error)
	JoinToken(ctx context.Context, node string) (token, caPin string, err error)
}

// TokenTTL is how long a simulated node's join token is valid: it is used
// at once.
const TokenTTL = 10 * time.Minute

// AdminAPI enrolls simulated nodes through ibexd's admin API (the Fleet
// service), with an admin's client, exactly as an operator would.
type AdminAPI struct{ Client *client.Client }

// notEnrolled is NodeDetail's agent status of a node without an agent.
const notEnrolled = "not enrolled"

// Known asks NodeDetail for the node's agent status.
func (a AdminAPI) Known(ctx context.Context, node string) (bool, error) {
	d, err := a.Client.Fleet.NodeDetail(a.Client.Context(ctx), &pb.NodeDetailRequest{Node: node})
	if err != nil {
		return false, fmt.Errorf("node detail: %w", err)
	}
	return d.GetAgent() != notEnrolled, nil
}

// JoinToken calls Fleet.CreateJoinToken.
func (a AdminAPI) JoinToken(ctx context.Context, node string) (string, string, error) {
	r, err := a.Client.Fleet.CreateJoinToken(a.Client.Context(ctx), &pb.CreateJoinTokenRequest{Node: node, Ttl: durationpb.New(TokenTTL)})
	if err != nil {
		return "", "", fmt.Errorf("create join token: %w", err)
	}
	if r.GetToken() == "" || r.GetCaPin() == "" {
		return "", "", errors.New("create join token: the answer has no token or no CA pin")
	}
	return r.GetToken(), r.GetCaPin(), nil
}

// Handed is an Enroller for a node that was given its join token, as an
// operator hands one to a real node (`ibex agent token NODE` elsewhere):
// it cannot ask the control plane, so a stored certificate is kept.
type Handed struct{ Token, CAPin string }

// Known reports true: a node with a stored certificate keeps it.
func (h Handed) Known(context.Context, string) (bool, error) { return true, nil }

// JoinToken returns the handed token.
func (h Handed) JoinToken(context.Context, string) (string, string, error) {
	if h.Token == "" || h.CAPin == "" {
		return "", "", errors.New("no join token or CA pin handed to the node")
	}
	return h.Token, h.CAPin, nil
}
