package trace

import (
	"container/heap"
	"slices"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/scheduler"
)

// Config is one simulation: a cluster and a policy.
type Config struct {
	Tree   *scheduler.Tree
	Policy scheduler.Policy
	// SwitchWait > 0 makes every multi-node job ask for --switches=LB@wait,
	// LB its leaf lower bound (Tree.LowerBound): wait that long for a
	// placement at the bound, then take what there is. It overrides the
	// jobs' own Switches.
	SwitchWait time.Duration
	// Isolation "links" makes every multi-node job link-isolated
	// (scheduler/links.go), except those bigger than the tree can ever
	// isolate (Tree.MaxIsolated), which ibexd would refuse at submission:
	// they run as they are, so every policy replays the same workload.
	Isolation string
	// OnPlan, if set, sees every plan (tests check promises with it).
	OnPlan func(now time.Duration, p scheduler.Plan)
}

// epoch anchors virtual time; any fixed instant would do.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Outcome is what happened to one job.
type Outcome struct {
	Job    Job
	Start  time.Duration
	Leaves int // leaf groups spanned
	Pods   int // pods spanned (see scheduler.Tree.PodOf)
	// Room is the fewest leaves the nodes free when the job started (its
	// own included) allowed: a job with Leaves > Room was placed worse
	// than the free nodes permitted; one with Room above its lower bound
	// started on a fragmented cluster.
	Room int
	// Held says the job was promised a start (it was the head of a
	// blocked queue) before it started.
	Held bool
	// Nodes are the job's nodes; Links the uplinks it held, if it was
	// link-isolated.
	Nodes, Links []string
}

// Simulate replays jobs (sorted by submit time) on the cluster in virtual
// time: at every instant where a job arrives or ends (and when a switch
// wait runs out), end what ends, queue what arrives, and run one
// scheduler.Schedule pass, exactly as ibexd's controller would. Jobs then
// run for their trace runtime. The scheduler only ever sees the declared
// walltimes.
func Simulate(jobs []Job, cfg Config) []Outcome {
	s := newSim(cfg)
	out := make([]Outcome, 0, len(jobs))
	next := 0
	for next < len(jobs) || len(s.running) > 0 || len(s.snap.Pending) > 0 {
		now, ok := s.nextTime(jobs, next)
		if !ok {
			break // pending jobs that can never start
		}
		s.now = now
		s.finish()
		for next < len(jobs) && jobs[next].Submit <= now {
			s.submit(&jobs[next])
			next++
		}
		plan := scheduler.Schedule(s.snap, cfg.Policy, epoch.Add(now))
		if cfg.OnPlan != nil {
			cfg.OnPlan(now, plan)
		}
		if plan.Hold != nil {
			s.held[plan.Hold.JobID] = true
		}
		for _, a := range plan.Start {
			out = append(out, s.start(a))
		}
	}
	return out
}

type sim struct {
	cfg     Config
	now     time.Duration
	snap    scheduler.Snapshot
	nodes   map[string]*model.Node
	jobs    map[uint64]*simJob
	running map[uint64]*simJob
	ends    endHeap
	wakeups []time.Duration // switch-wait expiries, sorted lazily
	usage   *scheduler.Usage
	// leafFree counts free nodes per leaf group, for Outcome.Room.
	leafFree []int
	held     map[uint64]bool
}

type simJob struct {
	job   *Job
	model *model.Job
	start time.Duration
	idx   int // in snap.Running
}

func newSim(cfg Config) *sim {
	t := cfg.Tree
	s := &sim{cfg: cfg, nodes: map[string]*model.Node{}, jobs: map[uint64]*simJob{}, running: map[uint64]*simJob{},
		usage: scheduler.NewUsage(cfg.Policy.HalfLife), leafFree: make([]int, t.NumLeaves()), held: map[uint64]bool{}}
	for _, h := range t.Hosts() {
		l, _ := t.Leaf(h)
		s.leafFree[l]++
		n := &model.Node{Name: h, Leaf: t.LeafName(l), State: model.NodeReady}
		s.nodes[h] = n
		s.snap.Nodes = append(s.snap.Nodes, n)
	}
	s.snap.Tree = t
	s.snap.Usage = s.usage
	s.snap.Options = map[uint64]scheduler.JobOptions{}
	return s
}

