package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/opensm"
	"github.com/ibex-hpc/ibex/fabric/sm/simsm"
	"github.com/ibex-hpc/ibex/fabric/sm/ufm"
	"github.com/ibex-hpc/ibex/fabric/topology"
)

// Fabric modes for Config.FabricMode.
const (
	FabricSim   = "sim"   // simulated subnet manager in memory
	FabricIBSim = "ibsim" // real OpenSM on an ibsim-simulated fabric
	FabricOff   = "off"   // no partitions at all
	FabricUFM   = "ufm"   // NVIDIA UFM's REST API (UFMURL, UFMUser, UFMPasswordFile)
)

// simHost is a simulated node with its HCA port GUIDs.
type simHost struct {
	topology.Host
	Ports []sm.GUID
}

// setupFabric starts the subnet manager the config asks for and returns
// the simulated hosts with their port GUIDs. Both simulated fabrics number
// hosts like fabric/ibsim does, so host i has port GUID ibsim.HostPortGUID(i).
func (s *Server) setupFabric(ctx context.Context) ([]simHost, error) {
	var hosts []simHost
	for i, h := range s.cfg.Fabric.Hosts() {
		hosts = append(hosts, simHost{Host: h, Ports: []sm.GUID{sm.GUID(ibsim.HostPortGUID(i + 1))}})
	}
	var guids []sm.GUID
	for _, h := range hosts {
		guids = append(guids, h.Ports...)
	}
	switch s.cfg.FabricMode {
	case FabricOff:
		return hosts, nil
	case FabricUFM:
		pw, err := os.ReadFile(s.cfg.UFMPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--ufm-password-file: %w", err)
		}
		client := &ufm.Client{BaseURL: s.cfg.UFMURL, Username: s.cfg.UFMUser, Password: strings.TrimSpace(string(pw))}
		d, err := ufm.New(ufm.Config{Client: client, Min: sm.PKey(s.cfg.PKeyMin), Max: sm.PKey(s.cfg.PKeyMax), Rules: sm.TenantIsolation})
		if err != nil {
			return nil, err
		}
		s.sm = d
		s.log.Info("fabric: NVIDIA UFM", "url", s.cfg.UFMURL, "keys", fmt.Sprintf("%#04x..%#04x", s.cfg.PKeyMin, s.cfg.PKeyMax))
		return hosts, nil
	case FabricIBSim:
		if err := ibsim.Available(); err != nil {
			s.log.Warn("--fabric=ibsim needs OpenSM and ibsim; falling back to the simulated subnet manager", "missing", err.Error())
			break
		}
		dir := filepath.Join(s.cfg.DataDir, "fabric")
		os.RemoveAll(dir) // the simulated fabric starts afresh; partitions come from the state
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		initial, err := opensm.Render(nil, sm.TenantIsolation)
		if err != nil {
			return nil, err
		}
		top := ibsim.Topology{Spines: s.cfg.Fabric.Spines, Leaves: s.cfg.Fabric.Leaves, HostsPerLeaf: s.cfg.Fabric.NodesPerLeaf}
		f, err := ibsim.Start(ctx, ibsim.Config{Topology: top, Dir: dir, Partitions: initial})
		if err != nil {
			return nil, fmt.Errorf("start ibsim fabric: %w", err)
		}
		d, err := opensm.New(opensm.Config{
			PartitionsFile: f.PartitionsFile,
			Rules:          sm.TenantIsolation,
			Reload:         func(context.Context) error { return f.ReloadSM() },
			Reader:         ibsimReader(f),
			Logf:           func(format string, args ...any) { s.log.Debug(fmt.Sprintf(format, args...), "component", "opensm") },
		})
		if err != nil {
			f.Stop()
			return nil, err
		}
		// Operators (and tests) attach diagnostic tools to this fabric with
		// IBSIM_SOCKNAME=$(cat sockname) LD_PRELOAD=libumad2sim.so.
		if err := os.WriteFile(filepath.Join(dir, "sockname"), []byte(f.SockName+"\n"), 0o644); err != nil {
			s.log.Warn("write fabric socket name", "err", err)
		}
		s.ibsim, s.sm = f, d
		s.log.Info("fabric: real OpenSM on an ibsim fabric", "dir", dir, "hosts", len(hosts))
		return hosts, nil
	}
	s.sm = simsm.New(guids, sm.TenantIsolation)
	return hosts, nil
}

// ibsimReader reads P_Key tables straight from the simulated fabric.
func ibsimReader(f *ibsim.Fabric) opensm.PKeyReader {
	return opensm.ReaderFunc(func(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
		raw := make([]uint64, len(ports))
		for i, p := range ports {
			raw[i] = uint64(p)
		}
		tables, err := f.PKeyTables(ctx, raw)
		out := make(map[sm.GUID]sm.Table, len(tables))
		for g, t := range tables {
			out[sm.GUID(g)] = sm.NewTable(t...)
		}
		return out, err
	})
}
