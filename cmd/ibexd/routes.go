package main

import (
	"bytes"
	"context"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/route"
	"github.com/ibex-hpc/ibex/fabric/sm/opensm"
	"github.com/ibex-hpc/ibex/fabric/topology"
)

// Link isolation in the forwarding tables (server/control/routes.go):
// both simulated fabrics can load the tables ibex computes.

// ibsimRoutes points the OpenSM driver at the ibsim fabric's lfts_file
// (OpenSM runs the file routing engine there, ibsim.Config.FileRouting)
// and reads tables and topology back with the diags tools.
func ibsimRoutes(fab *ibsim.Fabric) *opensm.RoutesConfig {
	return &opensm.RoutesConfig{
		LFTsFile: fab.LFTsFile,
		ReadLFTs: func(ctx context.Context) ([]byte, error) { return fab.Run(ctx, "dump_fts") },
		Discover: func(ctx context.Context) ([]byte, error) { return fab.Run(ctx, "ibnetdiscover") },
	}
}

// simRouteFabric is the generated fat tree's switches and ports as the
// ibsim fabric of the same shape has them (same GUIDs, switch names
// leaf01.., spine01..), with LIDs in a fixed order, for the simulated SM.
func simRouteFabric(ft topology.FatTree) (*route.Fabric, error) {
	top := ibsim.Topology{Spines: ft.Spines, Leaves: ft.Leaves, HostsPerLeaf: ft.NodesPerLeaf}
	nf, err := ibnet.Parse(bytes.NewReader(top.NetFile()))
	if err != nil {
		return nil, err
	}
	f, err := route.FromIBNet(nf)
	if err != nil {
		return nil, err
	}
	f.AssignLIDs()
	return f, nil
}
