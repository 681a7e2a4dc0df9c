package agent

import (
	"encoding/json"
	"time"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// withReruns adds to a task's answer the earlier runs of it that died with
// this agent's process (its journal showed the task started and never
// finished), so the server's ledger records them as an interrupted
// attempt instead of folding them into this run (model.Reruns). The
// result is sent unchanged when the account cannot be added: the
// answer is unreadable, or would grow past model.MaxAnswerBytes.
func withReruns(r *savedResult, t *pb.AgentTask, lost *journalEntry, again time.Time) *savedResult {
	var a model.Answer
	if r.AnswerJSON != "" {
		if err := json.Unmarshal([]byte(r.AnswerJSON), &a); err != nil {
			return r
		}
	} else if ch, err := parseChallenge(t); err == nil && ch != nil {
		a.Nonce = ch.Nonce
	}
	a.Reruns = &model.Reruns{Interrupted: max(lost.Runs, 1), LastStarted: lost.Started, Again: again}
	b, err := json.Marshal(a)
	if err != nil || len(b) > model.MaxAnswerBytes {
		return r
	}
	out := *r
	out.AnswerJSON = string(b)
	return &out
}
