package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestExecArgs(t *testing.T) {
	for _, tc := range []struct {
		args  string
		agent bool
		node  string
		argv  string
		shell bool
	}{
		{"node002 -- hostname -f", false, "node002", "hostname -f", false},
		{"node002 echo $IBEX_NODENAME", false, "node002", "echo $IBEX_NODENAME", true},
		// Open MPI's rsh launcher: HOST, an empty word, then the shell line.
		{"node003||PATH=/usr/bin:$PATH ; export PATH ; /usr/bin/orted -mca ess env", true, "node003", "|PATH=/usr/bin:$PATH ; export PATH ; /usr/bin/orted -mca ess env", true},
		// MPICH hydra with -launcher ssh adds -x.
		{`-x node001 "/usr/bin/hydra_pmi_proxy" --control-port 127.0.0.1:1`, true, "node001", `"/usr/bin/hydra_pmi_proxy" --control-port 127.0.0.1:1`, true},
		{"-o StrictHostKeyChecking=no -p 22 -qT alice@node004 true", true, "node004", "true", true},
		{"-lalice -- node005 true", true, "node005", "true", true},
	} {
		sep := " "
		if strings.Contains(tc.args, "|") {
			sep = "|"
		}
		node, argv, shell, err := execArgs(strings.Split(tc.args, sep), tc.agent)
		wantArgv := strings.Split(tc.argv, sep)
		if err != nil || node != tc.node || !slices.Equal(argv, wantArgv) || shell != tc.shell {
			t.Errorf("%q: node %q argv %q shell %v err %v", tc.args, node, argv, shell, err)
		}
	}
	for _, bad := range [][]string{{"node001"}, {"node001", "--"}} {
		if _, _, _, err := execArgs(bad, false); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, bad := range [][]string{{"-x"}, {"-x", "node001"}, {"-p"}} {
		if _, _, _, err := execArgs(bad, true); err == nil {
			t.Errorf("agent %q accepted", bad)
		}
	}
}
