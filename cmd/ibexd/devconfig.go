package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ibex-hpc/ibex/cli"
)

// writeDevCLIConfig writes the CLI config of a --dev cluster and says
// where. The default path is the user's own CLI config, which may point at
// a real cluster: --dev replaces it only when an earlier --dev wrote it (or
// it does not exist), and otherwise writes dev.json beside it and returns
// the IBEX_CONFIG line the user needs. A path given with --cli-config
// (explicit) is written as asked.
func writeDevCLIConfig(path string, explicit bool, c cli.Config) (written, howto string, err error) {
	if !explicit {
		if _, serr := os.Stat(path); serr == nil {
			if old, lerr := cli.LoadConfig(path); lerr != nil || !old.Dev {
				mine := path
				path = filepath.Join(filepath.Dir(path), "dev.json")
				howto = fmt.Sprintf("\n  export IBEX_CONFIG=%s   # %s is yours and was left alone", path, mine)
			}
		}
	}
	if err := cli.WriteConfig(path, c); err != nil {
		return path, "", err
	}
	return path, howto, nil
}
