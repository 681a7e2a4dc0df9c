package metrics

import (
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

type fakeSource struct {
	st    *fsm.State
	stats map[string]string
}

func (f *fakeSource) Read(fn func(*fsm.State))     { fn(f.st) }
func (f *fakeSource) RaftStats() map[string]string { return f.stats }
func (f *fakeSource) LinkHealth() (map[string]int, bool) {
	return map[string]int{"healthy": 40, "down": 1}, true
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func job(id uint64, st model.JobState, wait time.Duration, started bool) *model.Job {
	j := &model.Job{ID: id, Tenant: "admin", NumNodes: 1, State: st, SubmitTime: t0}
	if started {
		j.StartTime = t0.Add(wait)
	}
	return j
}

func testState() *fsm.State {
	st := fsm.NewState()
	st.Tenants["admin"] = &model.Tenant{Name: "admin", Admin: true}
	st.Tenants["alice"] = &model.Tenant{Name: "alice"}
	for i, s := range []model.NodeState{model.NodeReady, model.NodeReady, model.NodeReady, model.NodeAllocated, model.NodeAllocated, model.NodeCleaning, model.NodeDown, model.NodeQuarantined} {
		name := string(rune('a' + i))
		st.Nodes[name] = &model.Node{Name: name, State: s, Drained: i == 2 || i == 4}
	}
	for _, j := range []*model.Job{
		job(1, model.JobPending, 0, false),
		job(2, model.JobRunning, 30*time.Second, true),
		job(3, model.JobRunning, 2*time.Hour, true),
		job(4, model.JobCompleted, 200*time.Millisecond, true),
		job(5, model.JobCancelled, 0, false),        // cancelled while queued: never started, no wait observed
		job(6, model.JobFailed, -time.Second, true), // a clock step between leaders: counted as 0
	} {
		st.Jobs[j.ID] = j
	}
	return st
}

func leaderStats() map[string]string {
	return map[string]string{"state": "Leader", "term": "3", "last_log_index": "42", "commit_index": "42", "applied_index": "41",
		"last_snapshot_index": "0", "fsm_pending": "1", "num_peers": "2", "last_contact": "0", "protocol_version": "3"}
}

// series gathers reg and returns every gauge sample as `name{k="v"}` →
// value, and the help text of every family.
func series(t *testing.T, reg *prometheus.Registry) (map[string]float64, map[string]string) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values, help := map[string]float64{}, map[string]string{}
	for _, mf := range mfs {
		help[mf.GetName()] = mf.GetHelp()
		for _, m := range mf.GetMetric() {
			if m.GetGauge() == nil {
				continue
			}
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf("{%s=%q}", l.GetName(), l.GetValue())
			}
			values[key] = m.GetGauge().GetValue()
		}
	}
	return values, help
}

func TestStateAndRaftSeries(t *testing.T) {
	got, help := series(t, NewRegistry(&fakeSource{st: testState(), stats: leaderStats()}))
	want := map[string]float64{
		`ibex_jobs{state="pending"}`: 1, `ibex_jobs{state="scheduled"}`: 0, `ibex_jobs{state="running"}`: 2,
		`ibex_jobs{state="completed"}`: 1, `ibex_jobs{state="failed"}`: 1, `ibex_jobs{state="cancelled"}`: 1, `ibex_jobs{state="timeout"}`: 0,
		`ibex_nodes{state="ready"}`: 3, `ibex_nodes{state="allocated"}`: 2, `ibex_nodes{state="cleaning"}`: 1, `ibex_nodes{state="down"}`: 1, `ibex_nodes{state="quarantined"}`: 1,
		"ibex_nodes_drained": 2, "ibex_tenants": 2,
		"ibex_raft_is_leader": 1, "ibex_raft_term": 3, "ibex_raft_last_log_index": 42, "ibex_raft_commit_index": 42,
		"ibex_raft_applied_index": 41, "ibex_raft_last_snapshot_index": 0, "ibex_raft_fsm_pending": 1, "ibex_raft_peers": 2,
		`ibex_links{health="healthy"}`: 40, `ibex_links{health="degraded"}`: 0, `ibex_links{health="down"}`: 1,
	}
	for k, w := range want {
		if v, ok := got[k]; !ok || v != w {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, "ibex_") {
			t.Errorf("unexpected series %s", k)
		}
	}
	if help["ibex_jobs"] == "" || help["ibex_raft_is_leader"] == "" {
		t.Error("series without help text")
	}
}

func TestQueueWaitHistogramCountsStartedJobs(t *testing.T) {
	reg := NewRegistry(&fakeSource{st: testState(), stats: leaderStats()})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ibex_job_queue_wait_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		// Jobs 2, 3, 4 and 6 started: waits 30 s, 2 h, 0.2 s and (clamped) 0.
		if h.GetSampleCount() != 4 || h.GetSampleSum() != 30+7200+0.2 {
			t.Fatalf("count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
		}
		want := map[float64]uint64{0.1: 1, 0.5: 2, 30: 3, 3600: 3, 7200: 4, 259200: 4}
		for _, b := range h.GetBucket() {
			if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
				t.Errorf("le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
			}
		}
		return
	}
	t.Fatal("no ibex_job_queue_wait_seconds")
}

// A follower, or a raft that reports less, exports what it has and never
// a made-up 0.
func TestRaftSeriesOnlyWhenReported(t *testing.T) {
	got, _ := series(t, NewRegistry(&fakeSource{st: fsm.NewState(), stats: map[string]string{"state": "Follower", "term": "7", "commit_index": "junk"}}))
	var raft []string
	for k, v := range got {
		if strings.HasPrefix(k, "ibex_raft_") {
			raft = append(raft, fmt.Sprintf("%s=%v", k, v))
		}
	}
	sort.Strings(raft)
	if strings.Join(raft, " ") != "ibex_raft_is_leader=0 ibex_raft_term=7" {
		t.Fatalf("raft series %v, want only is_leader=0 and term=7", raft)
	}
}

func TestNamesFollowPrometheusConventions(t *testing.T) {
	reg := NewRegistry(&fakeSource{st: testState(), stats: leaderStats()})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "ibex_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// The METRICS section of doc.go lists exactly what is exported, so the doc
// cannot promise a series that does not exist, or miss one that does.
func TestDocListsExactlyTheExportedSeries(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	section := string(doc)
	section = section[strings.Index(section, "Exported now:"):strings.Index(section, "/metrics is served")]
	var documented []string
	for _, m := range regexp.MustCompile(`(?m)^//\t(ibex_[a-z_]+)`).FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	reg := NewRegistry(&fakeSource{st: testState(), stats: leaderStats()})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "ibex_") {
			exported = append(exported, mf.GetName())
		}
	}
	sort.Strings(documented)
	sort.Strings(exported)
	if strings.Join(documented, " ") != strings.Join(exported, " ") {
		t.Fatalf("doc.go lists\n  %v\nbut /metrics exports\n  %v", documented, exported)
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	reg := NewRegistry(&fakeSource{st: testState(), stats: leaderStats()})
	w := httptest.NewRecorder()
	Handler(reg).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	for _, want := range []string{`ibex_jobs{state="running"} 2`, "ibex_job_queue_wait_seconds_count 4", "go_goroutines", "process_"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
