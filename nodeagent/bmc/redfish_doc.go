package bmc

import (
	"encoding/json"
	"errors"
)

// systemDoc is what this package reads from a ComputerSystem itself,
// beyond gofish's typed view: gofish's Boot is a value struct, so it cannot
// say whether the system has a Boot object at all, and the reset target is
// private to it.
type systemDoc struct {
	HasBoot        bool
	AllowedTargets []string // nil when the system does not constrain them
	Actions        struct {
		Reset *actionDoc
	}
}

type actionDoc struct {
	Target string
}

// updateServiceDoc is the part of an UpdateService this package needs;
// gofish keeps both links private and returns nil, nil for a missing one,
// which cannot be told apart from an empty inventory.
type updateServiceDoc struct {
	FirmwareInventory string
	SimpleUpdate      *actionDoc
}

// parseSystem decodes a ComputerSystem leniently: a property of the wrong
// type is treated as absent rather than failing the whole operation, since
// vendors get annotations wrong more often than the core properties.
func parseSystem(raw []byte) (systemDoc, error) {
	var top struct {
		Boot    json.RawMessage            `json:"Boot"`
		Actions map[string]json.RawMessage `json:"Actions"`
	}
	var doc systemDoc
	if err := unmarshalObject(raw, &top); err != nil {
		return doc, err
	}
	if len(top.Boot) > 0 && string(top.Boot) != "null" && top.Boot[0] == '{' {
		doc.HasBoot = true
		var boot struct {
			Allowed []string `json:"BootSourceOverrideTarget@Redfish.AllowableValues"`
		}
		if json.Unmarshal(top.Boot, &boot) == nil {
			doc.AllowedTargets = boot.Allowed
		}
	}
	doc.Actions.Reset = parseAction(top.Actions["#ComputerSystem.Reset"])
	return doc, nil
}

func parseUpdateService(raw []byte) (updateServiceDoc, error) {
	var top struct {
		FirmwareInventory json.RawMessage            `json:"FirmwareInventory"`
		Actions           map[string]json.RawMessage `json:"Actions"`
	}
	var doc updateServiceDoc
	if err := unmarshalObject(raw, &top); err != nil {
		return doc, err
	}
	var link struct {
		ID string `json:"@odata.id"`
	}
	if json.Unmarshal(top.FirmwareInventory, &link) == nil {
		doc.FirmwareInventory = link.ID
	}
	doc.SimpleUpdate = parseAction(top.Actions["#UpdateService.SimpleUpdate"])
	return doc, nil
}

func parseAction(raw json.RawMessage) *actionDoc {
	var a struct {
		Target string `json:"target"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &a) != nil || a.Target == "" {
		return nil
	}
	return &actionDoc{Target: a.Target}
}

// unmarshalObject decodes raw, which must be a JSON object, into v. Type
// errors in fields are tolerated (the fields stay zero); syntax errors and
// non-objects are not.
func unmarshalObject(raw []byte, v any) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil || probe == nil {
		return errors.New("BMC returned a resource that is not a JSON object")
	}
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(raw, v); err != nil && !errors.As(err, &typeErr) {
		return errors.New("BMC returned a resource that is not a JSON object")
	}
	return nil
}
