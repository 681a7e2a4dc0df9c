package agentpath

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

var (
	windowProfileDir = flag.String("window-profile-dir", "", "for modes of this tree's ibexd (not base-*): write a CPU profile (MODE-ROUND-window.pprof) and an execution trace (MODE-ROUND-window.trace) of only the throughput run's busy window, fetched from ibexd --debug-listen; --cpuprofile-dir also takes in start-up")
	windowCPU        = flag.Duration("window-cpu", 5*time.Second, "-window-profile-dir: length of the CPU profile, from the first submission")
	windowTrace      = flag.Duration("window-trace", time.Second, "-window-profile-dir: length of the execution trace, starting -window-trace-after the first submission")
	windowTraceAfter = flag.Duration("window-trace-after", 2*time.Second, "-window-profile-dir: when the execution trace starts, after the first submission")
)

// windowProfiling reports whether mode's ibexd should serve /debug/pprof.
func windowProfiling(mode string) bool {
	return *windowProfileDir != "" && !strings.HasPrefix(mode, "base-")
}

// startWindowProfiles fetches a CPU profile and an execution trace from
// ibexd's debug listener in the background; wait for both with the
// returned func.
func startWindowProfiles(debugAddr, mode string, round int) func() {
	var wg sync.WaitGroup
	fetch := func(path, file string, after time.Duration) {
		defer wg.Done()
		time.Sleep(after)
		out := filepath.Join(*windowProfileDir, fmt.Sprintf("%s-%d-window.%s", mode, round, file))
		resp, err := http.Get("http://" + debugAddr + path)
		if err != nil {
			fmt.Printf("window profile %s: %v\n", out, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(out)
		if err != nil {
			fmt.Printf("window profile: %v\n", err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, resp.Body); err != nil {
			fmt.Printf("window profile %s: %v\n", out, err)
		}
	}
	wg.Add(2)
	go fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(windowCPU.Seconds())), "pprof", 0)
	go fetch(fmt.Sprintf("/debug/pprof/trace?seconds=%g", windowTrace.Seconds()), "trace", *windowTraceAfter)
	return wg.Wait
}
