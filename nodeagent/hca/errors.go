package hca

import "fmt"

// FileError says which sysfs file could not be read or parsed. The scanner
// returns one per bad file (joined with errors.Join) next to the devices it
// could read, so one odd counter does not hide a whole adapter.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("hca: %s: %v", e.Path, e.Err) }

func (e *FileError) Unwrap() error { return e.Err }
