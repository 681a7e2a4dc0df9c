package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/ibex-hpc/ibex/fabric/health"
	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/opensm"
	"github.com/ibex-hpc/ibex/fabric/sm/simsm"
	"github.com/ibex-hpc/ibex/fabric/sm/ufm"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
	"github.com/ibex-hpc/ibex/server"
	"github.com/ibex-hpc/ibex/server/fabricview"
)

// Fabric modes for Config.FabricMode.
const (
	FabricSim   = "sim"   // simulated subnet manager in memory
	FabricIBSim = "ibsim" // real OpenSM on an ibsim-simulated fabric
	FabricOff   = "off"   // no partitions at all
	FabricUFM   = "ufm"   // NVIDIA UFM's REST API (UFMURL, UFMUser, UFMPasswordFile)
)

// fabricFlags are the flags that pick the subnet manager.
type fabricFlags struct {
	Mode                             string
	DataDir                          string
	UFMURL, UFMUser, UFMPasswordFile string
}

func (f fabricFlags) validate() error {
	switch f.Mode {
	case FabricSim, FabricIBSim, FabricOff:
	case FabricUFM:
		if f.UFMURL == "" || f.UFMUser == "" || f.UFMPasswordFile == "" {
			return errors.New("--fabric=ufm needs --ufm-url, --ufm-user and --ufm-password-file")
		}
		if st, err := os.Stat(f.UFMPasswordFile); err != nil {
			return fmt.Errorf("--ufm-password-file: %w", err)
		} else if st.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("--ufm-password-file %s is readable by others (mode %o): chmod 600 it", f.UFMPasswordFile, st.Mode().Perm())
		}
	default:
		return fmt.Errorf("fabric %q: want sim, ibsim, ufm or off", f.Mode)
	}
	return nil
}

// setupUFM drives partitions through NVIDIA UFM's REST API.
func setupUFM(f fabricFlags, cfg *server.Config, log *slog.Logger) error {
	pw, err := os.ReadFile(f.UFMPasswordFile)
	if err != nil {
		return fmt.Errorf("--ufm-password-file: %w", err)
	}
	client := &ufm.Client{BaseURL: f.UFMURL, Username: f.UFMUser, Password: strings.TrimSpace(string(pw))}
	keys, err := cfg.Keys.WithDefaults()
	if err != nil {
		return err
	}
	d, err := ufm.New(ufm.Config{Client: client, Min: sm.PKey(keys.Min), Max: sm.PKey(keys.Max), Rules: sm.TenantIsolation})
	if err != nil {
		return err
	}
	if cfg.Isolation != "" {
		// Every multi-node job would be refused at submission.
		return fmt.Errorf("--isolation %s: %s", cfg.Isolation, d.NoRoutesReason())
	}
	cfg.SM = d
	log.Info("fabric: NVIDIA UFM", "url", f.UFMURL, "keys", keys.String())
	return nil
}

