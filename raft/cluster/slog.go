package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// SlogLogger makes hashicorp/raft (and raft-wal) log through l, so raft's
// lines come out in ibexd's format (text or JSON) at ibexd's level, with
// the component named in a "logger" attribute. Raft is chatty at Info, so
// floor raises what it may log: its Info lines become visible only when
// floor is Info or lower.
func SlogLogger(l *slog.Logger, floor slog.Level) hclog.Logger {
	return &slogHC{l: l, name: "raft", floor: floor}
}

type slogHC struct {
	l     *slog.Logger
	name  string
	args  []any
	floor slog.Level
}

func toSlog(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Info:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (h *slogHC) enabled(l slog.Level) bool {
	return l >= h.floor && h.l.Enabled(context.Background(), l)
}

func (h *slogHC) Log(level hclog.Level, msg string, args ...any) {
	l := toSlog(level)
	if !h.enabled(l) {
		return
	}
	all := append([]any{"logger", h.name}, h.args...)
	all = append(all, args...)
	for i, a := range all {
		if f, ok := a.(hclog.Format); ok && len(f) > 0 { // hclog.Fmt("%+v", x)
			if format, ok := f[0].(string); ok {
				all[i] = fmt.Sprintf(format, f[1:]...)
			}
		}
	}
	h.l.Log(context.Background(), l, msg, all...)
}

func (h *slogHC) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *slogHC) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *slogHC) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *slogHC) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *slogHC) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }
func (h *slogHC) IsTrace() bool                 { return h.enabled(toSlog(hclog.Trace)) }
func (h *slogHC) IsDebug() bool                 { return h.enabled(slog.LevelDebug) }
func (h *slogHC) IsInfo() bool                  { return h.enabled(slog.LevelInfo) }
func (h *slogHC) IsWarn() bool                  { return h.enabled(slog.LevelWarn) }
func (h *slogHC) IsError() bool                 { return h.enabled(slog.LevelError) }
func (h *slogHC) ImpliedArgs() []any            { return h.args }
func (h *slogHC) Name() string                  { return h.name }

func (h *slogHC) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any(nil), h.args...), args...)
	return &c
}

func (h *slogHC) Named(name string) hclog.Logger {
	c := *h
	c.name = h.name + "." + name
	return &c
}

func (h *slogHC) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel and GetLevel: the level is ibexd's (--log-level), not raft's.
func (h *slogHC) SetLevel(hclog.Level) {}
func (h *slogHC) GetLevel() hclog.Level {
	switch {
	case h.IsTrace():
		return hclog.Trace
	case h.IsDebug():
		return hclog.Debug
	case h.IsInfo():
		return hclog.Info
	case h.IsWarn():
		return hclog.Warn
	}
	return hclog.Error
}

func (h *slogHC) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(nil), "", 0)
}

func (h *slogHC) StandardWriter(*hclog.StandardLoggerOptions) io.Writer { return stdWriter{h} }

// stdWriter turns standard-library log lines ("[WARN] raft: ...") into
// records at the level their prefix names.
type stdWriter struct{ h *slogHC }

func (w stdWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := hclog.Info
	for prefix, l := range map[string]hclog.Level{"[TRACE]": hclog.Trace, "[DEBUG]": hclog.Debug, "[INFO]": hclog.Info, "[WARN]": hclog.Warn, "[ERR]": hclog.Error, "[ERROR]": hclog.Error} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			level, msg = l, strings.TrimSpace(rest)
			break
		}
	}
	w.h.Log(level, msg)
	return len(p), nil
}
