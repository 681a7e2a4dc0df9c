package bmc

//lint:file-ignore ST1005 the messages of Validate start with the Config field they name (Endpoint, Password, Timeout)

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/bmc/credfile"
)

// DefaultTimeout bounds each HTTP request to a BMC when Config.Timeout is
// zero. BMCs are slow (firmware inventory on some takes seconds per entry)
// but a hung one must not hang the node agent.
const DefaultTimeout = 60 * time.Second

// Config says how to reach one BMC.
type Config struct {
	// Endpoint is the BMC base URL: scheme and host[:port] only, e.g.
	// "https://10.0.0.17". Credentials in the URL are refused so they
	// cannot leak through URL-printing errors.
	Endpoint string
	Username string
	Password Secret
	// Insecure skips TLS certificate verification. BMCs usually ship
	// self-signed certificates; prefer pinning their CA (CAFile, CAPEM)
	// or provisioning real ones.
	Insecure bool
	// CAFile names a PEM file of the CA certificate(s) the BMC's
	// certificate must chain to, instead of the system roots: the way to
	// trust a site's BMC CA (or a BMC's self-signed certificate) without
	// turning verification off. The host name is still checked (see
	// TLSServerName).
	CAFile string
	// CAPEM is CAFile's contents, for callers that hold the CA in memory
	// (the control plane keeps it in its replicated state). At most one of
	// CAFile and CAPEM may be set.
	CAPEM []byte
	// TLSServerName, if set, is the name the BMC's certificate must carry
	// instead of the Endpoint's host: BMC certificates are often issued for
	// a host name while ibex reaches the BMC by IP address.
	TLSServerName string
	// SystemID selects the ComputerSystem by its Id. It may be empty when
	// the BMC exposes exactly one system; multi-system BMCs (SmartNICs,
	// blades) must set it.
	SystemID string
	// BasicAuth sends HTTP Basic credentials on every request instead of
	// creating a Redfish session. Sessions are gofish's default and
	// cheaper for the BMC, but some BMCs have few session slots.
	BasicAuth bool
	// Timeout bounds each HTTP request; zero means DefaultTimeout.
	Timeout time.Duration
	// PowerWait bounds how long a power cycle done as ForceOff then On
	// (on BMCs that offer neither ForceRestart nor PowerCycle) waits for
	// the host to report Off before powering it on; zero means
	// DefaultPowerWait.
	PowerWait time.Duration
}

// DefaultPowerWait is Config.PowerWait's default. Hosts report Off within
// seconds of a ForceOff; a BMC that still says On after this is not going
// to power the host off, and powering on blindly would be wrong.
const DefaultPowerWait = 2 * time.Minute

// Validate checks c without contacting the BMC. Its errors never contain
// the password.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("Endpoint is empty"))
	} else if err := validateEndpoint(c.Endpoint); err != nil {
		errs = append(errs, err)
	}
	if c.Username == "" && c.Password != "" {
		errs = append(errs, errors.New("Password is set but Username is empty"))
	}
	if c.Username != "" && c.Password == "" {
		errs = append(errs, errors.New("Username is set but Password is empty"))
	}
	if strings.ContainsAny(c.SystemID, "/?#") {
		errs = append(errs, fmt.Errorf("SystemID %q must be a bare Id, not a path", c.SystemID))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("Timeout %v is negative", c.Timeout))
	}
	if c.PowerWait < 0 {
		errs = append(errs, fmt.Errorf("PowerWait %v is negative", c.PowerWait))
	}
	pinned := c.CAFile != "" || len(c.CAPEM) > 0
	if c.CAFile != "" && len(c.CAPEM) > 0 {
		errs = append(errs, errors.New("CAFile and CAPEM are both set; give the CA one way"))
	}
	if pinned && c.Insecure {
		errs = append(errs, errors.New("Insecure is set together with a pinned CA (CAFile/CAPEM); "+
			"drop Insecure so that the certificate is checked against the CA"))
	}
	if (pinned || c.TLSServerName != "") && strings.HasPrefix(c.Endpoint, "http://") {
		errs = append(errs, errors.New("a CA or TLSServerName is set but Endpoint is http://; use https://"))
	}
	if len(errs) == 0 {
		return nil
	}
	// Scrub each message, not just the joined one, so that no error in
	// the chain holds a password pasted into the wrong field.
	sc := newScrubber(c.secrets())
	for i, e := range errs {
		errs[i] = errors.New(sc(e.Error()))
	}
	return fmt.Errorf("bmc: invalid config: %w", errors.Join(errs...))
}

// secrets lists the strings that must never appear in an error.
func (c Config) secrets() []string {
	if c.Password == "" {
		return nil
	}
	return []string{string(c.Password)}
}

func validateEndpoint(ep string) error {
	shown := fmt.Sprintf("%q", ep)
	if strings.Contains(ep, "@") {
		shown = "(not shown: contains '@')"
	}
	u, err := url.Parse(ep)
	if err != nil {
		// url.Error quotes the input, which may hold credentials.
		return errors.New("Endpoint is not a valid URL")
	}
	if u.User != nil {
		return fmt.Errorf("Endpoint %s must not contain credentials; use Username and Password", u.Redacted())
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("Endpoint %s must start with https:// or http://", shown)
	}
	if u.Host == "" {
		return fmt.Errorf("Endpoint %s has no host", shown)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("Endpoint %s must be a base URL without path, query or fragment", shown)
	}
	return nil
}

// baseURL is the endpoint in the form gofish appends "/redfish/v1/" to.
func (c Config) baseURL() string { return strings.TrimSuffix(c.Endpoint, "/") }

func (c Config) powerWait() time.Duration {
	if c.PowerWait == 0 {
		return DefaultPowerWait
	}
	return c.PowerWait
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// Secret is a string that does not print (credfile.Secret).
type Secret = credfile.Secret

const redacted = credfile.Redacted
