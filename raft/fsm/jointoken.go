package fsm

import "time"

// CheckJoinToken is the state's verdict on an enrollment before anything
// is proposed: the token (by its digest) exists, is for node and has not
// expired at now. The agent gateway calls it under Read, so a bogus token
// writes nothing to raft and gets no certificate signed; Enroll checks
// again when applied.
func (s *State) CheckJoinToken(node, tokenHash string, now time.Time) error {
	tok, ok := s.JoinTokens[tokenHash]
	if !ok || tok.Node != node {
		return errorf(ErrPermissionDenied, "join token not valid for node %q", node)
	}
	if !now.Before(tok.Expires) {
		return errorf(ErrPermissionDenied, "join token for %q expired at %s", node, tok.Expires.Format(time.RFC3339))
	}
	return nil
}
