package model

// A batch job's environment and files, as sbatch users know them: the
// variables exported from the submitting shell (--export), the working
// directory (-D/--chdir), the output and error file patterns (-o/-e with
// %j %x %N %n %t %A %a %u %%) and the SLURM_* look-alike variables. The
// tenant writes all of it, so every part has a grammar and a byte limit,
// checked by ibexd at submit (nothing bad reaches raft) and again by the
// node agent before it acts (the task came over the network).

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Limits of a job's environment and paths.
const (
	// MaxEnvVars and MaxEnvBytes bound the exported variables: a login
	// shell's environment is a few KiB; the limits keep one submit from
	// bloating the replicated log and every exported string under the
	// kernel's 128 KiB limit for one.
	MaxEnvVars  = 1024
	MaxEnvBytes = 64 << 10
	// MaxPathBytes bounds a working directory; MaxPatternBytes an output
	// pattern, and so, with the few bytes a % escape expands to, the
	// file name it makes.
	MaxPathBytes    = 4096
	MaxPatternBytes = 1024
)

// ReservedEnvPrefix names the variables ibex sets in jobs (IBEX_JOB_ID,
// the job credential, the node agent's own plumbing): a job's exported
// environment may not set them.
const ReservedEnvPrefix = "IBEX_"

// ValidEnvName reports whether name is a portable environment variable
// name (what a POSIX shell can export): a letter or '_', then letters,
// digits and '_'.
func ValidEnvName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// CheckEnv accepts a job's exported variables: KEY=VALUE entries with
// valid names, no NUL byte, no name twice, none reserved for ibex, and at
// most MaxEnvVars entries of MaxEnvBytes together.
func CheckEnv(env []string) error {
	if len(env) > MaxEnvVars {
		return fmt.Errorf("%d exported variables, the limit is %d", len(env), MaxEnvVars)
	}
	total := 0
	seen := make(map[string]bool, len(env))
	for _, e := range env {
		total += len(e) + 1
		if total > MaxEnvBytes {
			return fmt.Errorf("the exported environment is over %d KiB (export fewer variables: --export=NONE or --export=VAR,...)", MaxEnvBytes>>10)
		}
		k, _, ok := strings.Cut(e, "=")
		switch {
		case !ok:
			return fmt.Errorf("exported variable %q is not NAME=VALUE", clip(e))
		case !ValidEnvName(k):
			return fmt.Errorf("%q is not a variable name (letters, digits and _, not starting with a digit)", clip(k))
		case strings.HasPrefix(k, ReservedEnvPrefix):
			return fmt.Errorf("%s: variables starting with %s are set by ibex, not exported", k, ReservedEnvPrefix)
		case strings.IndexByte(e, 0) >= 0:
			return fmt.Errorf("the value of %s contains a NUL byte, which no environment can hold", k)
		case seen[k]:
			return fmt.Errorf("%s is exported twice", k)
		}
		seen[k] = true
	}
	return nil
}

// CheckWorkdir accepts a job's working directory: "" (the job's own
// directory on each node) or an absolute path of printable text.
func CheckWorkdir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := CheckText("working directory", dir, MaxPathBytes); err != nil {
		return err
	}
	if !path.IsAbs(dir) {
		return fmt.Errorf("working directory %q is not an absolute path", clip(dir))
	}
	return nil
}

// OutputVars are what an output pattern's escapes stand for on one node.
type OutputVars struct {
	JobID     uint64
	Name      string // %x
	Node      string // %N
	NodeIndex int    // %n, and %t: a batch job has one task per node
	User      string // %u: the tenant
	// ArrayJobID (%A) is the array's job id, 0 outside an array (then %A
	// is the job id); ArrayTaskID (%a) the task's index, "" outside one.
	ArrayJobID  uint64
	ArrayTaskID string
}

// CheckOutputPattern accepts an -o/-e pattern: printable text of at most
// MaxPatternBytes whose % escapes are ones ExpandOutputPattern knows,
// with an optional zero-padding width of one or two digits (%4j), as
// sbatch takes them.
func CheckOutputPattern(what, p string) error {
	if err := CheckText(what, p, MaxPatternBytes); err != nil {
		return err
	}
	_, err := expand(p, OutputVars{})
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, clip(p), err)
	}
	return nil
}

// ExpandOutputPattern replaces a pattern's escapes: %j the job id, %x the
// job name, %N the node's name, %n and %t the node's index in the job, %u
// the user, %A the array's job id (the job id outside an array), %a the
// array index (empty outside an array), %% a '%'. The result is a file
// name; it is not interpreted further.
func ExpandOutputPattern(p string, v OutputVars) (string, error) {
	if err := CheckText("output pattern", p, MaxPatternBytes); err != nil {
		return "", err
	}
	return expand(p, v)
}

// PerNodePattern reports whether a pattern names a file per node (it has
// %N, %n or %t), as opposed to one file every node appends to.
func PerNodePattern(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(p) && j < i+3 && p[j] >= '0' && p[j] <= '9' {
			j++
		}
		if j < len(p) {
			switch p[j] {
			case 'N', 'n', 't':
				return true
			}
		}
		i = j
	}
	return false
}

func expand(p string, v OutputVars) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		width := 0
		for n := 0; i < len(p) && p[i] >= '0' && p[i] <= '9'; n++ {
			if n == 2 {
				return "", fmt.Errorf("a %% escape's width has at most 2 digits")
			}
			width = width*10 + int(p[i]-'0')
			i++
		}
		if i >= len(p) {
			return "", fmt.Errorf("the pattern ends in a lone %%; write %%%% for a %% sign")
		}
		num := func(n uint64) { b.WriteString(pad(strconv.FormatUint(n, 10), width)) }
		switch p[i] {
		case '%':
			b.WriteByte('%')
		case 'j', 'J':
			num(v.JobID)
		case 'A':
			if v.ArrayJobID != 0 {
				num(v.ArrayJobID)
			} else {
				num(v.JobID)
			}
		case 'a':
			if v.ArrayTaskID != "" {
				b.WriteString(pad(v.ArrayTaskID, width))
			}
		case 'x':
			b.WriteString(v.Name)
		case 'N':
			b.WriteString(v.Node)
		case 'n', 't':
			num(uint64(v.NodeIndex))
		case 'u':
			b.WriteString(v.User)
		default:
			return "", fmt.Errorf("%%%c is not a pattern escape ibex knows (%%j %%x %%N %%n %%t %%u %%A %%a %%%%)", p[i])
		}
	}
	return b.String(), nil
}

func pad(s string, width int) string {
	if len(s) >= width {
		return s
	}
	return strings.Repeat("0", width-len(s)) + s
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
