package cli

import (
	"fmt"
	"io"

	ucli "github.com/urfave/cli/v2"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// logsStreamFlags choose a stream of `ibex logs` (#15.2).
func logsStreamFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "stdout", Usage: "only the job's stdout"},
		&ucli.BoolFlag{Name: "stderr", Usage: "only the job's stderr"},
	}
}

// logsStream is the StreamLogsRequest stream the flags ask for.
func logsStream(c *ucli.Context) (string, error) {
	switch {
	case c.Bool("stdout") && c.Bool("stderr"):
		return "", fmt.Errorf("--stdout and --stderr exclude each other (without either, both are shown, stderr labelled)")
	case c.Bool("stdout"):
		return "stdout", nil
	case c.Bool("stderr"):
		return "stderr", nil
	}
	return "", nil
}

// logsPrinter prints StreamLogs chunks: a "==> node <==" header before
// each node's output when there are several nodes, and, when both streams
// are shown, "==> node (stderr) <==" before a node's stderr, so the two
// are never mistaken for each other.
type logsPrinter struct {
	w        io.Writer
	headers  bool // several nodes
	both     bool // stdout and stderr
	cur, str string
}

func (p *logsPrinter) chunk(ch *pb.LogChunk) error {
	if p.headers && ch.Node != p.cur {
		p.cur, p.str = ch.Node, ""
		fmt.Fprintf(p.w, "==> %s <==\n", ch.Node)
	}
	if p.both && len(ch.Data) > 0 && ch.Stream != p.str {
		// With -f the streams alternate as they grow: label each switch.
		switch {
		case ch.Stream == "stderr":
			fmt.Fprintf(p.w, "==> %s (stderr) <==\n", ch.Node)
		case p.str == "stderr":
			fmt.Fprintf(p.w, "==> %s <==\n", ch.Node)
		}
		p.cur, p.str = ch.Node, ch.Stream
	}
	_, err := p.w.Write(ch.Data)
	return err
}

// unaryLogCap is what the unary Logs call of servers without StreamLogs
// returns at most per node, from the end: said when reached.
const unaryLogCap = 2 << 20
