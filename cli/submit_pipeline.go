package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	ibexclient "github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/pipeline"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Pipelines (#15.3): submit's --dependency, --array, --hold, --begin,
// --wait and --parsable, `ibex release-hold`, and array ids (12_7) for
// cancel.

func pipelineFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "dependency", Aliases: []string{"d"}, Usage: "start only after other jobs: `TYPE:ID[:ID...][,...]` with TYPE afterok, afterany, afternotok or after, or singleton (one running job per name)"},
		&ucli.StringFlag{Name: "array", Aliases: []string{"a"}, Usage: "a job array: `INDICES` like 1-100, 1,3,5 or 0-15:4, with %N to run at most N tasks at once (1-100%10)"},
		&ucli.BoolFlag{Name: "hold", Aliases: []string{"H"}, Usage: "submit held: the job starts only after ibex release-hold ID"},
		&ucli.StringFlag{Name: "begin", Aliases: []string{"b"}, Usage: "start no earlier than `TIME`: now+1hour, +30m, 16:00, 2026-12-24T08:00"},
		&ucli.BoolFlag{Name: "wait", Aliases: []string{"W"}, Usage: "wait until the job (every task of an array) ends, and exit with its exit code"},
		&ucli.BoolFlag{Name: "parsable", Usage: "print only the job id"},
	}
}

// pipelineRequest reads the pipeline flags into req. The server parses
// and bounds --dependency and --array itself; --begin is read here, in
// the user's time zone, and sent as a time.
func pipelineRequest(c *ucli.Context, req *pb.SubmitRequest) error {
	req.Dependency, req.Array, req.Hold = c.String("dependency"), c.String("array"), c.Bool("hold")
	if b := c.String("begin"); b != "" {
		t, err := pipeline.ParseBegin(b, time.Now(), time.Local)
		if err != nil {
			return err
		}
		req.BeginTime = timestamppb.New(t)
	}
	return nil
}

// submitted prints what submit made, as the flags ask, and waits for it
// with --wait.
func submitted(c *ucli.Context, cl *client, resp *pb.SubmitResponse) error {
	switch {
	case c.Bool("parsable"):
		fmt.Fprintln(c.App.Writer, resp.JobId)
	case c.Bool("json"):
		if err := printOneJSON(c.App.Writer, resp); err != nil {
			return err
		}
	default:
		fmt.Fprintf(c.App.Writer, "Submitted job %d\n", resp.JobId)
	}
	if !c.Bool("wait") {
		return nil
	}
	code, err := waitJob(c.Context, cl, resp.JobId, c.App.ErrWriter)
	if err != nil {
		return err
	}
	return exitWith(code)
}

// waitPoll is how often --wait asks for the job's state.
const waitPoll = time.Second

// waitJob blocks until job id ends (for an array, every task) and returns
// the exit code sbatch --wait would: the job's, or for an array the
// largest of its tasks'; 1 for a job that ended without one (cancelled,
// timed out, lost).
func waitJob(ctx context.Context, cl *client, id uint64, errw interface{ Write([]byte) (int, error) }) (int, error) {
	for {
		cctx, cancel := cl.ctx(ctx)
		j, err := cl.Jobs.Get(cctx, &pb.GetJobRequest{JobId: id})
		cancel()
		if err != nil {
			return 0, err
		}
		isArray := j.ArrayJobId == j.Id
		if model.JobState(j.State).Terminal() && (!isArray || j.ArrayDone) {
			if !isArray {
				return exitCodeOf(j, errw), nil
			}
			return arrayExitCode(ctx, cl, id, errw)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(waitPoll):
		}
	}
}

func exitCodeOf(j *pb.Job, errw interface{ Write([]byte) (int, error) }) int {
	if j.HasExitCode {
		return int(j.ExitCode)
	}
	if j.State == string(model.JobCompleted) {
		return 0
	}
	fmt.Fprintf(errw, "ibex: job %d %s: %s\n", j.Id, j.State, printable(j.Reason))
	return 1
}

// arrayExitCode is the largest exit code among array id's tasks.
func arrayExitCode(ctx context.Context, cl *client, id uint64, errw interface{ Write([]byte) (int, error) }) (int, error) {
	cctx, cancel := cl.ctx(ctx)
	defer cancel()
	jobs, err := ibexclient.AllJobs(cctx, cl.Jobs, &pb.ListJobsRequest{All: true, AfterId: id - 1})
	if err != nil {
		return 0, err
	}
	code := 0
	for _, j := range jobs {
		if j.ArrayJobId == id {
			code = max(code, exitCodeOf(j, errw))
		}
	}
	return code, nil
}

