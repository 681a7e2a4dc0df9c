package scheduler

import (
	"fmt"
	"time"
)

// Order is how the queue is sorted before placement.
type Order int

const (
	// OrderFCFS is submission order.
	OrderFCFS Order = iota
	// OrderPriority is multifactor priority: age plus fair share.
	OrderPriority
)

// Backfill says what happens when the job at the head of the queue does
// not fit.
type Backfill int

const (
	// BackfillNone stops at the first job that does not fit (strict FCFS):
	// nothing overtakes it, so nothing starves, and nodes idle meanwhile.
	BackfillNone Backfill = iota
	// BackfillEASY gives the first job that does not fit a reservation at
	// the earliest time enough nodes free up (going by the walltimes jobs
	// declared) and lets later jobs start now only if that cannot delay it.
	BackfillEASY
)

// Placement chooses a job's nodes among the free ones.
type Placement int

const (
	// PlaceTopology is the tree-aware tightest fit (see view.place).
	PlaceTopology Placement = iota
	// PlaceFirstFit takes the first free nodes in node order: the
	// topology-oblivious baseline.
	PlaceFirstFit
)

// Policy is everything Schedule needs to know besides the state. A policy
// is a value: the trace benchmark runs the same trace through several.
type Policy struct {
	Name      string
	Order     Order
	Backfill  Backfill
	Placement Placement
	// HoldNodes makes the head job's backfill reservation a set of nodes
	// chosen topology-aware for its start time, instead of a node count.
	// Backfilled jobs then keep off those nodes unless they end first, so
	// the head job starts on time and on a good placement.
	HoldNodes bool

	// Priority = AgeWeight·min(1, age/AgeMax) + FairshareWeight·F, with
	// F = 2^(-usage share / entitled share) over usage decayed with
	// HalfLife (Slurm's classic fair-share factor). Only OrderPriority
	// uses them.
	AgeWeight       float64
	AgeMax          time.Duration
	FairshareWeight float64
	HalfLife        time.Duration
	// SlowdownWeight adds SlowdownWeight·X, X the slowdown the job would
	// have if it started now going by its time limit: (wait + limit) /
	// limit (slowdown.go). Short jobs rise fast, long ones slowly, none
	// starve.
	SlowdownWeight float64
	// SlowdownMax > 0 caps that X: past it, age and fair share order the
	// jobs again, so wide long jobs are not left for the end of a backlog.
	SlowdownMax float64
	// Shares entitles tenants to parts of the machine; a tenant not listed
	// has share 1.
	Shares map[string]float64

	// BackfillAtBound lets a job start ahead of a job that waits (a
	// backfill) only on the fewest leaves its size needs (Tree.LowerBound
	// among the nodes it may use). A job behind a blocked queue is not in
	// a hurry by definition; spreading it over the holes it finds would
	// both miss its own bound and fragment the leaves that the jobs ahead
	// of it and the next arrivals need whole.
	BackfillAtBound bool
	// BoundWait > 0 makes a job that could start now only above its leaf
	// lower bound wait for a placement at the bound while the runtime
	// estimates say one comes within BoundWait, and for no longer than
	// BoundWait after submission: a short, bounded wait for a placement
	// that keeps the job's traffic off the spines.
	BoundWait time.Duration
	// BoundWaitFactor > 0 caps that wait further at this multiple of the
	// job's own time limit.
	BoundWaitFactor float64
	// CompactMaxShare > 0 exempts jobs larger than this share of the
	// fabric's hosts from BackfillAtBound and from waiting for their bound
	// when they could start now: they start where they fit
	// (compactlimits.go). As the head of a blocked queue they still get a
	// hold at their bound within BoundWait.
	CompactMaxShare float64
	// BackfillWaitFactor > 0 relaxes BackfillAtBound: a backfill that fits
	// now only above its bound starts there unless a placement at the bound
	// is due within this multiple of its time limit (at most BoundWait)
	// going by the runtime estimates (compactlimits.go).
	BackfillWaitFactor float64
	// AlignEnds places a job that fits one leaf on the leaf it keeps busy
	// the least beyond the end of that leaf's running jobs (by their time
	// limits), instead of the tightest fit, so a leaf's jobs tend to end
	// together and it comes back whole (align.go).
	AlignEnds bool

	// SwitchWait is how long a job asking for at most N leaf switches
	// waits for such a placement when it did not say (Slurm's
	// max_switch_wait, 300 s by default there too).
	SwitchWait time.Duration
}

