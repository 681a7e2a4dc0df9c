package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
)

// tilesIn is a predicate: every named node's tile has the given state.
func tilesIn(state string, nodes []string) string {
	return fmt.Sprintf(`%q.split(" ").every(n => document.querySelector('#fabric [data-node="' + n + '"]')?.dataset.state === %q)`,
		strings.Join(nodes, " "), state)
}

// fillOf is the colour a node's tile is painted with.
func fillOf(node string) string {
	return fmt.Sprintf(`getComputedStyle(document.querySelector('#fabric [data-node=%q]')).fill`, node)
}

// TestDashboardInBrowser drives the dashboard of a real `ibexd --dev` in
// headless chromium the way an operator would: sign in, read the fabric,
// watch a job start without reloading, open a node, and see a tenant's
// anonymised view. A link going down is TestDashboardLinkDown.
func TestDashboardInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	c := startDev(t)
	b := newBrowser(t, chromium)
	url := "http://" + c.http + "/"

	// A wrong token is refused in the form, and nothing is stored.
	b.do("load the page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("token")))
	b.do("sign in with a wrong token", chromedp.SendKeys(chromedp.ID("token"), "ibex_wrong"), chromedp.Click(chromedp.CSS("#login-form button")))
	b.waitFor("the refusal", `document.getElementById("login-error").textContent.includes("not accepted")`)
	if stored := eval[bool](b, `sessionStorage.getItem("ibex.token") !== null || document.getElementById("token").value !== ""`); stored {
		t.Fatal("a refused token was stored or left in the form")
	}

	b.do("sign in as admin",
		chromedp.SendKeys(chromedp.ID("token"), c.adminToken()),
		chromedp.Click(chromedp.CSS("#login-form button")))
	b.waitFor("32 node tiles", `document.querySelectorAll("#fabric .node").length === 32`)
	b.waitFor("the live stream", `document.getElementById("live").dataset.state === "live"`)
	if got := eval[string](b, `document.getElementById("node-total").textContent`); got != "32" {
		t.Errorf("node total %q, want 32", got)
	}
	if got := eval[int](b, `document.querySelectorAll("#fabric .leaf").length`); got != 4 {
		t.Errorf("%d leaves drawn, want 4", got)
	}
	if got := eval[int](b, `document.querySelectorAll("#fabric .spine").length`); got != 2 {
		t.Errorf("%d spines drawn, want 2", got)
	}
	readyFill := eval[string](b, fillOf("node001"))

	// A marker on window survives only if the page is never reloaded.
	b.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.ibexTestMarker = "same page"`))
	id := jobID(t, c.must("submit", "-N", "4", "-t", "5m", "--name", "browser-job", "--", "sleep", "300"))
	j := c.waitState(id, "running")
	b.waitFor("the job's nodes turn allocated", tilesIn("allocated", j.Nodes))
	b.waitFor("the job in the running table", fmt.Sprintf(`document.querySelector('#running tr[data-job="%s"]')?.textContent.includes("browser-job")`, id))
	if marker := eval[string](b, `window.ibexTestMarker || "reloaded"`); marker != "same page" {
		t.Fatal("the page reloaded to show the change; it must update in place")
	}
	if fill := eval[string](b, fillOf(j.Nodes[0])); fill == readyFill {
		t.Errorf("%s is still painted %s after it was allocated", j.Nodes[0], fill)
	}

	b.do("open a node", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#fabric [data-node=%q]`, j.Nodes[0]))))
	b.waitFor("the node's detail", fmt.Sprintf(`document.querySelector('#detail dl')?.dataset.node === %q`, j.Nodes[0]))
	detail := eval[string](b, `document.getElementById("detail").innerText`)
	for _, want := range []string{j.Nodes[0], "allocated", "admin", id + " browser-job", "not reported"} {
		if !strings.Contains(detail, want) {
			t.Errorf("node detail lacks %q:\n%s", want, detail)
		}
	}
	b.screenshot("dashboard-admin.png")

	// A tenant sees the admin's job as someone else's.
	tok := strings.TrimSpace(c.must("tenant", "create", "alice"))
	tok = tok[strings.LastIndex(tok, " ")+1:]
	b.do("sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("token")))
	b.do("sign in as alice", chromedp.SendKeys(chromedp.ID("token"), tok), chromedp.Click(chromedp.CSS("#login-form button")))
	b.waitFor("alice's view", `document.getElementById("who").textContent === "alice"`)
	b.waitFor("the admin's nodes shown as other's", tilesIn("allocated", j.Nodes)+` && document.querySelector('#fabric [data-node="`+j.Nodes[0]+`"]').dataset.tenant === "other"`)
	running := eval[string](b, `document.getElementById("running").innerText`)
	if strings.Contains(running, "browser-job") || strings.Contains(running, "admin") {
		t.Errorf("alice sees the admin's job by name:\n%s", running)
	}
	// Coloured by tenant, someone else's nodes differ from free ones.
	b.do("colour by tenant", chromedp.Evaluate[chromedp.Void](`(s => { s.value = "tenant"; s.dispatchEvent(new Event("change")); })(document.getElementById("color-by"))`))
	b.waitFor("the tenant legend", `document.getElementById("legend").textContent.includes("other")`)
	free := []string{}
	for _, n := range c.nodes() {
		if n.State == "ready" {
			free = append(free, n.Name)
		}
	}
	if busy, idle := eval[string](b, fillOf(j.Nodes[0])), eval[string](b, fillOf(free[0])); busy == idle {
		t.Errorf("coloured by tenant, %s (other's) and %s (free) are both %s", j.Nodes[0], free[0], busy)
	}
	b.screenshot("dashboard-tenant.png")

	// The only console errors allowed are the browser's notes of the 401
	// the wrong token got.
	if p := b.problems(func(m chromedp.ConsoleMessage) bool {
		return m.Source == "network" && strings.Contains(m.Text, "401")
	}); len(p) > 0 {
		t.Errorf("console errors or exceptions:\n  %s\nwhole console:\n%s", strings.Join(p, "\n  "), b.console())
	}
	t.Logf("console:\n%s", b.console())
}

