package bmc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"
)

// Redfish is a BMC reached over Redfish with gofish. It drives one
// ComputerSystem, chosen at Dial time. It is safe for concurrent use; each
// call re-reads the system, so state is never stale.
type Redfish struct {
	cfg       Config
	api       *gofish.APIClient
	systemURI string

	mu     sync.Mutex
	closed bool
}

var _ BMC = (*Redfish)(nil)

// Dial connects to the BMC, logs in (a session unless cfg.BasicAuth) and
// selects the system. Close the result to log out.
func Dial(ctx context.Context, cfg Config) (*Redfish, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.Insecure} //nolint:gosec // BMCs ship self-signed certs; opt-in only.
	api, err := gofish.ConnectContext(ctx, gofish.ClientConfig{
		Endpoint:          cfg.baseURL(),
		Username:          cfg.Username,
		Password:          cfg.Password.Reveal(),
		Insecure:          cfg.Insecure,
		BasicAuth:         cfg.BasicAuth,
		HTTPClient:        &http.Client{Transport: tr, Timeout: cfg.timeout()},
		NoModifyTransport: true,
	})
	if err != nil {
		sc := newScrubber(cfg.secrets())
		return nil, redact(fmt.Errorf("bmc: connect to %s: %w", cfg.baseURL(), convertError(err, sc)), cfg.secrets())
	}
	r := &Redfish{cfg: cfg, api: api}
	if r.systemURI, err = r.selectSystem(); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

// selectSystem finds the system named by cfg.SystemID, or the only one.
func (r *Redfish) selectSystem() (string, error) {
	systems, err := r.api.Service.Systems()
	if len(systems) == 0 && err != nil {
		return "", r.wrap("list systems", err)
	}
	ids := make([]string, 0, len(systems))
	for _, s := range systems {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	if r.cfg.SystemID != "" {
		for _, s := range systems {
			if s.ID == r.cfg.SystemID {
				return s.ODataID, nil
			}
		}
		return "", fmt.Errorf("bmc: system %q not found; the BMC has %s", r.cfg.SystemID, describeIDs(ids))
	}
	if len(systems) != 1 || err != nil {
		return "", fmt.Errorf("bmc: the BMC has %s; set SystemID to choose one", describeIDs(ids))
	}
	return systems[0].ODataID, nil
}

func describeIDs(ids []string) string {
	if len(ids) == 0 {
		return "no readable systems"
	}
	return fmt.Sprintf("%d system(s): %s", len(ids), strings.Join(ids, ", "))
}

// Close logs out of the session. Further calls fail.
func (r *Redfish) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if !r.cfg.BasicAuth && r.cfg.Username != "" {
		r.api.Logout()
	}
	return nil
}

// SystemURI reports the @odata.id of the system this client drives.
func (r *Redfish) SystemURI() string { return r.systemURI }

// client returns a gofish client bound to ctx, or an error once closed.
func (r *Redfish) client(ctx context.Context) (*gofish.APIClient, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, errors.New("bmc: client is closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r.api.WithContext(ctx), nil
}

// system fetches the current state of the selected system.
func (r *Redfish) system(ctx context.Context) (*schemas.ComputerSystem, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, err
	}
	sys, err := schemas.GetComputerSystem(c, r.systemURI)
	if err != nil {
		return nil, r.wrap("read system", err)
	}
	return sys, nil
}

// wrap converts, labels and scrubs an error bound for the caller.
func (r *Redfish) wrap(op string, err error, moreSecrets ...string) error {
	if err == nil {
		return nil
	}
	secrets := append(r.cfg.secrets(), moreSecrets...)
	return redact(fmt.Errorf("bmc: %s: %w", op, convertError(err, newScrubber(secrets))), secrets)
}
