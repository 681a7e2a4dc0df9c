package bmc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/stmcginnis/gofish/schemas"
)

// RedfishError is an HTTP error answered by a BMC, decoded from the Redfish
// error body (DSP0266 "Error responses") into something a person can read
// in a log line. gofish's own error prints the raw, multi-line body.
type RedfishError struct {
	StatusCode int
	Code       string    // error.code, e.g. "Base.1.8.GeneralError"
	Message    string    // error.message, or a snippet of a non-JSON body
	Messages   []Message // error.@Message.ExtendedInfo
}

// Message is one entry of @Message.ExtendedInfo.
type Message struct {
	ID         string // MessageId, e.g. "Base.1.8.PropertyValueNotInList"
	Text       string
	Severity   string
	Resolution string
}

// Limits that keep a hostile or verbose BMC from producing huge errors.
const (
	maxMessages   = 8
	maxTextLength = 300
)

func (e *RedfishError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "redfish HTTP %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for i, m := range e.Messages {
		if i == 0 {
			b.WriteString(" [")
		} else {
			b.WriteString("; ")
		}
		if m.ID != "" {
			b.WriteString(m.ID + ": ")
		}
		b.WriteString(m.Text)
		if m.Resolution != "" {
			b.WriteString(" (" + m.Resolution + ")")
		}
	}
	if len(e.Messages) > 0 {
		b.WriteString("]")
	}
	return b.String()
}

// HasMessage reports whether any extended message has the given key, with
// or without registry prefix: HasMessage("PropertyValueNotInList") matches
// "Base.1.8.PropertyValueNotInList". Registry versions differ across
// vendors, so callers should match on the key.
func (e *RedfishError) HasMessage(key string) bool {
	return slices.ContainsFunc(e.Messages, func(m Message) bool {
		return m.ID == key || strings.HasSuffix(m.ID, "."+key)
	})
}

// parseErrorBody decodes a BMC error response. It is deliberately tolerant:
// vendors send ExtendedInfo as an object instead of an array (sushy's
// error_single_ext_info.json), put it at the top level, or send HTML from
// a proxy. Whatever arrives, the result has the status and some text.
func parseErrorBody(status int, body []byte) *RedfishError {
	e := &RedfishError{StatusCode: status}
	var top map[string]any
	if json.Unmarshal(body, &top) != nil {
		e.Message = snippet(string(body))
		return e
	}
	obj, ok := top["error"].(map[string]any)
	if !ok {
		obj = top
	}
	e.Code = clean(str(obj["code"]))
	e.Message = clean(str(obj["message"]))
	ext := obj["@Message.ExtendedInfo"]
	if single, ok := ext.(map[string]any); ok {
		ext = []any{single}
	}
	list, _ := ext.([]any)
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		if len(e.Messages) == maxMessages {
			e.Messages = append(e.Messages, Message{Text: fmt.Sprintf("... %d more", len(list)-maxMessages)})
			break
		}
		e.Messages = append(e.Messages, Message{
			ID:         clean(str(m["MessageId"])),
			Text:       clean(str(m["Message"])),
			Severity:   clean(str(m["Severity"])),
			Resolution: clean(str(m["Resolution"])),
		})
	}
	if e.Message == "" && e.Code == "" && len(e.Messages) == 0 {
		e.Message = snippet(string(body))
	}
	return e
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// clean makes BMC-supplied text safe for a single log line.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxTextLength {
		s = strings.ToValidUTF8(s[:maxTextLength], "") + "..."
	}
	return s
}

func snippet(body string) string {
	if s := clean(body); s != "" {
		return s
	}
	return "(empty body)"
}

// convertError turns gofish errors into this package's: HTTP errors become
// *RedfishError, scrubbed with sc as they are made so that no wrapper built
// on top ever holds a secret. gofish's *schemas.Error keeps the raw body
// private but prints it after "<status>: ", which is where it is recovered
// from.
func convertError(err error, sc scrubber) error {
	var se *schemas.Error
	if errors.As(err, &se) && se.HTTPReturnedStatusCode != 0 {
		raw := strings.TrimPrefix(se.Error(), fmt.Sprintf("%d: ", se.HTTPReturnedStatusCode))
		re := parseErrorBody(se.HTTPReturnedStatusCode, []byte(raw))
		re.scrub(sc)
		return re
	}
	var ce *schemas.CollectionError
	if errors.As(err, &ce) {
		links := make([]string, 0, len(ce.Failures))
		for link := range ce.Failures {
			links = append(links, link)
		}
		slices.Sort(links)
		errs := make([]error, 0, len(links))
		for _, link := range links {
			errs = append(errs, fmt.Errorf("%s: %w", link, convertError(ce.Failures[link], sc)))
		}
		return errors.Join(errs...)
	}
	return err
}

func (e *RedfishError) scrub(sc scrubber) {
	e.Code, e.Message = sc(e.Code), sc(e.Message)
	for i := range e.Messages {
		m := &e.Messages[i]
		m.ID, m.Text, m.Severity, m.Resolution = sc(m.ID), sc(m.Text), sc(m.Severity), sc(m.Resolution)
	}
}

// scrubber replaces secrets in a string.
type scrubber func(string) string

// newScrubber returns a scrubber for secrets, covering the forms a secret
// takes when a BMC echoes it back inside JSON or a URL.
func newScrubber(secrets []string) scrubber {
	var variants []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		variants = append(variants, s, url.QueryEscape(s), url.PathEscape(s))
		if j, err := json.Marshal(s); err == nil {
			variants = append(variants, string(bytes.Trim(j, `"`)))
		}
	}
	// Longest first, so that a variant containing another is replaced whole.
	slices.SortFunc(variants, func(a, b string) int { return len(b) - len(a) })
	return func(s string) string {
		for _, v := range variants {
			s = strings.ReplaceAll(s, v, redacted)
		}
		return s
	}
}

// redactedError carries a scrubbed message while keeping the chain for
// errors.Is/As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with every secret removed from its message and from
// any *RedfishError it wraps.
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	sc := newScrubber(secrets)
	walk(err, func(e error) {
		if re, ok := e.(*RedfishError); ok {
			re.scrub(sc)
		}
	})
	return &redactedError{msg: sc(err.Error()), err: err}
}

// walk calls fn on err and everything it wraps, depth first.
func walk(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, fn)
		}
	}
}
