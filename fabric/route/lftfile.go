package route

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// The LFT file format is the one OpenSM's `file` routing engine reads
// (opensm/osm_ucast_file.c) and `ibroute`/`dump_lfts` print:
//
//	Unicast lids [0x0-0x8] of switch Lid 2 guid 0x0002c90200010001 ('spine01'):
//	0x0001 001 : (Channel Adapter portguid 0x0002c90300000011: 'sm01 HCA-1')
//
// OpenSM finds the switch by the GUID after " guid 0x", clears its whole
// table (every LID not listed then has no route), and for each "0x<lid>
// <port>" line sets the entry, moving it to the port's current LID when
// " portguid 0x<guid>" names a port whose LID changed. Lines starting
// with '#' are comments; a line it cannot parse makes OpenSM drop the
// file and route with its next engine (minhop), which is why Load
// verifies by reading the tables back. Lines are read with fgets into
// 1024 bytes, so names are clipped.

// Render writes t in the LFT file format, every switch of f that has a
// table, every LID with a route, with port GUIDs so OpenSM can follow a
// LID change.
func Render(f *Fabric, t Tables) []byte {
	var b bytes.Buffer
	b.WriteString("# LFTs computed by ibex for link isolation (fabric/route); OpenSM routing_engine file\n")
	names := map[uint16]string{}
	for _, s := range f.Switches {
		names[s.LID] = fmt.Sprintf("Switch portguid 0x%016x: '%s'", s.GUID, clean(s.Name))
	}
	for _, e := range f.Ends {
		for _, lid := range e.LIDs() {
			names[lid] = fmt.Sprintf("Channel Adapter portguid 0x%016x: '%s'", e.GUID, clean(e.Name))
		}
	}
	sws := slices.Clone(f.Switches)
	slices.SortFunc(sws, func(a, b *Switch) int { return cmp.Compare(a.GUID, b.GUID) })
	for _, s := range sws {
		l, ok := t[s.GUID]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "Unicast lids [0x0-0x%x] of switch Lid %d guid 0x%016x ('%s'):\n", max(len(l), 1)-1, s.LID, s.GUID, clean(s.Name))
		n := 0
		for lid, port := range l {
			if lid == 0 || port == NoPath {
				continue
			}
			n++
			fmt.Fprintf(&b, "0x%04x %03d : (%s)\n", lid, port, names[uint16(lid)])
		}
		fmt.Fprintf(&b, "%d valid lids dumped\n", n)
	}
	return b.Bytes()
}

// clean keeps a name printable, quote-free and short.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '\'' || r == '#' {
			return '_'
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// MaxDump bounds what Parse reads: a 48k-LID fabric with 2,000 switches
// prints about 5 GB with descriptions, so real dumps that large are read
// switch by switch (ibroute per switch), never whole.
const MaxDump = 256 << 20

// maxLine is longer than any line ibroute prints.
const maxLine = 4096

// Parse reads `ibroute` or `dump_lfts` output (or a file Render wrote):
// the tables by switch GUID. Unparsable entry lines are errors (a table
// read back wrongly must not pass verification); other lines (column
// headers, "N valid lids dumped", tool warnings) are skipped.
func Parse(r io.Reader) (Tables, error) {
	lr := &io.LimitedReader{R: r, N: MaxDump + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	t := Tables{}
	var cur uint64
	have := false
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Unicast lids"):
			_, rest, ok := strings.Cut(line, " guid 0x")
			if !ok {
				return nil, fmt.Errorf("route: line %d: switch header without guid", n)
			}
			hex, _, _ := strings.Cut(rest, " ")
			g, err := strconv.ParseUint(hex, 16, 64)
			if err != nil || g == 0 {
				return nil, fmt.Errorf("route: line %d: bad switch guid %q", n, clip(hex))
			}
			if _, dup := t[g]; dup {
				return nil, fmt.Errorf("route: line %d: switch 0x%016x listed twice", n, g)
			}
			cur, have = g, true
			t[g] = LFT{}
		case strings.HasPrefix(line, "0x"):
			if !have {
				return nil, fmt.Errorf("route: line %d: entry before any switch header", n)
			}
			f := strings.Fields(line)
			if len(f) < 2 {
				return nil, fmt.Errorf("route: line %d: want \"0x<lid> <port>\"", n)
			}
			lid, err := strconv.ParseUint(f[0][2:], 16, 16)
			if err != nil || lid == 0 || lid >= 0xc000 {
				return nil, fmt.Errorf("route: line %d: bad unicast LID %q", n, clip(f[0]))
			}
			port, err := strconv.ParseUint(f[1], 10, 8)
			if err != nil || port >= NoPath {
				return nil, fmt.Errorf("route: line %d: bad port %q", n, clip(f[1]))
			}
			l := t[cur]
			for len(l) <= int(lid) {
				l = append(l, NoPath)
			}
			if l[lid] != NoPath {
				return nil, fmt.Errorf("route: line %d: LID %d listed twice", n, lid)
			}
			l[lid] = uint8(port)
			t[cur] = l
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("route: line %d: %w", n+1, err)
	}
	if lr.N <= 0 {
		return nil, errors.New("route: LFT dump larger than MaxDump")
	}
	return t, nil
}

func clip(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}

// Diff lists the entries of the fabric's switches (for the fabric's
// LIDs) where got differs from want, at most limit of them, and their
// total count.
func Diff(f *Fabric, want, got Tables, limit int) (diffs []string, n int) {
	lids := []uint16{}
	for _, s := range f.Switches {
		lids = append(lids, s.LID)
	}
	for _, e := range f.Ends {
		lids = append(lids, e.LIDs()...)
	}
	slices.Sort(lids)
	for _, s := range f.Switches {
		if _, ok := got[s.GUID]; !ok {
			n++
			if len(diffs) < limit {
				diffs = append(diffs, fmt.Sprintf("switch %s: no table read", s.Name))
			}
			continue
		}
		for _, lid := range lids {
			if w, g := want.Port(s.GUID, lid), got.Port(s.GUID, lid); w != g {
				n++
				if len(diffs) < limit {
					diffs = append(diffs, fmt.Sprintf("switch %s LID %d: port %d, want %d", s.Name, lid, g, w))
				}
			}
		}
	}
	return diffs, n
}
