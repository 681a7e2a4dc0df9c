// Package model holds the domain types shared by the replicated state, the
// scheduler and the API: jobs, nodes and tenants. It has no behaviour beyond
// small predicates, so every other package can import it.
package model

import "time"

// JobState is where a job is in its life. The order of the constants is the
// order of the happy path.
type JobState string

const (
	JobPending   JobState = "pending"   // waiting for nodes
	JobScheduled JobState = "scheduled" // nodes committed, processes not yet confirmed started
	JobRunning   JobState = "running"
	JobCompleted JobState = "completed"
	JobFailed    JobState = "failed"
	JobCancelled JobState = "cancelled"
	JobTimeout   JobState = "timeout"
)

// Terminal reports whether the job will never change state again.
func (s JobState) Terminal() bool {
	switch s {
	case JobCompleted, JobFailed, JobCancelled, JobTimeout:
		return true
	}
	return false
}

// Known reports whether s is one of the states above.
func (s JobState) Known() bool {
	switch s {
	case JobPending, JobScheduled, JobRunning, JobCompleted, JobFailed, JobCancelled, JobTimeout:
		return true
	}
	return false
}

// Active reports whether the job holds nodes.
func (s JobState) Active() bool { return s == JobScheduled || s == JobRunning }

// Job is a batch job or, when Interactive, an allocation handed to the
// tenant without a script. Times are set by the leader and carried in raft
// commands, never read from a clock inside the state machine.
type Job struct {
	ID          uint64        `json:"id"`
	Name        string        `json:"name"`
	Tenant      string        `json:"tenant"`
	NumNodes    int           `json:"num_nodes"`
	TimeLimit   time.Duration `json:"time_limit"`
	Interactive bool          `json:"interactive,omitempty"`
	// Script is the body of a batch script; Argv a command line. A batch job
	// has exactly one of them; an interactive allocation has neither.
	Script string   `json:"script,omitempty"`
	Argv   []string `json:"argv,omitempty"`
	// Switches > 0 limits the job to that many leaf switches, waiting up
	// to SwitchWait for such a placement.
	Switches   int           `json:"switches,omitempty"`
	SwitchWait time.Duration `json:"switch_wait,omitempty"`
	// SwitchLevel is the level Switches counts (0 or 1: leaf switches, 2:
	// pods, ...; see scheduler.JobOptions).
	SwitchLevel int `json:"switch_level,omitempty"`
	// Features every node of the job must carry.
	Features []string `json:"features,omitempty"`
	// Image is the catalog image ("name:version") the job's nodes run,
	// written by their deployment when they do not carry it ("": the
	// cluster's image).
	Image string `json:"image,omitempty"`
	// RequestID makes submission idempotent per tenant (see SubmitRequest).
	RequestID string `json:"request_id,omitempty"`

	// PKey is the job's InfiniBand partition key (0: none), and
	// PartitionReady says the fabric confirmed it on every port of the
	// job's nodes: processes start only after that.
	PKey           uint16 `json:"pkey,omitempty"`
	PartitionReady bool   `json:"partition_ready,omitempty"`

	State      JobState  `json:"state"`
	Nodes      []string  `json:"nodes,omitempty"`
	SubmitTime time.Time `json:"submit_time"`
	StartTime  time.Time `json:"start_time,omitzero"`
	EndTime    time.Time `json:"end_time,omitzero"`
	ExitCode   *int      `json:"exit_code,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	// EndRequestID is the request id of the cancel or release that ended
	// the job, so that call's retry is recognised.
	EndRequestID string `json:"end_request_id,omitempty"`
	// Usage is what the job's processes used, read from their cgroups by
	// the nodes' agents when the job ended (nil: not measured).
	Usage *JobUsage `json:"usage,omitempty"`

	// --- pipelines (#15.3, pipeline.go) ---
	// Depend lists the conditions the job waits for (all of them, like
	// sbatch's comma-separated --dependency).
	Depend []Dependency `json:"depend,omitempty"`
	// Held keeps a pending job from starting until `ibex release-hold`;
	// ReleaseRequestID is the request id of the release, so its retry is
	// recognised.
	Held             bool   `json:"held,omitempty"`
	ReleaseRequestID string `json:"release_request_id,omitempty"`
	// BeginTime: the job does not start before it (zero: any time).
	BeginTime time.Time `json:"begin_time,omitzero"`
	// ArrayJobID is the id of the array the job belongs to (0: none). The
	// array's record (ID == ArrayJobID) holds the tasks not yet started
	// in ArrayPending; each task that starts splits off into a record of
	// its own with ArrayTaskID, and the last one keeps the array's record.
	ArrayJobID   uint64   `json:"array_job_id,omitempty"`
	ArrayTaskID  int      `json:"array_task_id,omitempty"`
	ArrayPending IndexSet `json:"array_pending,omitempty"`
	// ArrayThrottle caps the array's tasks holding nodes at once (%N; 0:
	// no cap). ArrayCount/Min/Max describe the whole array (its tasks'
	// environment).
	ArrayThrottle int `json:"array_throttle,omitempty"`
	ArrayCount    int `json:"array_count,omitempty"`
	ArrayMin      int `json:"array_min,omitempty"`
	ArrayMax      int `json:"array_max,omitempty"`
	// ArrayDone is set on the array's record when its last task ended,
	// with ArrayFailed the number of tasks that did not complete: the
	// whole array's outcome, kept when the records move to the archive.
	ArrayDone   bool `json:"array_done,omitempty"`
	ArrayFailed int  `json:"array_failed,omitempty"`
	// --- env (#15.2, #15.4): the batch job's environment and files, as
	// sbatch's --export, -D, -o/-e and its SLURM_* variables (jobenv.go).
	// Env holds the exported NAME=VALUE variables; Workdir the directory
	// the job runs in on every node ("": the job's own directory there);
	// SubmitDir where it was submitted from (SLURM_SUBMIT_DIR); Output and
	// Error the -o/-e file patterns ("": the output is kept by the node
	// agent, for `ibex logs`); NoSlurmEnv turns the SLURM_* variables off.
	Env        []string `json:"env,omitempty"`
	Workdir    string   `json:"workdir,omitempty"`
	SubmitDir  string   `json:"submit_dir,omitempty"`
	Output     string   `json:"output,omitempty"`
	Error      string   `json:"error,omitempty"`
	NoSlurmEnv bool     `json:"no_slurm_env,omitempty"`
	// --- firmware profiles (fwprofile.go) ---
	// FirmwareProfile is the approved profile the job's nodes run ("":
	// the baseline pin), applied before the job starts.
	FirmwareProfile string `json:"firmware_profile,omitempty"`
	// Link isolation (scheduler/links.go). Isolation "links" asks that the
	// job's traffic between leaf switches use only uplinks no other
	// isolated job holds; Links are the uplinks ("leaf>spine") the
	// scheduler gave it, recorded with its allocation and held while it
	// holds its nodes.
	Isolation string   `json:"isolation,omitempty"`
	Links     []string `json:"links,omitempty"`
}

// JobUsage is a job's resource use over all its nodes.
type JobUsage struct {
	CPUSeconds      float64 `json:"cpu_seconds"`       // summed over the nodes
	MemoryPeakBytes uint64  `json:"memory_peak_bytes"` // the largest node's peak
	OutputBytes     int64   `json:"output_bytes"`      // summed over the nodes
}

// Clone returns a deep copy, so readers never share slices with the store.
func (j *Job) Clone() *Job {
	c := *j
	if j.Usage != nil {
		u := *j.Usage
		c.Usage = &u
	}
	c.Argv = append([]string(nil), j.Argv...)
	c.Nodes = append([]string(nil), j.Nodes...)
	c.Features = append([]string(nil), j.Features...)
	c.Depend = append([]Dependency(nil), j.Depend...)
	c.ArrayPending = j.ArrayPending.Clone()
	c.Env = append([]string(nil), j.Env...)
	c.Links = append([]string(nil), j.Links...)
	if j.ExitCode != nil {
		e := *j.ExitCode
		c.ExitCode = &e
	}
	return &c
}

// Deadline is when a started job runs out of time.
func (j *Job) Deadline() time.Time { return j.StartTime.Add(j.TimeLimit) }