// parseJobOrTask reads a job id, or an array task as ARRAY_INDEX (12_7).
func parseJobOrTask(s string) (id uint64, task int, isTask bool, err error) {
	a, t, ok := strings.Cut(strings.TrimSpace(s), "_")
	if id, err = parseJobID(a); err != nil || !ok {
		return id, 0, false, err
	}
	task, err = strconv.Atoi(t)
	if err != nil || task < 0 || task > pipeline.MaxArrayIndex {
		return 0, 0, false, fmt.Errorf("%q: an array task is ARRAY_INDEX, e.g. 12_7, with an index from 0 to %d", s, pipeline.MaxArrayIndex)
	}
	return id, task, true, nil
}

func releaseHoldCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "release-hold",
		Usage:     "let held jobs start (scontrol release)",
		ArgsUsage: "JOB [JOB...]",
		Action: withClient(func(c *ucli.Context, cl *client) error {
			if c.NArg() == 0 {
				return fmt.Errorf("release-hold takes one or more job ids")
			}
			for _, a := range c.Args().Slice() {
				id, err := parseJobID(a)
				if err != nil {
					return err
				}
				ctx, cancel := cl.ctx(c.Context)
				_, err = cl.Jobs.ReleaseHold(ctx, &pb.ReleaseHoldRequest{JobId: id, RequestId: newRequestID()})
				cancel()
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "Released job %d\n", id)
			}
			return nil
		}),
	}
}

// cancelTask cancels task of array id (ibex cancel 12_7).
func cancelTask(c *ucli.Context, cl *client, id uint64, task int) error {
	ctx, cancel := cl.ctx(c.Context)
	defer cancel()
	j, err := cl.Jobs.CancelTask(ctx, &pb.CancelTaskRequest{JobId: id, TaskId: int32(task), RequestId: newRequestID()})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printOneJSON(c.App.Writer, j)
	}
	fmt.Fprintf(c.App.Writer, "Cancelled job %d_%d (job %d)\n", id, task, j.Id)
	return nil
}

// displayID is a job's id as the queue shows it: 12, 12_7 for a task,
// 12_[3-100%10] for an array's tasks that wait.
func displayID(j *pb.Job) string {
	switch {
	case j.ArrayJobId == 0:
		return strconv.FormatUint(j.Id, 10)
	case j.ArrayPending != "":
		return fmt.Sprintf("%d_[%s]", j.ArrayJobId, j.ArrayPending)
	}
	return fmt.Sprintf("%d_%d", j.ArrayJobId, j.ArrayTaskId)
}

// pipelineRows are `ibex show`'s rows for the pipeline fields.
func pipelineRows(j *pb.Job) [][2]string {
	var rows [][2]string
	if j.ArrayJobId != 0 {
		rows = append(rows, [2]string{"ArrayJobId", strconv.FormatUint(j.ArrayJobId, 10)})
		if j.ArrayPending != "" {
			rows = append(rows, [2]string{"ArrayTasksPending", j.ArrayPending})
		} else {
			rows = append(rows, [2]string{"ArrayTaskId", strconv.Itoa(int(j.ArrayTaskId))})
		}
	}
	if j.Dependency != "" {
		rows = append(rows, [2]string{"Dependency", j.Dependency})
	}
	if j.Held {
		rows = append(rows, [2]string{"Hold", "yes (ibex release-hold " + strconv.FormatUint(j.Id, 10) + ")"})
	}
	if j.BeginTime != nil {
		rows = append(rows, [2]string{"BeginTime", fmtTime(j.BeginTime, true)})
	}
	return rows
}

// directiveBools are directive options that take no value.
var directiveBools = map[string]bool{"hold": true, "wait": true, "parsable": true}

func init() {
	// The pipeline options as #SBATCH/#IBEX directives (directives.go).
	for opt, flag := range map[string]string{
		"d": "dependency", "dependency": "dependency", "a": "array", "array": "array",
		"H": "hold", "hold": "hold", "b": "begin", "begin": "begin",
		"W": "wait", "wait": "wait", "parsable": "parsable",
	} {
		directiveFlags[opt] = flag
		delete(slurmOnly, opt)
	}
}
