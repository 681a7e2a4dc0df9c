// Package pipeline holds what Slurm users build pipelines with: the
// grammars of --array, --dependency and --begin (tenant input, so each
// parser bounds its input and has a fuzz target), and the pure rules that
// say whether a pending job may start yet (eligible.go). The replicated
// state (raft/fsm) and the leader's scheduling pass both call the rules,
// so the state machine re-checks exactly what the scheduler decided from.
package pipeline

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ibex-hpc/ibex/model"
)

// Limits on arrays. Slurm's MaxArraySize defaults to 1001 (indices
// 0..1000); ibex allows indices 0..MaxArrayIndex and at most
// MaxArrayTasks tasks per array. The array is one record however large
// (model.IndexSet), so the bound protects the queue and the archive (each
// task that runs becomes a record), not the submit.
const (
	MaxArrayIndex = 9999
	MaxArrayTasks = 10000
	// MaxArraySpec bounds the --array text ("1,3,5,..." lists included).
	MaxArraySpec = 1024
	// MaxArrayItems bounds the comma-separated items of one spec (and so
	// the ranges of an array's record).
	MaxArrayItems = 256
	// MaxArrayRanges bounds the ranges an array's record holds after
	// single tasks were cancelled out of the middle of its ranges.
	MaxArrayRanges = 1024
)

// ParseArray reads sbatch's --array syntax: comma-separated items, each N,
// N-M or N-M:STEP, then an optional %THROTTLE (at most that many tasks at
// once). It returns the indices as canonical ranges (sorted, merged; a
// repeated index is an error) and the throttle (0: none).
func ParseArray(spec string) (model.IndexSet, int, error) {
	if len(spec) > MaxArraySpec {
		return nil, 0, fmt.Errorf("--array is %d bytes, at most %d", len(spec), MaxArraySpec)
	}
	list, thr, hasThr := strings.Cut(spec, "%")
	throttle := 0
	if hasThr {
		n, err := strconv.Atoi(thr)
		if err != nil || n < 1 || n > MaxArrayTasks {
			return nil, 0, fmt.Errorf("--array %q: the throttle after %% is a number from 1 to %d", clip(spec), MaxArrayTasks)
		}
		throttle = n
	}
	if list == "" {
		return nil, 0, fmt.Errorf("--array %q: no indices (e.g. 1-100, 1,3,5, 0-15:4, 1-100%%10)", clip(spec))
	}
	items := strings.Split(list, ",")
	if len(items) > MaxArrayItems {
		return nil, 0, fmt.Errorf("--array: %d items, at most %d (use ranges: 1-100)", len(items), MaxArrayItems)
	}
	var seen [MaxArrayIndex + 1]bool
	count := 0
	for _, it := range items {
		lo, hi, step, err := parseArrayItem(it)
		if err != nil {
			return nil, 0, fmt.Errorf("--array %q: %v", clip(spec), err)
		}
		for i := lo; i <= hi; i += step {
			if seen[i] {
				return nil, 0, fmt.Errorf("--array %q: index %d appears twice", clip(spec), i)
			}
			seen[i] = true
			count++
		}
	}
	if count > MaxArrayTasks {
		return nil, 0, fmt.Errorf("--array: %d tasks, at most %d", count, MaxArrayTasks)
	}
	set := compress(seen[:])
	if len(set) > MaxArrayItems {
		return nil, 0, fmt.Errorf("--array %q: the indices make %d ranges, at most %d: use fewer, regular ranges", clip(spec), len(set), MaxArrayItems)
	}
	return set, throttle, nil
}

func parseArrayItem(it string) (lo, hi, step int, err error) {
	r, st, hasStep := strings.Cut(it, ":")
	a, b, isRange := strings.Cut(r, "-")
	if lo, err = index(a); err != nil {
		return 0, 0, 0, err
	}
	hi, step = lo, 1
	if isRange {
		if hi, err = index(b); err != nil {
			return 0, 0, 0, err
		}
		if hi < lo {
			return 0, 0, 0, fmt.Errorf("range %s runs backwards", it)
		}
	}
	if hasStep {
		if !isRange {
			return 0, 0, 0, fmt.Errorf("%s: a step needs a range (N-M:STEP)", it)
		}
		step, err = strconv.Atoi(st)
		if err != nil || step < 1 || step > MaxArrayIndex {
			return 0, 0, 0, fmt.Errorf("%s: the step is a number from 1 to %d", it, MaxArrayIndex)
		}
	}
	return lo, hi, step, nil
}

func index(s string) (int, error) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not an index (0 to %d)", s, MaxArrayIndex)
	}
	n, _ := strconv.Atoi(s)
	if n > MaxArrayIndex {
		return 0, fmt.Errorf("index %d is above the largest, %d", n, MaxArrayIndex)
	}
	return n, nil
}

