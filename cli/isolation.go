package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// isolationFlag is --isolation for submit, alloc and run.
func isolationFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "isolation", Usage: "`links`: the job's traffic between leaf switches uses only uplinks no other isolated job holds (it may wait for them, reason Links); none: no isolation unless the cluster's policy says so"}
}

// isolationRows are the `ibex show` lines of an isolated job: the mode
// and, once allocated, the uplinks it holds, per leaf switch
// ("leaf01>spine01,spine02 leaf02>spine01,spine02").
func isolationRows(j *pb.Job) [][2]string {
	if j.Isolation == "" {
		return nil
	}
	links := "-"
	if len(j.Links) > 0 {
		links = fmt.Sprintf("%d: %s", len(j.Links), formatLinks(j.Links))
	} else if len(j.Nodes) > 0 {
		links = "none (one leaf switch)"
	}
	return [][2]string{{"Isolation", j.Isolation}, {"Links", links}}
}

func formatLinks(links []string) string {
	var order []string
	per := map[string][]string{}
	for _, l := range links {
		leaf, spine, _ := strings.Cut(l, ">")
		if _, seen := per[leaf]; !seen {
			order = append(order, leaf)
		}
		per[leaf] = append(per[leaf], spine)
	}
	parts := make([]string, len(order))
	for i, leaf := range order {
		parts[i] = leaf + ">" + strings.Join(per[leaf], ",")
	}
	return strings.Join(parts, " ")
}