// setupFabric starts the subnet manager f asks for and hands it, the
// simulated hosts with their port GUIDs and (on ibsim) the fabric-health
// collector to the server's config. Both simulated fabrics number hosts
// like fabric/ibsim does, so host i has port GUID ibsim.HostPortGUID(i).
// stop ends what it started (the ibsim fabric and its OpenSM). raw, on
// ibsim, reads the ports' raw P_Key tables (for simnode.Mirror).
func setupFabric(ctx context.Context, f fabricFlags, cfg *server.Config, log *slog.Logger) (stop func(), raw simnode.RawTables, err error) {
	stop = func() {}
	if err := f.validate(); err != nil {
		return stop, nil, err
	}
	var hosts []fabricview.Host
	for i, h := range cfg.Fabric.Hosts() {
		hosts = append(hosts, fabricview.Host{Host: h, Ports: []sm.GUID{sm.GUID(ibsim.HostPortGUID(i + 1))}})
	}
	cfg.Hosts = hosts
	var guids []sm.GUID
	for _, h := range hosts {
		guids = append(guids, h.Ports...)
	}
	switch f.Mode {
	case FabricOff:
		return stop, nil, nil
	case FabricUFM:
		return stop, nil, setupUFM(f, cfg, log)
	case FabricIBSim:
		if err := ibsim.Available(); err != nil {
			log.Warn("--fabric=ibsim needs OpenSM and ibsim; falling back to the simulated subnet manager", "missing", err.Error())
			break
		}
		dir := filepath.Join(f.DataDir, "fabric")
		os.RemoveAll(dir) // the simulated fabric starts afresh; partitions come from the state
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return stop, nil, err
		}
		initial, err := opensm.Render(nil, sm.TenantIsolation)
		if err != nil {
			return stop, nil, err
		}
		top := ibsim.Topology{Spines: cfg.Fabric.Spines, Leaves: cfg.Fabric.Leaves, HostsPerLeaf: cfg.Fabric.NodesPerLeaf}
		fab, err := ibsim.Start(ctx, ibsim.Config{Topology: top, Dir: dir, Partitions: initial, FileRouting: true})
		if err != nil {
			return stop, nil, fmt.Errorf("start ibsim fabric: %w", err)
		}
		d, err := opensm.New(opensm.Config{
			PartitionsFile: fab.PartitionsFile,
			Rules:          sm.TenantIsolation,
			Reload:         func(context.Context) error { return fab.ReloadSM() },
			Reader:         opensm.ReaderFunc(fab.Tables),
			Logf:           func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...), "component", "opensm") },
			Routes:         ibsimRoutes(fab),
		})
		if err != nil {
			fab.Stop()
			return stop, nil, err
		}
		// Operators (and tests) attach diagnostic tools to this fabric with
		// IBSIM_SOCKNAME=$(cat sockname) LD_PRELOAD=libumad2sim.so.
		if err := os.WriteFile(filepath.Join(dir, "sockname"), []byte(fab.SockName+"\n"), 0o644); err != nil {
			log.Warn("write fabric socket name", "err", err)
		}
		run := fab.Run
		cfg.SM = d
		cfg.Health = &health.Collector{Discover: &health.IBNetDiscover{Run: run}, Counters: &health.PerfQuery{Run: run, Extended: true}, States: &health.SMPQuery{Run: run}}
		log.Info("fabric: real OpenSM on an ibsim fabric", "dir", dir, "hosts", len(hosts))
		// OpenSM is restarted when it dies; it dies with ibexd (even on
		// SIGKILL: the fabric's processes carry a parent-death signal).
		sctx, scancel := context.WithCancel(ctx)
		go fab.Supervise(sctx, func(format string, args ...any) {
			log.Warn(fmt.Sprintf(format, args...), "component", "opensm")
		})
		return func() { scancel(); fab.Stop() }, ibsimRaw(fab), nil
	}
	sim := simsm.New(guids, sm.TenantIsolation)
	cfg.SM = sim
	if rf, err := simRouteFabric(cfg.Fabric); err != nil {
		log.Warn("simulated subnet manager without switches: link isolation is not routed", "err", err)
	} else if routed, err := simsm.NewRouted(sim, rf); err != nil {
		log.Warn("simulated subnet manager without switches: link isolation is not routed", "err", err)
	} else {
		cfg.SM = routed
	}
	return stop, nil, nil
}

// ibsimRaw reads raw P_Key tables from the ibsim fabric's ports, slot
// indexes and holes as OpenSM left them.
func ibsimRaw(fab *ibsim.Fabric) simnode.RawTables {
	return func(ctx context.Context, ports []sm.GUID) (map[sm.GUID][]uint16, error) {
		ids := make([]uint64, len(ports))
		for i, g := range ports {
			ids[i] = uint64(g)
		}
		tables, err := fab.PKeyTables(ctx, ids)
		out := make(map[sm.GUID][]uint16, len(tables))
		for g, t := range tables {
			out[sm.GUID(g)] = t
		}
		return out, err
	}
}