// IbexPolicy is ibex's default: priority by age and fair share, EASY
// backfill, topology-aware tightest fit, and compact placements: backfills
// start only on the fewest leaves their size needs, and a job that could
// start now only over more leaves waits for a compact placement the
// runtime estimates put within 4 hours (reason Topology). The weights make
// a tenant with no recent usage overtake one that has had the whole
// machine (F from ~0 to 1 is worth 10 000) while age (worth up to 1 000
// after a day) still lifts jobs that have waited long within a tenant and
// between equally served tenants.
//
// Measured with ibex-trace on 16-node leaves (EASY in brackets): multi-node
// jobs at the leaf lower bound 98.2% (75.9%) on KTH-SP2 with mean bounded
// slowdown 54.8 (91.0), 100% (80.0%) on Lublin with 559 (590) at half a
// point less utilization (93.1% against 93.6%: nodes left idle rather than
// given to spread jobs). On short jobs the waits show: on the synthetic
// stream (200 jobs of 1-32 nodes, 20 minutes on average, 4×16 nodes at 90%
// load) 100% (66.6%) at the bound but slowdown 4.91 (3.98).
//
// The head job's hold is a count, not a node set, unless it waits for a
// placement at the bound: on the Lublin trace node holds cut mean bounded
// slowdown (550 against 590) but cost 0.4 points of utilization, because
// a hold has to pick its nodes now, tightest fit first, and long backfill
// jobs then find fewer nodes outside it. Set HoldNodes for the stronger
// promise (the head starts on the nodes it was shown).
func IbexPolicy() Policy {
	return Policy{
		Name: "ibex", Order: OrderPriority, Backfill: BackfillEASY, Placement: PlaceTopology,
		AgeWeight: 1000, AgeMax: 24 * time.Hour, FairshareWeight: 10000, HalfLife: 7 * 24 * time.Hour,
		SwitchWait: 5 * time.Minute, BackfillAtBound: true, BoundWait: 4 * time.Hour,
	}
}

// AlignedPolicy is IbexPolicy tuned towards issue 16's goal (at least 95%
// of multi-node jobs at the leaf lower bound at a mean bounded slowdown no
// higher than EASY's) on fabrics where waiting for compact placements is
// expensive. Two changes: age outweighs fair share once a job has waited
// about two and a half hours (AgeWeight 100 000 against FairshareWeight
// 10 000), so the large jobs of heavy users are not passed over for days
// while they also wait for whole leaves; and a one-leaf job goes to the
// leaf whose running jobs it outlasts least (AlignEnds), so leaves come
// back whole.
//
// Measured with ibex-trace (README, "Placement"; EASY in brackets): on
// PSMN's X5 fabric (89 hosts on six leaves of mixed sizes) with KTH-SP2,
// 95.8% of multi-node jobs on their fewest leaves (70.1%) at mean bounded
// slowdown 235 (148; IbexPolicy 95.5% at 340); on the synthetic stream
// 100% (66.6%) at 4.75 (3.98; IbexPolicy 4.91); on Lublin at leaves of
// 16, 20 and 24 nodes 99.9-100% at 525, 435 and 498 (590; IbexPolicy 559,
// 513, 522). On KTH-SP2 on synthetic trees its slowdown is higher than
// IbexPolicy's (74-79 against 54-68; EASY 91), so it is not the default.
// Neither policy reaches EASY's slowdown on X5 or the stream: backfilling
// only at the bound, which is what keeps 95% of jobs on their fewest
// leaves, idles nodes that a spread backfill would use (without it, 86% of
// the stream's jobs are at the bound at slowdown 3.94).
func AlignedPolicy() Policy {
	p := IbexPolicy()
	p.Name, p.AgeWeight, p.AlignEnds = "ibex-aligned", 100000, true
	return p
}

// SizedPolicy is IbexPolicy with two changes for fabrics where waiting for
// compact placements is expensive: jobs over half the fabric's hosts
// start where they fit instead of waiting for their fewest leaves
// (CompactMaxShare 0.5: their compact placement needs half the machine
// drained into whole leaves), and age outweighs fair share once a job has
// waited about two and a half hours (AgeWeight 100 000 against 10 000), so
// the large jobs of heavy users are not passed over for days.
//
// Measured with ibex-trace (README, "Placement"; EASY in brackets): on
// PSMN's X5 fabric with KTH-SP2, 95.0% of multi-node jobs on their fewest
// leaves (70.1%) at mean bounded slowdown 171 (148; IbexPolicy 95.5% at
// 340, AlignedPolicy 95.8% at 235); KTH-SP2 on leaves of 16, 20 and 24
// nodes 97.0-97.7% at 72-79 (91), Lublin 99.7-99.9% at 480-531 (590); the
// synthetic stream 100% at 4.79 (3.98). It reaches the goal's slowdown
// half on neither X5 nor the stream: with CompactMaxShare 0.2 X5 is at
// EASY's slowdown (146) with 90.0% at the bound, and the other settings
// measured lie between (ibex-trace --sweep compact-max-share=...).
func SizedPolicy() Policy {
	p := IbexPolicy()
	p.Name, p.AgeWeight, p.CompactMaxShare = "ibex-sized", 100000, 0.5
	return p
}

