// Package credfile reads a BMC login from its file, on its own so that
// the ibex CLI (`ibex nodes bmc set --credentials-file`) does
// not link the Redfish client of package bmc, whose package initialisation
// every CLI process would pay for.
package credfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// Credentials are a BMC login as stored on disk.
type Credentials struct {
	Username string `json:"username"`
	Password Secret `json:"password"`
}

// MaxBytes bounds the file read; a credentials file is tiny.
const MaxBytes = 64 << 10

// Read reads BMC credentials from a JSON file of the form
//
//	{"username": "admin", "password": "..."}
//
// The file must be a regular file (symlinks to one are fine, as Kubernetes
// mounts secrets that way) with no permission bits for group or others:
// a BMC password opens the console and power of a node, so a file other
// users can read is refused instead of silently trusted. Errors name the
// file and the problem but never echo its contents.
func Read(path string) (Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("bmc: credentials file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the checked file is the read one.
	fi, err := f.Stat()
	if err != nil {
		return Credentials{}, fmt.Errorf("bmc: credentials file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Credentials{}, fmt.Errorf("bmc: credentials file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Credentials{}, fmt.Errorf("bmc: credentials file %s has mode %#o, which lets group or others access it; "+
			"refusing to use it (run: chmod 600 %s)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return Credentials{}, fmt.Errorf("bmc: credentials file: %w", err)
	}
	if len(data) > MaxBytes {
		return Credentials{}, fmt.Errorf("bmc: credentials file %s is larger than %d bytes", path, MaxBytes)
	}
	c, err := Parse(data)
	if err != nil {
		return Credentials{}, fmt.Errorf("bmc: credentials file %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes the contents of a credentials file. Decoder errors are rewritten
// because encoding/json quotes the offending input, which could be part of
// the password.
func Parse(data []byte) (Credentials, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Credentials
	if err := dec.Decode(&c); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return Credentials{}, fmt.Errorf("not valid JSON (error at byte %d)", syn.Offset)
		case errors.As(err, &typ):
			return Credentials{}, fmt.Errorf("field %q must be a string", typ.Field)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return Credentials{}, errors.New("empty or truncated JSON")
		default:
			// Unknown fields: the message names the field, not a value,
			// but keep it generic anyway.
			return Credentials{}, errors.New(`expected exactly the fields "username" and "password"`)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Credentials{}, errors.New("unexpected data after the JSON object")
	}
	if c.Username == "" || c.Password == "" {
		return Credentials{}, errors.New(`both "username" and "password" must be non-empty`)
	}
	return c, nil
}

// Secret is a string that does not print. fmt, slog and encoding/json all
// render it as [REDACTED], so a bmc.Config can be logged whole; Reveal returns
// the value for the one place that needs it.
type Secret string

// Redacted is how a Secret prints.
const Redacted = "[REDACTED]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return `bmc.Secret("` + Redacted + `")` }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON keeps the secret out of JSON dumps of a Config.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText keeps the secret out of text encodings (YAML, TOML, ...).
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
