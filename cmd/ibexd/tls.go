package main

import (
	ucli "github.com/urfave/cli/v2"

	"github.com/ibex-hpc/ibex/cli"
	"github.com/ibex-hpc/ibex/server"
)

// tlsHelp is the TLS part of ibexd --help.
const tlsHelp = `TLS is on by default, --dev included: the API, forwarding between servers,
--join and raft use certificates from the cluster CA (servers authenticate
each other with server certificates; see README "Security"). Clients trust
it by the CA's pin, which --dev writes into the CLI config (ca_pin).
--plaintext turns TLS off and is refused on an address that is not loopback
unless --insecure is given too (or instead): a trusted network only.`

// tlsFlags are the TLS flags (server.Config's TLS fields).
func tlsFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "plaintext", Usage: "no TLS on the API, forwarding, join and raft; loopback addresses only (see --insecure)"},
		&ucli.BoolFlag{Name: "insecure", Usage: "no TLS, on any address: every token, admin ones included, crosses the network in clear text"},
		&ucli.StringFlag{Name: "tls-cert", Usage: "PEM `FILE`: the API's certificate for clients that do not pin the cluster CA (an operator's, e.g. from a public CA); with --tls-key"},
		&ucli.StringFlag{Name: "tls-key", Usage: "PEM `FILE`: the key of --tls-cert"},
		&ucli.StringSliceFlag{Name: "tls-san", Usage: "extra DNS name or IP `NAME` in this server's certificate from the cluster CA (repeatable)"},
		&ucli.StringFlag{Name: "cluster-ca", Usage: "`FILE` with the CA (certificate and key) that servers bootstrapping together with --peers share; the first of --peers creates it (default: cluster-ca.pem next to --admin-token-file)"},
		&ucli.StringFlag{Name: "join-ca-pin", Usage: "the cluster CA's `PIN` (sha256:...), needed by --join: the admin token is sent only to a server that proves it"},
	}
}

// applyTLSFlags copies the TLS flags into cfg.
func applyTLSFlags(c *ucli.Context, cfg *server.Config) {
	cfg.Insecure = c.Bool("insecure")
	cfg.Plaintext = c.Bool("plaintext") || cfg.Insecure
	cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSSANs = c.String("tls-cert"), c.String("tls-key"), c.StringSlice("tls-san")
	cfg.ClusterCAFile, cfg.JoinCAPin = c.String("cluster-ca"), c.String("join-ca-pin")
}

// devCLIConfig is the CLI config --dev writes: address, admin token and
// how to trust the server.
func devCLIConfig(s *server.Server) cli.Config {
	return cli.Config{Addr: s.Addr(), Token: s.AdminToken, CAPin: s.CAPin(), Plaintext: s.CAPin() == "", Dev: true}
}

// devTLSLine is --dev's start-up line about TLS.
func devTLSLine(s *server.Server) string {
	if s.CAPin() == "" {
		return "plaintext on loopback (--plaintext): the API and tokens are not encrypted"
	}
	return "on; CA pin " + s.CAPin() + " (in the CLI config)"
}