// SlowdownPolicy is IbexPolicy ordered by expected slowdown on top of age
// and fair share (SlowdownWeight 2000 per unit of (wait + time limit) /
// time limit, capped at 13: slowdown.go), with the head job's hold a set
// of nodes chosen on the tree (HoldNodes), so that backfills keep off the
// leaves the head job will start on. Placement is IbexPolicy's: backfills
// only at the leaf lower bound, and a job that could start now over more
// leaves waits up to 4 hours for its fewest.
//
// Waiting for compact placements costs slowdown; ordering the queue by the
// slowdown each job would have if it started now spends the waits where
// they cost the least, and pays for the compaction. The cap keeps wide
// long jobs from being left for the end of a backlog (uncapped, Lublin's
// utilization falls 5 points).
//
// Measured with ibex-trace (README, "Placement"; EASY in brackets), issue
// 16's goal (at least 95% of multi-node jobs on their fewest leaves, mean
// bounded slowdown no higher than EASY's) is met on every replay: the
// synthetic stream 100% (66.6%) at 3.64 (3.98); PSMN's X5 fabric with
// KTH-SP2 96.4% (70.1%) at 130 (148); KTH-SP2 on leaves of 16, 20 and 24
// nodes 98.4-98.5% at 52-53 (91); Lublin 100% at 334-399 (590). The cost
// is utilization: 81.6% against 85.5% on the stream, 91.7-92.4% against
// 93.6% on Lublin, where leaves of 20 sit 0.04 points inside the two
// points TestTraceGoals allows (weights 700-10,000 with caps 8-13 put it
// at 91.1-92.1%; uncapped, 87-88%). Weight and cap are the best measured
// (ibex-trace --sweep slowdown-weight=... --sweep slowdown-max=...):
// weight 1000 with cap 10 leaves X5 at 157, cap 15 takes Lublin below
// the line. Not the default: the slowdown term outweighs the whole
// fair-share factor once a job has waited four times its time limit,
// which changes what tenants were promised.
func SlowdownPolicy() Policy {
	p := IbexPolicy()
	p.Name, p.SlowdownWeight, p.SlowdownMax, p.HoldNodes = "ibex-slowdown", 2000, 13, true
	return p
}

// EASYPolicy is classic EASY backfill: FCFS order, a count-based
// reservation for the head job, topology-aware placement.
func EASYPolicy() Policy {
	return Policy{Name: "easy", Order: OrderFCFS, Backfill: BackfillEASY, Placement: PlaceTopology, SwitchWait: 5 * time.Minute}
}

// FCFSPolicy is strict first-come first-served with topology-aware
// placement: the behaviour of FIFO.
func FCFSPolicy() Policy {
	return Policy{Name: "fcfs", Order: OrderFCFS, Backfill: BackfillNone, Placement: PlaceTopology, SwitchWait: 5 * time.Minute}
}

// FirstFitPolicy is strict FCFS placing each job on the first free nodes
// in node order, blind to the topology: the baseline for placement quality.
func FirstFitPolicy() Policy {
	return Policy{Name: "firstfit", Order: OrderFCFS, Backfill: BackfillNone, Placement: PlaceFirstFit, SwitchWait: 5 * time.Minute}
}

// SpreadPolicy is ibex's default without the compact options: a job
// starts wherever it fits now, over as many leaves as it takes (ibex's
// default before placement was measured against the leaf lower bound).
func SpreadPolicy() Policy {
	p := IbexPolicy()
	p.Name, p.BackfillAtBound, p.BoundWait = "ibex-spread", false, 0
	return p
}

// Policies lists the built-in policies, baseline first.
func Policies() []Policy {
	return []Policy{FirstFitPolicy(), FCFSPolicy(), EASYPolicy(), SpreadPolicy(), IbexPolicy(), AlignedPolicy(), SizedPolicy(), SlowdownPolicy()}
}

// PolicyByName returns a built-in policy.
func PolicyByName(name string) (Policy, error) {
	for _, p := range Policies() {
		if p.Name == name {
			return p, nil
		}
	}
	return Policy{}, fmt.Errorf("scheduler: unknown policy %q (want firstfit, fcfs, easy, ibex-spread, ibex, ibex-aligned, ibex-sized or ibex-slowdown)", name)
}
