package agentgw

import (
	"strings"

	"github.com/ibex-hpc/ibex/server/control"
)

// handoutResult reports whether a task result answers a hand-out check
// (fsm.HandoutChecked) rather than a cleaning step (fsm.TaskDone): the
// leader names those tasks with control.HandoutTaskPrefix.
func handoutResult(id string) bool { return strings.HasPrefix(id, control.HandoutTaskPrefix) }
