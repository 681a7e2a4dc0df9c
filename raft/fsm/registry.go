// Package fsm is ibex's replicated state machine: typed commands applied to an
// in-memory state store. Apply is deterministic and does no I/O and reads no
// clock: every time it needs arrives inside the command, stamped by the
// leader. The package does not import hashicorp/raft; raft/cluster adapts it.
//
// Every command registers its type byte, its decoder and its apply function
// in one table (see register); the command structs and their apply live in
// files by domain: jobs.go, partitions.go, nodes.go, hygiene.go, fleet.go,
// cluster.go, retention.go.
package fsm

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// CommandType is the first byte of every raft log entry. The values are
// written explicitly and must never change or be reused: raft logs and
// snapshots hold them (testdata/wire.golden pins them).
type CommandType uint8

const (
	CmdRegisterNodes    CommandType = 1
	CmdCreateTenant     CommandType = 2
	CmdSubmitJob        CommandType = 3
	CmdAllocate         CommandType = 4
	CmdStartJob         CommandType = 5
	CmdFinishJob        CommandType = 6
	CmdCancelJob        CommandType = 7
	CmdDrainNode        CommandType = 8
	CmdUndrainNode      CommandType = 9
	CmdNodeCleaned      CommandType = 10
	CmdRegisterServer   CommandType = 11
	CmdDeregisterServer CommandType = 12
	CmdPartitionReady   CommandType = 13
	CmdPendingReasons   CommandType = 14

	CmdSetClusterSecrets CommandType = 64
	CmdCreateJoinToken   CommandType = 65
	CmdEnroll            CommandType = 66
	CmdRevokeAgent       CommandType = 67
	CmdAddImage          CommandType = 68
	CmdNodeInventory     CommandType = 69
	CmdStartTask         CommandType = 70
	CmdTaskDone          CommandType = 71
	CmdNodeDown          CommandType = 72
	CmdNodeUp            CommandType = 73
	CmdImportTopology    CommandType = 74
	CmdQuarantineNode    CommandType = 75
	CmdLabelNode         CommandType = 76
	CmdJobStopped        CommandType = 77 // stopped.go
	CmdStartHandoutCheck CommandType = 78 // handout.go
	CmdHandoutChecked    CommandType = 79
	CmdPartitionDrift    CommandType = 90 // drift.go
)

// Command is a typed state change. Each concrete command names its type.
type Command interface{ Type() CommandType }

// handler is one row of the registration table.
type handler struct {
	name   string
	decode func(body []byte) (Command, error)
	apply  func(s *State, c Command) (any, error)
}

var handlers = map[CommandType]handler{}

// register adds command *T under type byte t, with the function that
// applies it. Handlers validate before they mutate, so a rejected command
// leaves the state untouched. Called from init functions only.
func register[T any, P interface {
	*T
	Command
}](t CommandType, apply func(*State, P) (any, error)) {
	name := reflect.TypeFor[T]().Name()
	if got := P(new(T)).Type(); got != t {
		panic(fmt.Sprintf("fsm: %s registered as type %d but says %d", name, t, got))
	}
	if h, dup := handlers[t]; dup {
		panic(fmt.Sprintf("fsm: type %d registered twice (%s, %s)", t, h.name, name))
	}
	handlers[t] = handler{
		name: name,
		decode: func(body []byte) (Command, error) {
			c := P(new(T))
			return c, json.Unmarshal(body, c)
		},
		apply: func(s *State, c Command) (any, error) {
			p, ok := c.(P)
			if !ok {
				return nil, fmt.Errorf("fsm: %s: got %T", name, c)
			}
			return apply(s, p)
		},
	}
}

// registerE registers a command whose apply returns no value.
func registerE[T any, P interface {
	*T
	Command
}](t CommandType, apply func(*State, P) error) {
	register(t, func(s *State, c P) (any, error) { return nil, apply(s, c) })
}

// entryEncoder is a command with its own wire format (Batch, batch.go).
type entryEncoder interface{ encodeEntry() ([]byte, error) }

// Encode turns a command into a log entry: one type byte, then JSON.
func Encode(c Command) ([]byte, error) {
	if e, ok := c.(entryEncoder); ok {
		return e.encodeEntry()
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", c.Type(), err)
	}
	return append([]byte{byte(c.Type())}, body...), nil
}

// Decode is the inverse of Encode.
func Decode(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("decode command: empty entry")
	}
	h, ok := handlers[CommandType(b[0])]
	if !ok {
		return nil, fmt.Errorf("decode command: unknown type byte %d (known: %v); was the entry written by a newer ibexd?", b[0], knownTypes())
	}
	c, err := h.decode(b[1:])
	if err != nil {
		return nil, fmt.Errorf("decode command %d (%s): %w", b[0], h.name, err)
	}
	return c, nil
}

// apply dispatches one decoded command to its handler.
func (s *State) apply(c Command) (any, error) {
	h, ok := handlers[c.Type()]
	if !ok {
		return nil, fmt.Errorf("fsm: no handler for %T (type %d)", c, c.Type())
	}
	return s.applyTracked(c, h) // dirty.go: notes what c may change
}

func knownTypes() []CommandType {
	ts := make([]CommandType, 0, len(handlers))
	for t := range handlers {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}
