package bmc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

// fakeClock is a settable clock for Lazy's retry waits.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestLazyDeadBMC: a BMC that accepts connections and never answers costs
// one bounded attempt; calls until the retry wait has passed fail at once
// without another attempt; the wait doubles per failure.
func TestLazyDeadBMC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	conns := make(chan net.Conn, 16)
	held.Add(1)
	go func() {
		defer held.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c // hold it open, say nothing
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		held.Wait()
		close(conns)
		for c := range conns {
			c.Close()
		}
	})

	l, err := NewLazy(Config{Endpoint: "http://" + ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	l.now, l.DialTimeout, l.RetryMin, l.RetryMax = clock.now, 50*time.Millisecond, 30*time.Second, 45*time.Second
	ctx := context.Background()

	_, err = l.PowerState(ctx)
	if err == nil || !strings.Contains(err.Error(), "no answer from") {
		t.Fatalf("first call = %v, want a bounded connection failure", err)
	}
	if _, err := l.FirmwareInventory(ctx); err == nil || !strings.Contains(err.Error(), "next connection attempt in 30s") ||
		!strings.Contains(err.Error(), "no answer from") {
		t.Errorf("call within the retry wait = %v", err)
	}
	if n := l.Attempts(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	clock.add(30 * time.Second)
	_, _ = l.PowerState(ctx)
	if n := l.Attempts(); n != 2 {
		t.Errorf("after the wait: %d attempts, want 2", n)
	}
	// The wait doubled, to the 45 s cap.
	clock.add(30 * time.Second)
	if err := l.PowerOn(ctx); err == nil || l.Attempts() != 2 {
		t.Errorf("30 s into a 45 s wait: %v, %d attempts", err, l.Attempts())
	}
	clock.add(15 * time.Second)
	_ = l.PowerOn(ctx)
	if n := l.Attempts(); n != 3 {
		t.Errorf("after the 45 s wait: %d attempts, want 3", n)
	}
}

// TestLazyRecovers: a BMC that was down when the agent started is used
// once it answers, without restarting anything.
func TestLazyRecovers(t *testing.T) {
	srv := redfishmock.NewServer(loadMockup(t, "public-tower"), redfishmock.Options{Username: testUser, Password: testPassword})
	var up atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "BMC is booting", http.StatusServiceUnavailable)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	defer ts.Close()
	l, err := NewLazy(testConfig(ts.URL, ""))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	l.now = clock.now
	ctx := context.Background()

	var re *RedfishError
	if err := l.Connect(ctx); !errors.As(err, &re) || re.StatusCode != 503 {
		t.Fatalf("Connect to a booting BMC = %v", err)
	}
	up.Store(true)
	if _, err := l.PowerState(ctx); err == nil {
		t.Error("call within the retry wait reached the BMC")
	}
	clock.add(DefaultRetryMin)
	if st, err := l.PowerState(ctx); err != nil || st != StateOn {
		t.Fatalf("after the wait: %s, %v", st, err)
	}
	var vm VirtualMedia = l
	if err := vm.InsertMedia(ctx, "https://images.example/ramdisk.iso"); err != nil {
		t.Error(err)
	}
	if l.Attempts() != 2 || srv.Sessions() != 1 {
		t.Errorf("%d attempts, %d sessions", l.Attempts(), srv.Sessions())
	}
	must(t, l.Close())
	if srv.Sessions() != 0 {
		t.Errorf("%d sessions after Close", srv.Sessions())
	}
	if _, err := l.PowerState(ctx); err == nil {
		t.Error("call after Close succeeded")
	}
}

// TestLazySingleAttempt: callers arriving while an attempt is under way
// wait for it instead of starting their own, and a caller that gives up
// does not cancel the attempt for the others.
func TestLazySingleAttempt(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var dials atomic.Int32
	fake := NewFake(StateOn, Firmware{ID: "BMC", Version: "1.0"})
	l, err := NewLazy(Config{Endpoint: "https://bmc.example"})
	if err != nil {
		t.Fatal(err)
	}
	l.dial = func(ctx context.Context, _ Config) (lazyTarget, error) {
		if dials.Add(1) == 1 {
			close(started)
		}
		<-release
		return fake, nil
	}
	impatient, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := l.PowerState(impatient); done <- err }()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("impatient caller = %v", err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.FirmwareInventory(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	close(release)
	wg.Wait()
	if n := dials.Load(); n != 1 || l.Attempts() != 1 {
		t.Errorf("%d dials, %d attempts; want 1", n, l.Attempts())
	}
	must(t, l.Close())
	if calls := fake.Calls(); calls[len(calls)-1] != MethodClose {
		t.Errorf("the connected BMC was not closed: %v", calls)
	}
}

func TestNewLazyValidates(t *testing.T) {
	if _, err := NewLazy(Config{Endpoint: "bmc.example"}); err == nil {
		t.Error("invalid endpoint accepted")
	}
}
