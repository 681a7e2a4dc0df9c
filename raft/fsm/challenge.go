package fsm

import (
	"fmt"

	"github.com/ibex-hpc/ibex/model"
)

// The server's check of a hygiene task's answer. A task the leader
// started with a challenge (model.Challenge) succeeds only if the agent's
// answer matches it: whatever the agent says about itself, a result whose
// answer was not made for this challenge is recorded as a failure (and
// counts towards quarantine like any other). Tasks recorded before
// challenges existed carry none and are judged by the agent's word, as
// they were when they were written.

// judgeTask returns the verdict on a finished task: ok, the error for
// the ledger and the server's check to add to the evidence. It pins the
// node's disk size on the first checked erase.
func (s *State) judgeTask(n *model.Node, t model.NodeTask, c *TaskDone) (ok bool, errText, verdict string, j judged) {
	if !c.OK || t.Challenge == nil {
		return c.OK, c.Error, "", j
	}
	a, err := model.ParseAnswer([]byte(c.Answer))
	j.answer = a
	if err == nil {
		switch t.Kind {
		case model.TaskErase:
			verdict, err = model.CheckErase(*t.Challenge, a, n.DiskSize)
			if err == nil && n.DiskSize == 0 && a.Erase.Kind != model.FileDisk {
				n.DiskSize = a.Erase.DiskSize
			}
		case model.TaskImage:
			img, found := s.Images[t.Image]
			if !found {
				err = fmt.Errorf("image %s is not in the catalog", t.Image)
			} else {
				verdict, err = model.CheckImageBlocks(*t.Challenge, a, img)
			}
		case model.TaskFirmware, model.TaskFirmwareProfile:
			verdict, j.unapproved, err = s.judgeFirmware(n, t, a) // fwprofile.go
			if j.unapproved != "" {
				return false, j.unapproved, "", j
			}
		}
	}
	if err != nil {
		return false, "the server refused the agent's answer to the leader's challenge: " + err.Error(), "", j
	}
	return true, "", verdict, j
}

// judged is what judgeTask learnt beyond the verdict: the parsed answer,
// and unapproved firmware found on the node (which quarantines it).
type judged struct {
	answer     model.Answer
	unapproved string
}
