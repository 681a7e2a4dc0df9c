// Command ibex is the ibex CLI; see `ibex --help`.
package main

import (
	"os"

	"github.com/ibex-hpc/ibex/cli"
)

func main() { os.Exit(cli.Main(os.Args, os.Stdout, os.Stderr)) }
