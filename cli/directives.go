package cli

import (
	"bufio"
	"fmt"
	"strings"
)

// A Directive is one option from a batch script's #IBEX or #SBATCH lines.
type Directive struct {
	Flag  string // the submit flag it sets: nodes, time, name, switches, constraint
	Value string
	Line  int    // 1-based line in the script
	Text  string // the option as written, for messages
}

// directiveFlags maps the options ibex shares with sbatch to submit's flags.
var directiveFlags = map[string]string{
	"N": "nodes", "nodes": "nodes",
	"t": "time", "time": "time",
	"J": "name", "job-name": "name", "name": "name",
	"switches": "switches",
	"C":        "constraint", "constraint": "constraint",
}

// slurmOnly are sbatch options ibex does not support (yet): a script that
// uses them would not run as its author meant, so they are errors, not
// silently dropped.
var slurmOnly = map[string]bool{
	"o": true, "output": true, "e": true, "error": true, "a": true, "array": true, "d": true, "dependency": true,
	"export": true, "D": true, "chdir": true, "ntasks-per-node": true, "n": true, "ntasks": true, "c": true,
	"cpus-per-task": true, "mem": true, "mem-per-cpu": true, "gres": true, "gpus": true, "p": true, "partition": true,
	"A": true, "account": true, "q": true, "qos": true, "mail-type": true, "mail-user": true, "exclusive": true,
	"hold": true, "begin": true, "w": true, "nodelist": true, "x": true, "exclude": true, "reservation": true,
}

// maxDirectiveLines bounds how far a script is read for directives.
const maxDirectiveLines = 10000

// ParseDirectives reads the #IBEX and #SBATCH lines at the top of a batch
// script, as sbatch does: after an optional #! line, until the first line
// that is neither blank nor a comment. Options ibex does not know are
// returned in unknown (one message each) rather than dropped; a malformed
// line is an error.
func ParseDirectives(script string) (ds []Directive, unknown []string, err error) {
	sc := bufio.NewScanner(strings.NewReader(script))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan() && n <= maxDirectiveLines; n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 && strings.HasPrefix(line, "#!") {
			continue
		}
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "#") {
			break // the first command ends the directives
		}
		var rest string
		switch {
		case strings.HasPrefix(line, "#IBEX"):
			rest = line[len("#IBEX"):]
		case strings.HasPrefix(line, "#SBATCH"):
			rest = line[len("#SBATCH"):]
		default:
			continue // an ordinary comment
		}
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			continue // "#SBATCHX" is a comment to sbatch too
		}
		words, err := shellWords(rest)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %v", n, err)
		}
		for i := 0; i < len(words); i++ {
			w := words[i]
			name, value, hasValue, ok := splitOption(w)
			if !ok {
				return nil, nil, fmt.Errorf("line %d: %q is not an option (directives are options like -N 2 or --time=10)", n, w)
			}
			flag, known := directiveFlags[name]
			if !known {
				what := "unknown option"
				if slurmOnly[name] {
					what = "sbatch option ibex does not support"
				}
				unknown = append(unknown, fmt.Sprintf("line %d: %s: %s", n, w, what))
				if !hasValue && i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
					i++ // skip its value too
				}
				continue
			}
			if !hasValue && directiveBools[flag] {
				value = "true" // a switch: --hold, --wait, --parsable
			} else if !hasValue {
				if i+1 >= len(words) {
					return nil, nil, fmt.Errorf("line %d: %s needs a value", n, w)
				}
				i++
				value = words[i]
			}
			ds = append(ds, Directive{Flag: flag, Value: value, Line: n, Text: w})
		}
	}
	return ds, unknown, nil
}

// splitOption reads "-N", "-N2", "--nodes", "--nodes=2" into the option's
// name and, when attached, its value.
func splitOption(w string) (name, value string, hasValue, ok bool) {
	switch {
	case strings.HasPrefix(w, "--") && len(w) > 2:
		name, value, hasValue = strings.Cut(w[2:], "=")
		return name, value, hasValue, name != ""
	case strings.HasPrefix(w, "-") && len(w) > 1:
		name = w[1:2]
		if len(w) > 2 {
			return name, strings.TrimPrefix(w[2:], "="), true, true
		}
		return name, "", false, true
	}
	return "", "", false, false
}

// shellWords splits a directive line at blanks, honouring single and
// double quotes (no escapes or expansions: sbatch does none either).
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '#' && !in:
			return words, nil // a trailing comment
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
