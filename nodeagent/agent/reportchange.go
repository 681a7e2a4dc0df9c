package agent

import "google.golang.org/protobuf/proto"

// reportChange offers e's report after a change of its journalled state,
// unless the stream already has the same report: accepted and starting
// are both "starting" to the server, so the start of every job sent the
// same report twice. m.mu is held.
//
// Why: each report is a message on the agent's stream and a wake-up of
// the send loop, both ends' gRPC reader and writer and the gateway, and
// a tiny job's end report queues behind the ones before it
// (bench/agentpath's "job started -> job ended"). A report that did not
// fit on the stream (unsent) is offered again whatever it says.
func (m *jobManager) reportChange(e *jobEntry) {
	if !e.unsent && e.offered != nil && proto.Equal(e.offered, e.rec.report()) {
		return
	}
	m.sendReport(e)
}
