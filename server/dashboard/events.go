package dashboard

import (
	"fmt"
	"net/http"
	"time"
)

// events streams "changed" server-sent events: one when the stream opens
// (so a client that connects after its last overview read cannot miss a
// change in between), then one after each state change, at most one per
// MinEventInterval. The events carry a sequence number but no state; the
// client re-reads the overview (see the package doc).
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.authenticate(w, r); !ok {
		return
	}
	rc := http.NewResponseController(w)
	// The server's write timeout, if one is ever set, must not cut a stream
	// that is meant to stay open.
	rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	ctx := r.Context()
	keepAlive := time.NewTicker(h.opts.KeepAlive)
	defer keepAlive.Stop()
	changed := h.src.Changed()
	var seq uint64
	send := func(format string, args ...any) bool {
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// retry: tells EventSource-style clients how long to wait before
	// reconnecting; the page's own reader uses the same value.
	if !send("retry: 2000\n\nid: %d\nevent: changed\ndata: {\"seq\":%d}\n\n", seq, seq) {
		return
	}
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			if !send(": keep-alive\n\n") {
				return
			}
			continue
		case <-changed:
		}
		// Coalesce: changes that land while we wait are covered by the one
		// event sent after the wait.
		if wait := h.opts.MinEventInterval - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		// Take the next channel before telling the client, so a change
		// after the client's read still closes a channel we wait on.
		changed = h.src.Changed()
		seq++
		if !send("id: %d\nevent: changed\ndata: {\"seq\":%d}\n\n", seq, seq) {
			return
		}
		last = time.Now()
	}
}
