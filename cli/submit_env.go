package cli

// A batch job's environment and files, as sbatch users type them (#15.2,
// #15.4): --export, -D/--chdir, -o/--output, -e/--error and
// --no-slurm-env. The CLI resolves them where the user is: --export's
// values come from this shell and --chdir's default is this directory,
// both sent with the request, as sbatch sends them.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func submitEnvFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "export", Usage: "the job's environment: `ALL` (this shell's, the default), NONE, or VAR[,VAR=value...] (only those; ALL,VAR=value adds to all)"},
		&ucli.StringFlag{Name: "chdir", Aliases: []string{"D"}, Usage: "working `DIR` on the nodes (default: the current directory; a node where it does not exist fails the job)"},
		&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write stdout (and stderr, without -e) to `FILE` on the nodes, relative to the working directory; %j job id, %x name, %N node, %n/%t node index, %u user, %A/%a array ids, %% a %; without %N/%n/%t every node appends to one file"},
		&ucli.StringFlag{Name: "error", Aliases: []string{"e"}, Usage: "write stderr to `FILE` on the nodes (patterns as -o)"},
		&ucli.BoolFlag{Name: "no-slurm-env", Usage: "do not set SLURM_JOB_ID, SLURM_JOB_NODELIST, SLURM_NNODES, SLURM_PROCID, ... in the job"},
	}
}

// Directives a batch script may use for these options (see directives.go).
var envDirectiveFlags = map[string]string{
	"o": "output", "output": "output", "e": "error", "error": "error",
	"export": "export", "D": "chdir", "chdir": "chdir",
}

func init() {
	for k, v := range envDirectiveFlags {
		directiveFlags[k] = v
		delete(slurmOnly, k)
	}
}

// applySubmitEnv sets req's environment and files from the flags.
func applySubmitEnv(c *ucli.Context, req *pb.SubmitRequest) error {
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("current directory: %w (pass --chdir)", err)
	}
	req.SubmitDir = wd
	req.Workdir = wd
	if d := c.String("chdir"); d != "" {
		if !filepath.IsAbs(d) {
			d = filepath.Join(wd, d) // relative to the submit directory, as sbatch takes it
		}
		req.Workdir = filepath.Clean(d)
	}
	if err := model.CheckWorkdir(req.Workdir); err != nil {
		return fmt.Errorf("--chdir: %w", err)
	}
	spec := "ALL"
	if c.IsSet("export") {
		spec = c.String("export")
	}
	if req.Env, err = ParseExport(spec, os.Environ()); err != nil {
		return err
	}
	for _, f := range []string{"output", "error"} {
		if p := c.String(f); p != "" {
			if err := model.CheckOutputPattern("--"+f, p); err != nil {
				return err
			}
		}
	}
	req.Output, req.Error = c.String("output"), c.String("error")
	req.NoSlurmEnv = c.Bool("no-slurm-env")
	return nil
}

// maxExportSpec bounds --export's value before it is parsed.
const maxExportSpec = model.MaxEnvBytes

// ParseExport reads sbatch's --export=ALL|NONE|VAR[,VAR=value...] against
// environ (this shell's NAME=VALUE entries) into the variables to send.
// ALL is every variable of environ but ibex's own (IBEX_*: the job gets
// its own, and IBEX_TOKEN is this user's credential, not the job's), the
// SLURM_* ones of a surrounding Slurm job, and names no shell could
// export; ALL,VAR=value adds to or overrides them. Otherwise only the
// named variables go: VAR takes this shell's value (an unset VAR is an
// error, not silently dropped), VAR=value the value given. The result is
// bounded as ibexd bounds it.
func ParseExport(spec string, environ []string) ([]string, error) {
	if len(spec) > maxExportSpec {
		return nil, fmt.Errorf("--export is %d bytes, the limit is %d", len(spec), maxExportSpec)
	}
	if strings.IndexByte(spec, 0) >= 0 {
		return nil, fmt.Errorf("--export contains a NUL byte")
	}
	shell := map[string]string{}
	var order []string
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !model.ValidEnvName(k) || strings.HasPrefix(k, model.ReservedEnvPrefix) || strings.HasPrefix(k, "SLURM_") {
			continue
		}
		if _, dup := shell[k]; !dup {
			order = append(order, k)
		}
		shell[k] = v
	}
	items := strings.Split(spec, ",")
	out := map[string]string{}
	var names []string
	set := func(k, v string) {
		if _, ok := out[k]; !ok {
			names = append(names, k)
		}
		out[k] = v
	}
	switch strings.ToUpper(strings.TrimSpace(items[0])) {
	case "ALL":
		for _, k := range order {
			set(k, shell[k])
		}
		items = items[1:]
	case "NONE":
		if len(items) > 1 {
			return nil, fmt.Errorf("--export=NONE takes no variables (use --export=VAR,... to send only those)")
		}
		return nil, nil
	case "":
		return nil, fmt.Errorf("--export is empty: use ALL, NONE or VAR[,VAR=value...]")
	}
	for _, it := range items {
		k, v, hasValue := strings.Cut(it, "=")
		switch {
		case k == "" && !hasValue:
			return nil, fmt.Errorf("--export %q: an empty item (two commas?)", clipArg(spec))
		case !model.ValidEnvName(k):
			return nil, fmt.Errorf("--export: %q is not a variable name (letters, digits and _, not starting with a digit)", clipArg(k))
		case strings.HasPrefix(k, model.ReservedEnvPrefix):
			return nil, fmt.Errorf("--export: %s: variables starting with %s are set by ibex in the job, not exported", k, model.ReservedEnvPrefix)
		case strings.EqualFold(k, "ALL") || strings.EqualFold(k, "NONE"):
			return nil, fmt.Errorf("--export: %s comes first (--export=ALL,VAR=value)", strings.ToUpper(k))
		case !hasValue:
			sv, ok := shell[k]
			if !ok {
				return nil, fmt.Errorf("--export: %s is not set in this shell (give it a value: %s=VALUE)", k, k)
			}
			set(k, sv)
		default:
			set(k, v)
		}
	}
	env := make([]string, 0, len(names))
	for _, k := range names {
		env = append(env, k+"="+out[k])
	}
	if err := model.CheckEnv(env); err != nil {
		return nil, fmt.Errorf("--export: %w", err)
	}
	return slices.Clip(env), nil
}

func clipArg(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// envRows are `ibex show`'s lines for a batch job's environment and files.
func envRows(j *pb.Job) [][2]string {
	if j.Interactive {
		return nil
	}
	slurm := "yes"
	if j.NoSlurmEnv {
		slurm = "no"
	}
	return [][2]string{
		{"WorkDir", orDash(j.Workdir)}, {"SubmitDir", orDash(j.SubmitDir)},
		{"StdOut", orDash(j.Output)}, {"StdErr", orDash(j.Error)},
		{"Exported", strconv.Itoa(int(j.ExportedVars)) + " variables"}, {"SlurmEnv", slurm},
	}
}
