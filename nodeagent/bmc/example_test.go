package bmc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/ibex-hpc/ibex/nodeagent/bmc"
	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

// PXE-boot a node once: set the one-time boot target, then power-cycle.
// Firmware versions the BMC does not know are read in-band instead.
func ExampleDial() {
	srv, err := redfishmock.New("../../testdata/redfish/dmtf-publications/public-tower",
		redfishmock.Options{Username: "admin", Password: "example-pw"})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	// In production: cfg.LoadCredentials("/etc/ibex/bmc-credentials.json").
	cfg := bmc.Config{Endpoint: ts.URL, Username: "admin", Password: "example-pw"}
	ctx := context.Background()
	var node bmc.BMC
	node, err = bmc.Dial(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer node.Close()

	if err := node.SetOneTimeBoot(ctx, bmc.BootPxe); err != nil {
		panic(err)
	}
	if err := node.Reset(ctx, bmc.ResetForceRestart); err != nil {
		panic(err)
	}
	fw, err := node.FirmwareInventory(ctx)
	if errors.Is(err, bmc.ErrUnsupported) {
		fw = nil // no UpdateService: read everything in-band
	} else if err != nil {
		panic(err)
	}
	for _, f := range fw {
		fmt.Println(f.ID, f.Version, f.Known)
	}
	// Output:
	// BIOS P79 v1.45 true
	// BMC 1.45.455b66-rev4 true
}
