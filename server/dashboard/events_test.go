package dashboard

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// stream opens the event stream and returns a channel of its event names
// (comments as ":").
func stream(t *testing.T, srv *httptest.Server, token string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan string, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "event: "):
				out <- strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, ":"):
				out <- ":"
			}
		}
	}()
	return out
}

// count reads events for d and returns how many "changed" ones came.
func count(ch <-chan string, d time.Duration) int {
	n := 0
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return n
			}
			if ev == "changed" {
				n++
			}
		case <-deadline:
			return n
		}
	}
}

func TestEventsCoalesceBurstsAndDeliverTheLastChange(t *testing.T) {
	src := newFake(topology.DefaultFatTree, admin)
	srv := httptest.NewServer(newHandler(src, Options{}))
	t.Cleanup(srv.Close) // after the stream's cancel, which is registered later
	ev := stream(t, srv, "tok-admin")
	if n := count(ev, 100*time.Millisecond); n != 1 {
		t.Fatalf("%d events on connect, want 1 (so the client reads the state once)", n)
	}

	// 100 changes a second for a second: at most five events a second.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			src.update(func(*fsm.State) {})
			time.Sleep(10 * time.Millisecond)
		}
	}()
	n := count(ev, 1200*time.Millisecond)
	<-done
	if n < 3 || n > 8 {
		t.Errorf("%d events for a 1 s burst of 100 changes, want about 5", n)
	}
	count(ev, 300*time.Millisecond) // drain the event that covers the burst's tail

	// Quiet now; one change is one event, promptly.
	src.update(func(*fsm.State) {})
	if n := count(ev, 500*time.Millisecond); n != 1 {
		t.Errorf("%d events for one change, want 1", n)
	}
}

func TestEventsKeepIdleStreamsAlive(t *testing.T) {
	src := newFake(topology.DefaultFatTree, admin)
	srv := httptest.NewServer(newHandler(src, Options{KeepAlive: 30 * time.Millisecond}))
	t.Cleanup(srv.Close)
	ev := stream(t, srv, "tok-admin")
	deadline := time.After(2 * time.Second)
	for {
		select {
		case e := <-ev:
			if e == ":" {
				return
			}
		case <-deadline:
			t.Fatal("no keep-alive comment on an idle stream")
		}
	}
}
