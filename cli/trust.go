package cli

import (
	ibexclient "github.com/ibex-hpc/ibex/client"
)

const trustHelp = `ibexd serves TLS. The CLI trusts it by the cluster CA's pin (--ca-pin,
IBEX_CA_PIN, or ca_pin in the config file; ` + "`ibexd --dev`" + ` writes it there, and
` + "`ibex agent token`" + ` prints it), by a CA file (--ca-file, IBEX_CA_FILE, ca_file) for
an operator's certificate from a private CA, or else by the system's roots.
--plaintext (IBEX_PLAINTEXT=1, "plaintext": true) talks to a server started
with --plaintext or --insecure.`

// trust is how to check the server: the command line and environment
// decide when they say anything (processes in jobs get IBEX_CA_PIN or
// IBEX_PLAINTEXT from ibexd), the config file otherwise.
func trust(c flagValues, cfg Config) ibexclient.Trust {
	flags := ibexclient.Trust{CAPin: c.String("ca-pin"), CAFile: c.String("ca-file"), Plaintext: c.Bool("plaintext")}
	if flags != (ibexclient.Trust{}) {
		return flags
	}
	return ibexclient.Trust{CAPin: cfg.CAPin, CAFile: cfg.CAFile, Plaintext: cfg.Plaintext}
}

// trustHint is what to check when the TLS handshake fails.
const trustHint = "check ca_pin/IBEX_CA_PIN/--ca-pin, ca_file, or plaintext for a server started with --plaintext or --insecure"
