package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	ibexclient "github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

var jsonFlag = &ucli.BoolFlag{Name: "json", Usage: "print JSON for scripts"}

func submitCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "submit",
		Usage:     "submit a batch job",
		ArgsUsage: "[--] SCRIPT | COMMAND [ARGS...]",
		Description: `Runs a batch script or a command on every node of a new allocation.
If the only argument is a text file, its contents are sent as the job's script;
otherwise the arguments are run as a command on each node. The job sees
IBEX_JOB_ID, IBEX_NODELIST (e.g. node[001-004]), IBEX_NNODES and IBEX_NODEID,
and SLURM_JOB_ID, SLURM_JOB_NODELIST, SLURM_NNODES, SLURM_PROCID, ... (off with
--no-slurm-env). As with sbatch, the job gets this shell's environment
(--export), runs in this directory on the nodes (-D/--chdir), and -o/-e write
its output to files there.

A script's "#IBEX" and "#SBATCH" lines before its first command set the same
options (-N/--nodes, -t/--time, -J/--job-name, --switches, -C/--constraint,
-d/--dependency, -a/--array, -H/--hold, -b/--begin, -W/--wait, --parsable,
-o/--output, -e/--error, --export, -D/--chdir); flags on the command line
win. Other sbatch options (--mem, ...) are refused with the line that uses
them, unless --ignore-unknown-directives.

Pipelines, as with sbatch: --dependency afterok:12:13,singleton waits for
jobs 12 and 13 to complete and for no other job of yours with this name to
run (pending reason Dependency; DependencyNeverSatisfied when it no longer
can: the job stays pending until you cancel it, as in Slurm). --array
1-100%10 runs 100 tasks, at most 10 at once, each with IBEX_ARRAY_TASK_ID
(and SLURM_ARRAY_TASK_ID, *_ARRAY_JOB_ID, *_ARRAY_TASK_COUNT/MIN/MAX);
` + "`ibex cancel 12`" + ` cancels every task, ` + "`ibex cancel 12_7`" + ` one.

Examples:
   ibex submit -N 4 -t 5m --name hello -- hostname
   ibex submit -N 16 -t 2:00:00 job.sh
   ibex submit -N 2 -o out.%j -e err.%N.%j --export=OMP_NUM_THREADS=4 -- ./app`,
		Flags: append([]ucli.Flag{
			&ucli.IntFlag{Name: "nodes", Aliases: []string{"N"}, Usage: "number of whole nodes", Value: 1},
			&ucli.StringFlag{Name: "time", Aliases: []string{"t"}, Usage: "time limit: 30m, 2h, MM, HH:MM:SS or D-HH:MM:SS", Value: "1h"},
			&ucli.StringFlag{Name: "name", Aliases: []string{"J", "job-name"}, Usage: "job name"},
			&ucli.StringFlag{Name: "switches", Usage: "at most `[LEVEL:]N[@WAIT]` switches (leaf switches, or pod: pods), waiting up to WAIT (e.g. 1@30m, pod:1@1h) for such a placement"},
			&ucli.StringFlag{Name: "constraint", Aliases: []string{"C"}, Usage: "node `FEATURES` every node must carry, comma-separated (see `ibex nodes label`)"},
			imageFlag(), firmwareProfileFlag(), isolationFlag(),
			&ucli.BoolFlag{Name: "ignore-unknown-directives", Usage: "warn about #SBATCH/#IBEX options ibex does not support instead of refusing the script"},
			jsonFlag,
		}, append(pipelineFlags(), submitEnvFlags()...)...), // submit_pipeline.go, submit_env.go
		Action: withClient(func(c *ucli.Context, cl *client) error {
			if c.NArg() == 0 {
				return fmt.Errorf("submit needs a script or a command (see `ibex submit --help`)")
			}
			script, isScript, err := scriptFile(c.Args().Slice())
			if err != nil {
				return err
			}
			if isScript {
				if err := applyDirectives(c, c.Args().First(), script); err != nil {
					return err
				}
			}
			req, err := jobRequest(c, false)
			if err != nil {
				return err
			}
			if err := pipelineRequest(c, req); err != nil {
				return err
			}
			if err := applySubmitEnv(c, req); err != nil {
				return err
			}
			if isScript {
				req.Script = script
				if req.Name == "" {
					req.Name = baseName(c.Args().First())
				}
			} else {
				req.Argv = c.Args().Slice()
				if req.Name == "" {
					req.Name = baseName(req.Argv[0])
				}
			}
			ctx, cancel := cl.ctx(c.Context)
			defer cancel()
			resp, err := cl.Jobs.Submit(ctx, req)
			if err != nil {
				return err
			}
			return submitted(c, cl, resp)
		}),
	}
}

