package hca

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxAttrSize bounds one attribute read. sysfs attributes are at most a
// page; anything much larger is not an attribute, and reading it whole
// would let a bad tree exhaust memory.
const maxAttrSize = 64 << 10

// reader reads attribute files and collects one *FileError per problem, so
// a scan can carry on past a bad file.
type reader struct {
	errs []error
}

func (r *reader) fail(path string, err error) {
	r.errs = append(r.errs, &FileError{Path: path, Err: err})
}

// value returns the raw content of dir/name; ok is false when the file is
// missing (not an error: drivers differ) or unreadable (recorded).
func (r *reader) value(dir, name string) (string, bool) {
	path := filepath.Join(dir, name)
	b, err := readAttr(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		// sysfs reports a failed query as a read error (EINVAL, EIO).
		r.fail(path, err)
		return "", false
	}
	return b, true
}

// text returns dir/name as trimmed printable text, "" when missing or bad.
func (r *reader) text(dir, name string) string {
	v, ok := r.value(dir, name)
	if !ok {
		return ""
	}
	v = strings.TrimSpace(v)
	if err := checkPrintable(v); err != nil {
		r.fail(filepath.Join(dir, name), fmt.Errorf("value %w", err))
		return ""
	}
	return v
}

// parsed reads dir/name and parses it; missing or bad files yield the zero
// value, bad ones also an error.
func parsed[T any](r *reader, dir, name string, parse func(string) (T, error)) T {
	var zero T
	v, ok := r.value(dir, name)
	if !ok {
		return zero
	}
	x, err := parse(v)
	if err != nil {
		r.fail(filepath.Join(dir, name), err)
		return zero
	}
	return x
}

// dir lists a directory; ok is false when it is missing or unreadable.
func (r *reader) dir(path string) ([]fs.DirEntry, bool) {
	entries, err := os.ReadDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		r.fail(path, err)
		return nil, false
	}
	return entries, true
}

// counters reads every regular file of port/sub. "N/A" counters are
// appended to unavailable as "sub/name".
func (r *reader) counters(port, sub string, unavailable *[]string) map[string]uint64 {
	dir := filepath.Join(port, sub)
	entries, ok := r.dir(dir)
	if !ok {
		return nil
	}
	m := make(map[string]uint64, len(entries))
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		v, ok := r.value(dir, name)
		if !ok {
			continue
		}
		n, present, err := ParseCounter(v)
		switch {
		case err != nil:
			r.fail(filepath.Join(dir, name), err)
		case !present:
			*unavailable = append(*unavailable, sub+"/"+name)
		default:
			m[name] = n
		}
	}
	return m
}

func parseLMC(s string) (uint8, error) {
	n, err := parseDecimal(strings.TrimSpace(s), 1)
	if err != nil || n > 7 {
		return 0, fmt.Errorf("LMC %q is not 0-7", s)
	}
	return uint8(n), nil
}
