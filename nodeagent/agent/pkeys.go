package agent

import (
	"fmt"
	"strings"

	"github.com/ibex-hpc/ibex/nodeagent/hca"
)

// SysfsPKeys reads the node's own P_Key tables from sysfs
// (class/infiniband/*/ports/*/pkeys/*): the agent's witness, next to the
// subnet manager's read-back, that a job's partition reached this node.
// Every active InfiniBand port must hold the key.
type SysfsPKeys struct{ Scanner *hca.Scanner }

// HasPKey implements PKeyTable.
func (s SysfsPKeys) HasPKey(key uint16) (bool, string, error) {
	ports, missing, err := s.Scanner.HasPKey(key)
	if err != nil {
		return false, "", err
	}
	var have []string
	for _, p := range ports {
		have = append(have, p.Port)
	}
	detail := fmt.Sprintf("P_Key %#04x on %s", key&0x7fff, strings.Join(have, ", "))
	if len(missing) > 0 {
		detail = fmt.Sprintf("P_Key %#04x missing on %s", key&0x7fff, strings.Join(missing, ", "))
	}
	return len(missing) == 0 && len(ports) > 0, detail, nil
}
