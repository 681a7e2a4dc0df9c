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
	sys, ok := s.docForWrite(act.owner)
	if !ok {
		return errNotFound(act.owner)
	}
	before, _ := sys["PowerState"].(string)
	after, boots := nextPowerState(before, rt)
	sys["PowerState"] = after
	if boots {
		if boot, ok := sys["Boot"].(map[string]any); ok && boot["BootSourceOverrideEnabled"] == "Once" {
			boot["BootSourceOverrideEnabled"] = "Disabled"
		}
		if _, ok := sys["LastResetTime"]; ok {
			sys["LastResetTime"] = time.Now().UTC().Format(time.RFC3339)
		}
	}
	s.put(act.owner, sys)
	s.resets = append(s.resets, ResetRequest{System: act.owner, ResetType: rt, Before: before, After: after})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Resets returns the resets accepted so far, oldest first.
func (s *Server) Resets() []ResetRequest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.resets)
}
