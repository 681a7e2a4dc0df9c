package fsm

import (
	"errors"
	"fmt"
)

// Sentinel errors that the API layer maps to status codes. Apply returns them
// wrapped with a message a user can act on.
var (
	ErrNotFound         = errors.New("not found")
	ErrInvalid          = errors.New("invalid request")
	ErrConflict         = errors.New("conflict")
	ErrPermissionDenied = errors.New("permission denied")
)

func errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}