// jobFilter is what `ibex queue` narrows the listing to.
type jobFilter struct {
	states       []string
	tenant, name string
	ids          map[uint64]bool
}

// queueFilter reads and checks the queue's filter flags: a state or id
// that cannot match anything is an error, not an empty listing.
func queueFilter(c *ucli.Context) (*jobFilter, error) {
	f := &jobFilter{tenant: c.String("tenant"), name: c.String("name")}
	for _, v := range c.StringSlice("state") {
		for _, st := range strings.Split(v, ",") {
			st = strings.ToLower(strings.TrimSpace(st))
			if !model.JobState(st).Known() {
				return nil, fmt.Errorf("--state %q: not a job state (pending, scheduled, running, completed, failed, cancelled, timeout)", st)
			}
			f.states = append(f.states, st)
		}
	}
	if v := c.String("jobs"); v != "" {
		f.ids = map[uint64]bool{}
		for _, s := range strings.Split(v, ",") {
			id, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			if err != nil || id == 0 {
				return nil, fmt.Errorf("--jobs %q: %q is not a job id", v, s)
			}
			f.ids[id] = true
		}
	}
	return f, nil
}

func (f *jobFilter) match(j *pb.Job) bool {
	return (f.tenant == "" || j.Tenant == f.tenant) && (f.name == "" || j.Name == f.name) && (f.ids == nil || f.ids[j.Id] || f.ids[j.ArrayJobId])
}

// applyDirectives sets the submit flags the script's #IBEX/#SBATCH lines
// name, unless the command line set them.
func applyDirectives(c *ucli.Context, path, script string) error {
	ds, unknown, err := ParseDirectives(script)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(unknown) > 0 {
		if !c.Bool("ignore-unknown-directives") {
			return fmt.Errorf("%s: %s (or submit with --ignore-unknown-directives)", path, strings.Join(unknown, "; "))
		}
		for _, u := range unknown {
			fmt.Fprintf(c.App.ErrWriter, "warning: %s: %s: ignored\n", path, u)
		}
	}
	for _, d := range ds {
		if c.IsSet(d.Flag) {
			continue
		}
		if err := c.Set(d.Flag, d.Value); err != nil {
			return fmt.Errorf("%s: line %d: %s %s: %w", path, d.Line, d.Text, d.Value, err)
		}
	}
	return nil
}

// Client-side bounds, the same as the server's, so a typo fails at once
// with a clear message instead of after a large upload.
const (
	maxNodes       = 1 << 20
	maxScriptBytes = 256 << 10
)

// featureList splits a comma-separated --constraint. An empty item is an
// error, not "no constraint": "-C ,,," is a typo, not a wish for any node.
func featureList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			return nil, fmt.Errorf("%q has an empty feature name", s)
		}
		out = append(out, f)
	}
	return out, nil
}

// jobRequest reads the flags shared by submit and alloc.
func jobRequest(c *ucli.Context, interactive bool) (*pb.SubmitRequest, error) {
	n := c.Int("nodes")
	if n <= 0 || n > maxNodes {
		return nil, fmt.Errorf("-N must be at least 1 and at most %d, got %d", maxNodes, n)
	}
	tl, err := ParseTimeLimit(c.String("time"))
	if err != nil {
		return nil, err
	}
	req := &pb.SubmitRequest{Name: c.String("name"), NumNodes: int32(n), TimeLimit: durationpb.New(tl), Interactive: interactive,
		RequestId: newRequestID()}
	if req.Features, err = featureList(c.String("constraint")); err != nil {
		return nil, fmt.Errorf("--constraint: %w", err)
	}
	req.Image = c.String("image")
	req.FirmwareProfile = c.String("firmware-profile")
	req.Isolation = c.String("isolation")
	if sw := c.String("switches"); sw != "" {
		level, n, wait, err := ParseSwitchLimit(sw)
		if err != nil {
			return nil, err
		}
		req.Switches, req.SwitchWait, req.SwitchLevel = uint32(n), durationpb.New(wait), uint32(level)
	}
	return req, nil
}