// compress turns a set of indices into the fewest greedy ranges of a
// constant step: 3..100 is one range, 1,3,5 is 1-5:2.
func compress(seen []bool) model.IndexSet {
	var idx []int
	for i, ok := range seen {
		if ok {
			idx = append(idx, i)
		}
	}
	var out model.IndexSet
	for k := 0; k < len(idx); {
		if k+1 == len(idx) {
			out = append(out, model.IndexRange{Lo: idx[k], Hi: idx[k]})
			break
		}
		step := idx[k+1] - idx[k]
		e := k + 1
		for e+1 < len(idx) && idx[e+1]-idx[e] == step {
			e++
		}
		if e == k+1 && step != 1 {
			// two points only: keep the first alone, the second may start
			// a longer run
			out = append(out, model.IndexRange{Lo: idx[k], Hi: idx[k]})
			k++
			continue
		}
		r := model.IndexRange{Lo: idx[k], Hi: idx[e]}
		if step != 1 {
			r.Step = step
		}
		out = append(out, r)
		k = e + 1
	}
	return out
}

// MaxDependencySpec bounds the --dependency text, and MaxDependencies the
// conditions in it.
const (
	MaxDependencySpec = 1024
	MaxDependencies   = 64
)

// ParseDependency reads sbatch's --dependency syntax: comma-separated
// conditions TYPE:ID[:ID...] (after, afterany, afterok, afternotok) or
// singleton, all of which must hold. sbatch's '?' (any one of them),
// after:ID+MINUTES, aftercorr, afterburstbuffer and expand are refused
// with a message rather than half-understood. Repeated conditions are
// merged.
func ParseDependency(spec string) ([]model.Dependency, error) {
	if len(spec) > MaxDependencySpec {
		return nil, fmt.Errorf("--dependency is %d bytes, at most %d", len(spec), MaxDependencySpec)
	}
	if spec == "" {
		return nil, nil
	}
	if strings.Contains(spec, "?") {
		return nil, fmt.Errorf("--dependency %q: ibex takes only ',' (every condition must hold); '?' (any one of them) is not supported", clip(spec))
	}
	var out []model.Dependency
	for _, cond := range strings.Split(spec, ",") {
		parts := strings.Split(cond, ":")
		typ := parts[0]
		switch typ {
		case model.DepSingleton:
			if len(parts) != 1 {
				return nil, fmt.Errorf("--dependency %q: singleton takes no job ids", clip(spec))
			}
			d := model.Dependency{Type: model.DepSingleton}
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
			continue
		case model.DepAfter, model.DepAfterAny, model.DepAfterOK, model.DepAfterNotOK:
		case "aftercorr", "afterburstbuffer", "expand":
			return nil, fmt.Errorf("--dependency %q: %s is not supported (after, afterany, afterok, afternotok and singleton are)", clip(spec), typ)
		default:
			return nil, fmt.Errorf("--dependency %q: %q is not a dependency type (after, afterany, afterok, afternotok, singleton)", clip(spec), clip(typ))
		}
		if len(parts) < 2 {
			return nil, fmt.Errorf("--dependency %q: %s needs job ids (%s:ID[:ID...])", clip(spec), typ, typ)
		}
		for _, p := range parts[1:] {
			if strings.Contains(p, "+") {
				return nil, fmt.Errorf("--dependency %q: a delay (ID+MINUTES) is not supported", clip(spec))
			}
			if strings.Contains(p, "_") {
				return nil, fmt.Errorf("--dependency %q: %s: name an array task by its own job id (the first column of `ibex queue`), or the whole array by its id", clip(spec), clip(p))
			}
			id, err := strconv.ParseUint(p, 10, 64)
			if err != nil || id == 0 {
				return nil, fmt.Errorf("--dependency %q: %q is not a job id", clip(spec), clip(p))
			}
			d := model.Dependency{Type: typ, JobID: id}
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
		if len(out) > MaxDependencies {
			return nil, fmt.Errorf("--dependency: more than %d conditions", MaxDependencies)
		}
	}
	return out, nil
}

// FormatDependency writes dependencies back in sbatch's syntax, one
// TYPE:ID[:ID...] per type in first-seen order, for `ibex show`.
func FormatDependency(ds []model.Dependency) string {
	var types []string
	ids := map[string][]string{}
	for _, d := range ds {
		if !slices.Contains(types, d.Type) {
			types = append(types, d.Type)
		}
		if d.JobID != 0 {
			ids[d.Type] = append(ids[d.Type], strconv.FormatUint(d.JobID, 10))
		}
	}
	parts := make([]string, 0, len(types))
	for _, t := range types {
		parts = append(parts, strings.Join(append([]string{t}, ids[t]...), ":"))
	}
	return strings.Join(parts, ",")
}

// clip shortens hostile input quoted back in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
