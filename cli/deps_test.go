package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// notLinked are packages the ibex CLI must not link: every CLI process
// runs the initialisation of every package linked in, and these serve
// nothing the CLI does: Redfish for the node agent and ibexd, and the
// `testing` package Redfish's schemas import; the REST gateway (ibexd's),
// with the well-known types it registers.
var notLinked = []string{
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime",
	"github.com/ibex-hpc/ibex/proto/gateway/ibexv1",
	"google.golang.org/protobuf/types/known/structpb",
	"github.com/stmcginnis/gofish",
	"github.com/ibex-hpc/ibex/nodeagent/bmc",
	"testing",
}

func TestCLIDoesNotLinkHeavyPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	cmd := exec.Command("go", "list", "-deps", "-tags", "urfave_cli_no_docs,grpcnotrace", "github.com/ibex-hpc/ibex/cmd/ibex")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	if !deps["github.com/ibex-hpc/ibex/cli"] {
		t.Fatalf("go list -deps ./cmd/ibex does not list package cli:\n%s", out)
	}
	for _, p := range notLinked {
		if deps[p] {
			t.Errorf("the ibex CLI links %s (go list -deps ./cmd/ibex); keep it out, each CLI process pays for its initialisation", p)
		}
	}
}
