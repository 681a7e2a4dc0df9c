package agent

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// The leader's challenges (model.Challenge): a task may carry one, chosen
// and recorded in the replicated state before the task was sent. The
// agent answers it with what it read from the hardware after doing the
// task, in TaskResult.answer_json; the server, not the agent, decides
// whether the answer holds.

// maxChallengeJSON bounds the challenge a server sends.
const maxChallengeJSON = 64 << 10

// parseChallenge returns the task's challenge, nil when it has none.
func parseChallenge(t *pb.AgentTask) (*model.Challenge, error) {
	raw := t.GetChallengeJson()
	if raw == "" {
		return nil, nil
	}
	if len(raw) > maxChallengeJSON {
		return nil, fmt.Errorf("challenge is %d bytes, at most %d", len(raw), maxChallengeJSON)
	}
	var c model.Challenge
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// withAnswer attaches the answer to a result. An answer that cannot be
// marshalled fails the result: the server would refuse it anyway.
func withAnswer(r *savedResult, a *model.Answer) *savedResult {
	if a == nil {
		return r
	}
	b, err := json.Marshal(a)
	if err == nil && len(b) > model.MaxAnswerBytes {
		err = fmt.Errorf("%d bytes, at most %d", len(b), model.MaxAnswerBytes)
	}
	if err != nil {
		msg := "answer to the challenge not sent: " + err.Error()
		if r.Error != "" {
			msg = r.Error + "; " + msg
		}
		r.OK, r.Error = false, msg
		return r
	}
	r.AnswerJSON = string(b)
	return r
}

var errNoChallenge = errors.New("the task carries no challenge")
