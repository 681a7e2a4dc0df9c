package simnode

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/agent"
	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

// Simulated BMCs (Config.Power): every node gets a Redfish BMC, a
// redfishmock server over the embedded mockup (bmcmockup/, a copy of
// testdata/redfish/handwritten/vmedia-server), on a listener of its own,
// whose resets are the node's power (see power.go). The control plane
// reaches them as it reaches real BMCs, over HTTP with gofish, once they
// are registered (`ibex nodes bmc set`: RegisterBMCs does it through the
// admin API, as an operator would).

//go:embed all:bmcmockup
var bmcMockup embed.FS

// BMCUser is the simulated BMCs' login; each node's password is derived
// from a key kept in the simulation's root (BMCPassword).
const BMCUser = "ibex-sim"

// BMC is one node's simulated BMC.
type BMC struct {
	Node *Node
	// Endpoint is the base URL the control plane registers.
	Endpoint string
	// Mock is the Redfish server (its resets, boot overrides, logins).
	Mock *redfishmock.Server
	srv  *http.Server
}

// ramdiskTargets are the one-time boot targets that boot a node into its
// deploy ramdisk: network boots and virtual media. Anything else boots the
// disk.
var ramdiskTargets = map[string]bool{"Pxe": true, "UefiHttp": true, "Cd": true, "Usb": true}

// powerHook turns the BMC's resets into the node's power.
func (n *Node) powerHook(c redfishmock.PowerChange) {
	switch {
	case c.After == "Off":
		n.PowerOff()
	case c.Boots && c.After == "On":
		mode := agent.BootDisk
		if ramdiskTargets[c.BootTarget] {
			mode = agent.BootRamdisk
		}
		n.Boot(mode)
	}
}

// ServeBMCs starts every node's BMC on the listen address addr gives it
// (host:port; the endpoint is http://addr) until ctx ends. The nodes must
// be power-managed (Config.Power).
func (f *Fleet) ServeBMCs(ctx context.Context, addr func(i int, n *Node) string) ([]*BMC, error) {
	if !f.cfg.Power {
		return nil, errors.New("simnode: BMCs switch the nodes' power, and this fleet's nodes are not power-managed (Config.Power)")
	}
	dir := filepath.Join(f.cfg.Root, ".bmc-mockup")
	if err := extractMockup(dir); err != nil {
		return nil, err
	}
	m, err := redfishmock.Load(dir)
	if err != nil {
		return nil, err
	}
	key, err := bmcKey(f.cfg.Root)
	if err != nil {
		return nil, err
	}
	var out []*BMC
	closeAll := func() {
		for _, b := range out {
			b.srv.Close()
		}
	}
	for i, n := range f.Nodes {
		mock := redfishmock.NewServer(m, redfishmock.Options{Username: BMCUser, Password: bmcPassword(key, n.Name)})
		mock.OnPower(n.powerHook)
		a := addr(i, n)
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("simnode %s: BMC listener: %w", n.Name, err)
		}
		b := &BMC{Node: n, Endpoint: "http://" + ln.Addr().String(), Mock: mock,
			srv: &http.Server{Handler: mock, ReadHeaderTimeout: 10 * time.Second}}
		go b.srv.Serve(ln)
		out = append(out, b)
	}
	go func() {
		<-ctx.Done()
		closeAll()
	}()
	return out, nil
}

// BMCPassword is node's simulated BMC password in the simulation kept in
// root.
func BMCPassword(root, node string) (string, error) {
	key, err := bmcKey(root)
	if err != nil {
		return "", err
	}
	return bmcPassword(key, node), nil
}

func bmcPassword(key []byte, node string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(node))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// bmcKey is the simulation's BMC key (root/bmc.key, 0600), created once:
// the same passwords across restarts match the logins the control plane
// keeps sealed.
func bmcKey(root string) ([]byte, error) {
	path := filepath.Join(root, "bmc.key")
	b, err := os.ReadFile(path)
	if err == nil {
		k, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(k) != 32 {
			return nil, fmt.Errorf("simnode: %s is not 64 hex digits; remove it to make a new one (and register the BMCs again)", path)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// extractMockup writes the embedded mockup into dir (afresh).
func extractMockup(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	sub, err := fs.Sub(bmcMockup, "bmcmockup")
	if err != nil {
		return err
	}
	return fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