// ParseSwitchLimit reads --switches [LEVEL:]N[@WAIT]: Slurm's form, with
// an optional level the count applies to: leaf (the default, 1), pod (2:
// the switches right above the leaves) or a level number up to 16.
func ParseSwitchLimit(s string) (level, n int, wait time.Duration, err error) {
	level = 1
	if lv, rest, ok := strings.Cut(s, ":"); ok {
		switch lv {
		case "leaf":
			level = 1
		case "pod":
			level = 2
		default:
			level, err = strconv.Atoi(lv)
			if err != nil || level < 1 || level > 16 {
				return 0, 0, 0, fmt.Errorf("--switches %q: the level before ':' is leaf, pod or 1..16, e.g. pod:1@30m", s)
			}
		}
		s = rest
	}
	n, wait, err = ParseSwitches(s)
	return level, n, wait, err
}

// ParseSwitches reads Slurm's --switches=N[@WAIT] form.
func ParseSwitches(s string) (int, time.Duration, error) {
	count, wait, hasWait := strings.Cut(s, "@")
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 || n > 1<<16 {
		return 0, 0, fmt.Errorf("--switches %q: want N[@WAIT] with N >= 1, e.g. 2 or 1@30m", s)
	}
	var d time.Duration
	if hasWait {
		if d, err = ParseTimeLimit(wait); err != nil {
			return 0, 0, fmt.Errorf("--switches %q: %v", s, err)
		}
	}
	return n, d, nil
}

// scriptFile returns the file's contents when args is a single text file.
func scriptFile(args []string) (string, bool, error) {
	if len(args) != 1 {
		return "", false, nil
	}
	fi, err := os.Stat(args[0])
	if err != nil || !fi.Mode().IsRegular() {
		return "", false, nil
	}
	if fi.Size() > maxScriptBytes {
		return "", false, fmt.Errorf("%s is %d bytes; a batch script may be at most %d KiB (stage data files on the nodes, not in the script)", args[0], fi.Size(), maxScriptBytes>>10)
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return "", false, fmt.Errorf("read script: %w", err)
	}
	if bytes.IndexByte(b[:min(len(b), 8192)], 0) >= 0 {
		return "", false, nil // a binary: run it as a command
	}
	return string(b), true, nil
}

// newRequestID makes retries of one submission idempotent.
func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// jobArg reads the command's single job-id argument.
func jobArg(c *ucli.Context, what string) (uint64, error) {
	if err := exactArgs(c, 1, what); err != nil {
		return 0, err
	}
	return parseJobID(c.Args().First())
}

func parseJobID(s string) (uint64, error) {
	id, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%q is not a job id (a positive number, as printed by submit)", s)
	}
	return id, nil
}

func queueCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "queue",
		Usage: "list pending and running jobs",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "include finished jobs"},
			&ucli.StringSliceFlag{Name: "state", Aliases: []string{"t"}, Usage: "only jobs in these `STATES` (pending, scheduled, running, completed, failed, cancelled, timeout; comma-separated or repeated)"},
			&ucli.StringFlag{Name: "tenant", Aliases: []string{"u"}, Usage: "only this tenant's jobs (admins see every tenant)"},
			&ucli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "only jobs with this name"},
			&ucli.StringFlag{Name: "jobs", Aliases: []string{"j"}, Usage: "only these job `IDS`, comma-separated"},
			jsonFlag,
		},
		Action: withClient(func(c *ucli.Context, cl *client) error {
			f, err := queueFilter(c)
			if err != nil {
				return err
			}
			ctx, cancel := cl.ctx(c.Context)
			defer cancel()
			jobs, err := ibexclient.AllJobs(ctx, cl.Jobs, &pb.ListJobsRequest{All: c.Bool("all"), States: f.states})
			if err != nil {
				return err
			}
			jobs = slices.DeleteFunc(jobs, func(j *pb.Job) bool { return !f.match(j) })
			if c.Bool("json") {
				return printJSON(c.App.Writer, jobs...)
			}
			w := table(c.App.Writer)
			fmt.Fprintln(w, "JOBID\tNAME\tTENANT\tSTATE\tNODES\tTIME\tLIMIT\tNODELIST(REASON)")
			now := time.Now()
			for _, j := range jobs {
				where := j.Nodelist
				if where == "" {
					where = "(" + orDash(j.Reason) + ")"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", displayID(j), printable(j.Name), printable(j.Tenant), j.State, j.NumNodes,
					fmtDuration(elapsed(j, now)), fmtDuration(j.TimeLimit.AsDuration()), printable(where))
			}
			return w.Flush()
		}),
	}
}

func showCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "show",
		Usage:     "show one job or allocation",
		ArgsUsage: "JOB",
		Flags:     []ucli.Flag{jsonFlag},
		Action: withClient(func(c *ucli.Context, cl *client) error {
			id, err := jobArg(c, "one job id")
			if err != nil {
				return err
			}
			ctx, cancel := cl.ctx(c.Context)
			defer cancel()
			j, err := cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: id})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printOneJSON(c.App.Writer, j)
			}
			printJob(c, j)
			return nil
		}),
	}
}

func printJob(c *ucli.Context, j *pb.Job) {
	w := table(c.App.Writer)
	kind := "batch"
	if j.Interactive {
		kind = "allocation"
	}
	what := "(script)"
	if len(j.Argv) > 0 {
		what = strings.Join(j.Argv, " ")
	} else if j.Interactive {
		what = "-"
	}
	exit := "-"
	if j.HasExitCode {
		exit = strconv.Itoa(int(j.ExitCode))
	}
	rows := [][2]string{
		{"JobId", strconv.FormatUint(j.Id, 10)}, {"Name", j.Name}, {"Kind", kind}, {"Tenant", j.Tenant},
		{"State", j.State}, {"Reason", orDash(j.Reason)}, {"Command", what},
		{"NumNodes", strconv.Itoa(int(j.NumNodes))}, {"NodeList", orDash(j.Nodelist)}, {"Partition", partition(j)},
		{"TimeLimit", fmtDuration(j.TimeLimit.AsDuration())}, {"RunTime", fmtDuration(elapsed(j, time.Now()))},
		{"SubmitTime", fmtTime(j.SubmitTime, j.SubmitTime != nil)}, {"StartTime", fmtTime(j.StartTime, j.StartTime != nil)},
		{"EndTime", fmtTime(j.EndTime, j.EndTime != nil)}, {"ExitCode", exit},
	}
	rows = append(rows, pipelineRows(j)...) // submit_pipeline.go
	if j.Image != "" {
		rows = append(rows, [2]string{"Image", j.Image})
	}
	if j.FirmwareProfile != "" {
		rows = append(rows, [2]string{"FirmwareProfile", j.FirmwareProfile})
	}
	if j.HasUsage {
		mem := "-"
		if j.MemoryPeakBytes > 0 {
			mem = fmt.Sprintf("%.1f MiB", float64(j.MemoryPeakBytes)/(1<<20))
		}
		rows = append(rows, [2]string{"CPUTime", fmt.Sprintf("%.3fs", j.CpuSeconds)}, [2]string{"MaxMemory", mem},
			[2]string{"Output", fmt.Sprintf("%d bytes", j.OutputBytes)})
	}
	rows = append(rows, envRows(j)...)
	rows = append(rows, isolationRows(j)...)
	for _, r := range rows {
		fmt.Fprintf(w, "%s:\t%s\n", r[0], printable(r[1]))
	}
	w.Flush()
}

