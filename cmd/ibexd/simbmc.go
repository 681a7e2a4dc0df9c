package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/server"
)

// Simulated BMCs (--sim-bmc, issue #14.7): every simulated node gets a
// Redfish BMC (a redfishmock server in this process, simnode/bmc.go) whose
// power is the node's: ForceOff stops the node's agent and kills its jobs,
// a boot starts a fresh agent in the deploy ramdisk (one-time PXE, UEFI
// HTTP or virtual media) or from the disk, which then reports the digest
// of the image it finds there. The BMCs are registered with the control
// plane like real ones (`ibex nodes bmc set`, through the admin API), so
// every job's nodes are deployed through them: power cycle into the
// ramdisk, the agent writes and verifies the job's image, boot to disk,
// check-in on the image, then the job, then cleaning.
//
// Each BMC listens on a loopback address of its own, 127.77.X.Y (node i:
// X = i/250, Y = i%250+1), at the API port + 5: the same on every restart
// with the same flags, so the registrations in the replicated state stay
// right across restarts of `ibexd --dev`.

var simBMCFlag = &ucli.BoolFlag{Name: "sim-bmc", Usage: "give every simulated node a Redfish BMC (in-process mock) that switches its agent: deployments power-cycle nodes into their ramdisk, write the job's image and boot it (needs --sim-agents)"}

// simBMCPortOffset is the BMCs' port: the API port plus this.
const simBMCPortOffset = 5

// simBMCAddr is node i's BMC listen address.
func simBMCAddr(i, port int) string {
	return net.JoinHostPort(fmt.Sprintf("127.77.%d.%d", i/250, i%250+1), strconv.Itoa(port))
}

// serveSimBMCs starts the BMCs and registers every one the control plane
// does not have at its address yet.
func (a *simAgents) serveSimBMCs(ctx context.Context, cfg server.Config) error {
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p+simBMCPortOffset > 65535 {
		return fmt.Errorf("--sim-bmc: the simulated BMCs listen at the API port + %d, and --listen %q has no usable port", simBMCPortOffset, cfg.Listen)
	}
	bmcs, err := a.fleet.ServeBMCs(ctx, func(i int, _ *simnode.Node) string { return simBMCAddr(i, p+simBMCPortOffset) })
	if err != nil {
		return fmt.Errorf("--sim-bmc: %w", err)
	}
	start, registered := time.Now(), 0
	for _, b := range bmcs {
		did, err := registerSimBMC(ctx, a.client, a.root, b)
		if err != nil {
			return fmt.Errorf("--sim-bmc: register %s's BMC: %w", b.Node.Name, err)
		}
		if did {
			registered++
		}
	}
	a.log.Info("simulated BMCs up", "nodes", len(bmcs), "registered", registered, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// registerSimBMC registers b with the control plane, as an operator would
// with `ibex nodes bmc set`, unless it is registered at its endpoint
// already (a restart). It reports whether it registered.
func registerSimBMC(ctx context.Context, cl *client.Client, root string, b *simnode.BMC) (bool, error) {
	d, err := cl.Fleet.NodeDetail(cl.Context(ctx), &pb.NodeDetailRequest{Node: b.Node.Name})
	if err != nil {
		return false, err
	}
	if d.GetBmc().GetEndpoint() == b.Endpoint {
		return false, nil
	}
	pass, err := simnode.BMCPassword(root, b.Node.Name)
	if err != nil {
		return false, err
	}
	_, err = cl.Nodes.SetBMC(cl.Context(ctx), &pb.SetBMCRequest{Node: b.Node.Name, Endpoint: b.Endpoint, Username: simnode.BMCUser, Password: pass})
	return err == nil, err
}
