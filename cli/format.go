package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

var jsonOpts = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// marshal encodes a message as proto3 JSON with stable whitespace
// (protojson deliberately varies it; scripts diffing output should not see
// that), and 64-bit integers as numbers (jsonnum.go).
func marshal(m proto.Message) ([]byte, error) {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		return nil, err
	}
	if b, err = numberize(b, m.ProtoReflect().Descriptor()); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// printJSON writes one message, or a JSON array of messages.
func printJSON[M proto.Message](w io.Writer, msgs ...M) error {
	parts := make([]string, len(msgs))
	for i, m := range msgs {
		b, err := marshal(m)
		if err != nil {
			return err
		}
		parts[i] = string(b)
	}
	_, err := fmt.Fprintln(w, "["+strings.Join(parts, ",\n")+"]")
	return err
}

func printOneJSON(w io.Writer, m proto.Message) error {
	b, err := marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// fmtDuration prints durations the way HPC users read them: D-HH:MM:SS.
func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h, m, s := d/time.Hour, (d%time.Hour)/time.Minute, (d%time.Minute)/time.Second
	if days > 0 {
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, h, m, s)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}

func fmtTime(t interface{ AsTime() time.Time }, valid bool) string {
	if !valid {
		return "-"
	}
	return t.AsTime().Local().Format("2006-01-02 15:04:05")
}

// elapsed is how long a job has run (or ran).
func elapsed(j *pb.Job, now time.Time) time.Duration {
	if j.StartTime == nil {
		return 0
	}
	end := now
	if j.EndTime != nil {
		end = j.EndTime.AsTime()
	}
	return end.Sub(j.StartTime.AsTime())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printable escapes what must not reach a terminal raw: control characters
// and other non-printing runes in names and reasons become \x.. or \u....
// The server refuses such text in new records; this guards the tables
// against older records and against a server that did not.
func printable(s string) string {
	if strings.IndexFunc(s, notPrintable) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if notPrintable(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }

// oneLine makes s fit a server-side reason: control characters become
// spaces and it is cut to at most max bytes on a rune boundary.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if notPrintable(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) { // cut inside a rune: drop its start
			s = s[:len(s)-1]
		}
	}
	return strings.TrimSpace(s)
}