// TestDashboardLinkDown unplugs a host's cable on a real ibsim fabric under
// OpenSM: without a reload, the page marks the node's link down and shows
// the node drained.
func TestDashboardLinkDown(t *testing.T) {
	chromium := chromiumPath(t)
	if err := ibsim.Available(); err != nil {
		t.Skipf("SKIP (real fabric needed): %v", err)
	}
	c := startDev(t, "--fabric", "ibsim", "--leaves", "2", "--nodes-per-leaf", "4", "--health-every", "500ms")
	deadline := time.Now().Add(120 * time.Second)
	for !strings.Contains(c.must("fabric", "health", "--all"), "node003") {
		if time.Now().After(deadline) {
			t.Fatal("no fabric health report")
		}
		time.Sleep(200 * time.Millisecond)
	}
	b := newBrowser(t, chromium)
	b.do("load the page", chromedp.Navigate("http://"+c.http+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	b.do("sign in as admin", chromedp.SendKeys(chromedp.ID("token"), c.adminToken()), chromedp.Click(chromedp.CSS("#login-form button")))
	b.waitFor("8 node tiles", `document.querySelectorAll("#fabric .node").length === 8`)
	b.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.ibexTestMarker = "same page"`))
	c.console(`Unlink "node003"`)
	b.waitFor("node003's link marked down", `document.querySelector('#fabric [data-node="node003"]')?.classList.contains("bad-link")`)
	b.waitFor("node003 drained", tilesIn("drained", []string{"node003"}))
	if marker := eval[string](b, `window.ibexTestMarker || "reloaded"`); marker != "same page" {
		t.Fatal("the page reloaded to show the link going down")
	}
	b.screenshot("dashboard-link-down.png")
}
