package redfishmock

import (
	"net/http"
	"slices"
	"time"
)

// ResetRequest is a ComputerSystem.Reset the server accepted.
type ResetRequest struct {
	System    string // URI of the system, e.g. /redfish/v1/Systems/1
	ResetType string
	Before    string // PowerState before the reset
	After     string // PowerState after the reset
}

// resetTypes is the ResetType enum of Resource.v1_x, used when a mockup
// does not narrow it with AllowableValues or an ActionInfo.
var resetTypes = []string{
	"On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart",
	"Nmi", "ForceOn", "PushPowerButton", "PowerCycle", "Suspend", "Pause",
	"Resume", "FullPowerCycle",
}

// nextPowerState models what a BMC does to PowerState for each ResetType,
// and whether the host goes through POST (which consumes a one-time boot
// override). Transitions are immediate: the mock has no PoweringOn phase.
// Restarts of a powered-off host power it on, as most BMCs do.
func nextPowerState(cur, resetType string) (next string, boots bool) {
	switch resetType {
	case "Off":
		// Not a Redfish ResetType, but HPE Cray EX node BMCs list it
		// next to ForceOff; it powers the node off.
		return "Off", false
	case "On", "ForceOn":
		return "On", cur != "On"
	case "ForceOff", "GracefulShutdown", "Suspend":
		return "Off", false
	case "GracefulRestart", "ForceRestart", "PowerCycle", "FullPowerCycle":
		return "On", true
	case "PushPowerButton":
		if cur == "On" {
			return "Off", false
		}
		return "On", true
	case "Pause":
		return "Paused", false
	case "Resume":
		return "On", false
	}
	return cur, false // Nmi and anything else leave power alone
}

func (s *Server) reset(w http.ResponseWriter, act *action, body map[string]any) *httpError {
	p := params{action: act.name, body: body}
	if herr := p.unknown("ResetType"); herr != nil {
		return herr
	}
	rt, herr := p.str("ResetType", true)
	if herr != nil {
		return herr
	}
	allowed, ok := s.allowable(act, "ResetType")
	if !ok {
		allowed = resetTypes
	}
	if !slices.Contains(allowed, rt) {
		return errParamNotInList(act.name, "ResetType", rt)
	}
	if s.pending[act.owner] != nil {
		return errResourceInUse(act.owner)
	}
	sys, ok := s.docForWrite(act.owner)
	if !ok {
		return errNotFound(act.owner)
	}
	before, _ := sys["PowerState"].(string)
	after, boots := nextPowerState(before, rt)
	sys["PowerState"] = after
	if s.lag > 0 && after != before && (after == "On" || after == "Off") {
		sys["PowerState"] = "Powering" + after
		s.pending[act.owner] = &pending{final: after, reads: s.lag}
	}
	change := PowerChange{System: act.owner, ResetType: rt, Before: before, After: after, Boots: boots}
	if boots {
		change.BootTarget, change.BootMode = bootOverride(sys)
	}
	if boots {
		if boot, ok := sys["Boot"].(map[string]any); ok && boot["BootSourceOverrideEnabled"] == "Once" {
			boot["BootSourceOverrideEnabled"] = "Disabled"
		}
		s.applyPendingBios(sys)
		if _, ok := sys["LastResetTime"]; ok {
			sys["LastResetTime"] = time.Now().UTC().Format(time.RFC3339)
		}
	}
	s.put(act.owner, sys)
	s.resets = append(s.resets, ResetRequest{System: act.owner, ResetType: rt, Before: before, After: after})
	if s.onPower != nil && (after != before || boots) {
		s.onPower(change)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Resets returns the resets accepted so far, oldest first.
func (s *Server) Resets() []ResetRequest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.resets)
}

// pending is a power transition the server shows for a while: real BMCs
// report PoweringOff or PoweringOn for seconds after a reset, and refuse
// further resets until it is done.
type pending struct {
	final string // PowerState once the transition is over
	reads int    // GETs of the system left before it is
}

// SetPowerTransition makes every later reset that changes a system's power
// show the transitional PowerState (PoweringOn, PoweringOff) for the next
// reads GETs of that system over HTTP, and refuse further resets of it
// (409 ResourceInUse) until then. Counting reads rather than time keeps
// tests of clients that wait for a power state free of sleeps. Zero, the
// default, makes transitions immediate.
func (s *Server) SetPowerTransition(reads int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag = max(reads, 0)
}

// advancePower counts a GET of key against a transition under way and
// ends the transition when its reads are used up.
func (s *Server) advancePower(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending[key]
	if p == nil {
		return
	}
	if p.reads > 0 {
		p.reads--
		return
	}
	delete(s.pending, key)
	if sys, ok := s.docForWrite(key); ok {
		sys["PowerState"] = p.final
		s.put(key, sys)
	}
}