// nextTime is the next instant anything happens.
func (s *sim) nextTime(jobs []Job, next int) (time.Duration, bool) {
	best, ok := time.Duration(0), false
	consider := func(t time.Duration) {
		if !ok || t < best {
			best, ok = t, true
		}
	}
	if next < len(jobs) {
		consider(max(jobs[next].Submit, s.now))
	}
	if len(s.ends) > 0 {
		consider(s.ends[0].at)
	}
	for len(s.wakeups) > 0 && s.wakeups[0] <= s.now {
		s.wakeups = s.wakeups[1:]
	}
	if len(s.wakeups) > 0 {
		consider(s.wakeups[0])
	}
	return best, ok
}

func (s *sim) submit(j *Job) {
	m := &model.Job{ID: j.ID, Tenant: j.Tenant, NumNodes: j.Nodes, TimeLimit: j.Walltime, State: model.JobPending, SubmitTime: epoch.Add(j.Submit)}
	if j.Nodes > 1 && j.Nodes <= s.cfg.Tree.MaxIsolated() {
		m.Isolation = s.cfg.Isolation
	}
	s.jobs[j.ID] = &simJob{job: j, model: m}
	s.snap.Pending = append(s.snap.Pending, m)
	sw, wait := j.Switches, j.SwitchWait
	if s.cfg.SwitchWait > 0 && j.Nodes > 1 {
		sw, wait = s.cfg.Tree.LowerBound(j.Nodes), s.cfg.SwitchWait
	}
	if sw > 0 {
		s.snap.Options[j.ID] = scheduler.JobOptions{Switches: sw, SwitchWait: wait}
		if wait <= 0 {
			wait = s.cfg.Policy.SwitchWait
		}
		i, _ := slices.BinarySearch(s.wakeups, j.Submit+wait)
		s.wakeups = slices.Insert(s.wakeups, i, j.Submit+wait)
	}
}

func (s *sim) start(a scheduler.Assignment) Outcome {
	sj := s.jobs[a.JobID]
	t := s.cfg.Tree
	room := minLeaves(s.leafFree, len(a.Nodes))
	for _, name := range a.Nodes {
		n := s.nodes[name]
		n.State, n.JobID = model.NodeAllocated, a.JobID
		l, _ := t.Leaf(name)
		s.leafFree[l]--
	}
	sj.start = s.now
	sj.model.State, sj.model.Nodes, sj.model.StartTime = model.JobRunning, a.Nodes, epoch.Add(s.now)
	sj.model.Links = a.Links
	sj.idx = len(s.snap.Running)
	s.snap.Running = append(s.snap.Running, sj.model)
	s.running[a.JobID] = sj
	heap.Push(&s.ends, end{at: s.now + sj.job.Run, id: a.JobID})
	s.snap.Pending = slices.DeleteFunc(s.snap.Pending, func(m *model.Job) bool { return m.ID == a.JobID })
	delete(s.snap.Options, a.JobID)
	held := s.held[a.JobID]
	delete(s.held, a.JobID)
	return Outcome{Job: *sj.job, Start: s.now, Leaves: t.LeavesSpanned(a.Nodes), Pods: t.PodsSpanned(a.Nodes), Room: room, Held: held, Nodes: a.Nodes, Links: a.Links}
}

// finish ends every job whose runtime is over: nodes go straight back to
// ready (the simulator has no cleaning step) and the usage is accounted.
func (s *sim) finish() {
	for len(s.ends) > 0 && s.ends[0].at <= s.now {
		e := heap.Pop(&s.ends).(end)
		sj := s.running[e.id]
		delete(s.running, e.id)
		for _, name := range sj.model.Nodes {
			n := s.nodes[name]
			n.State, n.JobID = model.NodeReady, 0
			l, _ := s.cfg.Tree.Leaf(name)
			s.leafFree[l]++
		}
		last := len(s.snap.Running) - 1
		moved := s.snap.Running[last]
		s.snap.Running[sj.idx] = moved
		s.jobs[moved.ID].idx = sj.idx
		s.snap.Running = s.snap.Running[:last]
		s.usage.Add(sj.job.Tenant, sj.job.Nodes, epoch.Add(sj.start), epoch.Add(e.at))
		delete(s.jobs, e.id)
	}
}

// minLeaves is the fewest leaves whose free nodes add up to n (free is
// per leaf; it is not modified).
func minLeaves(free []int, n int) int {
	f := slices.Clone(free)
	slices.SortFunc(f, func(a, b int) int { return b - a })
	k, sum := 0, 0
	for _, x := range f {
		if sum >= n {
			break
		}
		sum += x
		k++
	}
	return k
}

type end struct {
	at time.Duration
	id uint64
}

type endHeap []end

func (h endHeap) Len() int { return len(h) }
func (h endHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].id < h[j].id
}
func (h endHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)   { *h = append(*h, x.(end)) }
func (h *endHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