func partition(j *pb.Job) string {
	if j.Pkey == 0 {
		return "-"
	}
	if j.PartitionReady {
		return fmt.Sprintf("%#04x (confirmed on the fabric)", j.Pkey)
	}
	return fmt.Sprintf("%#04x (not yet confirmed)", j.Pkey)
}

func logsCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "logs",
		Usage:     "print a job's output (stdout, then stderr labelled, of every node), whole, however large",
		ArgsUsage: "JOB",
		Description: `Prints each node's stdout, then its stderr under a "==> NODE (stderr) <=="
label; --stdout or --stderr prints only one. A job submitted with -o/-e shows
those files, read on its nodes. The output is not capped. With -f, each
node's stdout is followed until the job ends, then its stderr (follow
stderr live with -f --stderr).`,
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "node", Usage: "only this node's output"},
			&ucli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new output until the job ends"},
		}, logsStreamFlags()...),
		Action: withClient(func(c *ucli.Context, cl *client) error {
			id, err := jobArg(c, "one job id")
			if err != nil {
				return err
			}
			only := c.String("node")
			which, err := logsStream(c)
			if err != nil {
				return err
			}
			ctx, cancel := cl.ctx(c.Context)
			job, err := cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: id})
			cancel()
			if err != nil {
				return err
			}
			if only != "" && !slices.Contains(job.Nodes, only) && len(job.Nodes) > 0 {
				return fmt.Errorf("job %d did not run on %s", id, only)
			}
			// The stream has no deadline: output of any size, or a
			// followed job, takes as long as it takes.
			p := &logsPrinter{w: c.App.Writer, headers: only == "" && len(job.Nodes) > 1, both: which == ""}
			err = cl.StreamLogs(c.Context, &pb.StreamLogsRequest{JobId: id, Node: only, Follow: c.Bool("follow"), Stream: which}, p.chunk)
			if status.Code(err) == codes.Unimplemented && !c.Bool("follow") {
				return printLogs(c, cl, id, only) // a server older than StreamLogs
			}
			return err
		}),
	}
}

// printLogs prints the tail of each node's output through the unary Logs
// call of servers that cannot stream.
func printLogs(c *ucli.Context, cl *client, id uint64, only string) error {
	ctx, cancel := cl.ctx(c.Context)
	defer cancel()
	resp, err := cl.Jobs.Logs(ctx, &pb.LogsRequest{JobId: id})
	if err != nil {
		return err
	}
	for _, l := range resp.Logs {
		if only != "" && l.Node != only {
			continue
		}
		if only == "" && len(resp.Logs) > 1 {
			fmt.Fprintf(c.App.Writer, "==> %s <==\n", l.Node)
		}
		c.App.Writer.Write(l.Output)
		if len(l.Output) >= unaryLogCap {
			fmt.Fprintf(c.App.ErrWriter, "ibex logs: %s: only the last %d MiB shown (this server's Logs call caps each node's output; a newer ibexd streams it whole)\n", l.Node, unaryLogCap>>20)
		}
	}
	return nil
}

func cancelCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "cancel",
		Usage:     "cancel jobs (their processes are killed and the nodes cleaned); an array's id cancels every task, ARRAY_INDEX (12_7) one",
		ArgsUsage: "JOB|ARRAY_INDEX [...]",
		Flags:     []ucli.Flag{jsonFlag},
		Action: withClient(func(c *ucli.Context, cl *client) error {
			if c.NArg() == 0 {
				return fmt.Errorf("cancel takes one or more job ids")
			}
			for _, a := range c.Args().Slice() {
				id, task, isTask, err := parseJobOrTask(a)
				if err != nil {
					return err
				}
				if isTask {
					if err := cancelTask(c, cl, id, task); err != nil {
						return err
					}
					continue
				}
				ctx, cancel := cl.ctx(c.Context)
				j, err := cl.Jobs.Cancel(ctx, &pb.CancelRequest{JobId: id, RequestId: newRequestID()})
				cancel()
				if err != nil {
					return err
				}
				if c.Bool("json") {
					printOneJSON(c.App.Writer, j)
				} else {
					fmt.Fprintf(c.App.Writer, "Cancelled job %d\n", id)
				}
			}
			return nil
		}),
	}
}
