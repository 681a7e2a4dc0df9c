package opensm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
)

// OpenSMParser is a Validator that asks OpenSM itself: it starts a
// throwaway one-switch ibsim fabric, runs "opensm --once" on the file
// and looks for parse errors and warnings in its log.
//
// Why in addition to our grammar: ours follows the documentation and
// source we read; the installed OpenSM is what will actually read the
// file. It costs one short-lived fabric (~0.1-0.3 s, measured by
// TestOpenSMParser) so use it where that is affordable.
type OpenSMParser struct{}

var parseProblem = regexp.MustCompile(`PARSE (ERROR|WARN)[^\n]*|Partition configuration[^\n]*(in error|not fully processed)[^\n]*`)

// Validate implements Validator.
func (OpenSMParser) Validate(ctx context.Context, conf []byte) error {
	f, err := ibsim.Start(ctx, ibsim.Config{
		Topology: ibsim.Topology{Leaves: 1, HostsPerLeaf: 1},
		NoSM:     true,
	})
	if err != nil {
		return fmt.Errorf("opensm parser check: %w", err)
	}
	defer f.Stop()
	file := filepath.Join(f.Dir, "candidate.conf")
	if err := os.WriteFile(file, conf, 0o644); err != nil {
		return err
	}
	log := filepath.Join(f.Dir, "once.log")
	// -v: PARSE WARN lines are logged at VERBOSE level only.
	_, runErr := f.Run(ctx, "opensm", "-F", "/dev/null", "--once", "-v",
		"-P", file, "-f", log, "--dump_files_dir", filepath.Join(f.Dir, "cache")+"/")
	out, err := os.ReadFile(log)
	if err != nil {
		return fmt.Errorf("opensm parser check: no log (%v): %w", runErr, err)
	}
	if !strings.Contains(string(out), "SUBNET UP") {
		return fmt.Errorf("opensm parser check: opensm --once did not finish: %v", runErr)
	}
	if ms := parseProblem.FindAllString(string(out), 20); len(ms) > 0 {
		e := &OpenSMParseError{Lines: ms}
		for _, m := range ms {
			e.Fatal = e.Fatal || strings.Contains(m, "in error") || strings.Contains(m, "PARSE ERROR")
		}
		return e
	}
	return nil
}

// OpenSMParseError carries the parse messages from OpenSM's log.
type OpenSMParseError struct {
	Lines []string
	// Fatal: OpenSM dropped the file and fell back to its default
	// (ALL=full) configuration, or logged a PARSE ERROR.
	Fatal bool
}

func (e *OpenSMParseError) Error() string {
	return "opensm rejects partitions.conf:\n  " + strings.Join(e.Lines, "\n  ")
}
