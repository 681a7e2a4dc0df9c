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

// Boot a node once from an ISO through the BMC's virtual CD, in UEFI mode
// even where the BMC's boot override is in Legacy mode.
func ExampleVirtualMedia() {
	srv, err := redfishmock.New("../../testdata/redfish/handwritten/vmedia-server", redfishmock.Options{})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx := context.Background()
	node, err := bmc.Dial(ctx, bmc.Config{Endpoint: ts.URL})
	if err != nil {
		panic(err)
	}
	defer node.Close()

	var vm bmc.VirtualMedia = node
	if err := vm.InsertMedia(ctx, "https://images.example/ramdisk.iso"); err != nil {
		panic(err)
	}
	if err := node.SetOneTimeBoot(ctx, bmc.BootCd); err != nil {
		panic(err)
	}
	if err := node.Reset(ctx, bmc.ResetPowerCycle); err != nil { // ForceOff, then On: the BMC offers no restart
		panic(err)
	}
	boot, _ := srv.Resource("/redfish/v1/Systems/system")
	fmt.Println(boot["Boot"].(map[string]any)["BootSourceOverrideMode"])
	for _, r := range srv.Resets() {
		fmt.Println(r.ResetType)
	}
	// Output:
	// UEFI
	// ForceOff
	// On
}
