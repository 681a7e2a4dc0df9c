package cli

// Numbers as numbers: proto3's JSON mapping writes 64-bit integers (job
// ids, counts, byte sizes) as strings, because JavaScript's numbers hold
// only 53 bits exactly. Scripts written for squeue/sacct-like tools expect
// `.id == 12`, not `.id == "12"`, and ibex's ids and counts stay far below
// 2^53, so --json output turns those strings back into numbers. The rest
// of protojson's mapping (field names, durations, timestamps, enums) is
// kept, and so is the field order.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// numberize rewrites the 64-bit integer fields of md in the protojson
// encoding b from strings to numbers.
func numberize(b []byte, md protoreflect.MessageDescriptor) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out bytes.Buffer
	if err := copyValue(dec, &out, md, nil); err != nil {
		return nil, fmt.Errorf("json numbers: %w", err)
	}
	return out.Bytes(), nil
}

// is64 reports whether protojson writes the field's values as strings
// holding integers.
func is64(fd protoreflect.FieldDescriptor) bool {
	switch fd.Kind() {
	case protoreflect.Int64Kind, protoreflect.Uint64Kind, protoreflect.Sint64Kind,
		protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return true
	}
	return false
}

// copyValue copies one JSON value from dec to out. md is the message the
// value encodes (nil for a scalar or a message with its own JSON form, such
// as a Timestamp); fd the field it is a value of (nil at the top).
func copyValue(dec *json.Decoder, out *bytes.Buffer, md protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return copyObject(dec, out, md, fd)
		case '[':
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := copyValue(dec, out, md, fd); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
			out.WriteByte(']')
			return nil
		}
		return fmt.Errorf("unexpected %v", t)
	case string:
		if fd != nil && is64(fd) {
			if _, err := strconv.ParseInt(t, 10, 64); err == nil {
				out.WriteString(t)
				return nil
			}
			if _, err := strconv.ParseUint(t, 10, 64); err == nil {
				out.WriteString(t)
				return nil
			}
		}
		enc, _ := json.Marshal(t)
		out.Write(enc)
		return nil
	case json.Number:
		out.WriteString(t.String())
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	}
	return nil
}

func copyObject(dec *json.Decoder, out *bytes.Buffer, md protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor) error {
	out.WriteByte('{')
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("object key %v", tok)
		}
		if i > 0 {
			out.WriteByte(',')
		}
		enc, _ := json.Marshal(key)
		out.Write(enc)
		out.WriteByte(':')
		var sub protoreflect.FieldDescriptor
		var subMD protoreflect.MessageDescriptor
		switch {
		case fd != nil && fd.IsMap():
			// A map's object: every value is of the map's value type.
			sub = fd.MapValue()
			subMD = sub.Message()
		case md != nil && !wellKnown(md):
			if sub = md.Fields().ByTextName(key); sub == nil {
				sub = md.Fields().ByJSONName(key)
			}
			if sub != nil && !sub.IsMap() {
				subMD = sub.Message()
			}
		}
		if sub != nil && sub.IsMap() {
			if err := copyValue(dec, out, nil, sub); err != nil {
				return err
			}
			continue
		}
		if err := copyValue(dec, out, subMD, sub); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return err
	}
	out.WriteByte('}')
	return nil
}

// wellKnown messages have JSON forms of their own (a Duration is "3600s",
// an Int64Value a bare string): left as protojson writes them.
func wellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile() != nil && md.ParentFile().Package() == "google.protobuf"
}
