package bmc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"
)

// Redfish is a BMC reached over Redfish with gofish. It drives one
// ComputerSystem, chosen at Dial time. It is safe for concurrent use; each
// call re-reads the system, so state is never stale.
//
// A session the BMC has ended (timed out, or dropped by a BMC reboot)
// answers 401 to everything; Redfish then logs in again once and retries
// the call, instead of failing until the agent restarts.
type Redfish struct {
	cfg       Config
	http      *http.Client
	systemURI string
	systemID  string
	// others are the BMC's other systems (blade chassis, Cray EX node
	// cards, SmartNICs): their firmware entries are not this system's.
	others []systemRef
	// pollInterval is how often a ForceOff-then-On power cycle reads the
	// power state while it waits for Off.
	pollInterval time.Duration

	mu     sync.Mutex
	api    *gofish.APIClient
	closed bool
}

type systemRef struct{ ID, URI string }

var (
	_ BMC          = (*Redfish)(nil)
	_ VirtualMedia = (*Redfish)(nil)
)

const defaultPollInterval = time.Second

// Dial connects to the BMC, logs in (a session unless cfg.BasicAuth) and
// selects the system. Close the result to log out.
func Dial(ctx context.Context, cfg Config) (*Redfish, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	r := &Redfish{
		cfg:          cfg,
		http:         &http.Client{Transport: tr, Timeout: cfg.timeout()},
		pollInterval: defaultPollInterval,
	}
	if r.api, err = r.connect(ctx); err != nil {
		return nil, err
	}
	if err := r.selectSystem(ctx); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

// connect fetches the service root and logs in.
func (r *Redfish) connect(ctx context.Context) (*gofish.APIClient, error) {
	api, err := gofish.ConnectContext(ctx, gofish.ClientConfig{
		Endpoint:          r.cfg.baseURL(),
		Username:          r.cfg.Username,
		Password:          r.cfg.Password.Reveal(),
		Insecure:          r.cfg.Insecure,
		BasicAuth:         r.cfg.BasicAuth,
		HTTPClient:        r.http,
		NoModifyTransport: true,
	})
	if err != nil {
		sc := newScrubber(r.cfg.secrets())
		return nil, redact(fmt.Errorf("bmc: connect to %s: %w", r.cfg.baseURL(), convertError(err, sc)), r.cfg.secrets())
	}
	return api, nil
}

// selectSystem finds the system named by cfg.SystemID, or the only one,
// and remembers the others.
func (r *Redfish) selectSystem(ctx context.Context) error {
	systems, err := r.api.WithContext(ctx).Service.Systems()
	if len(systems) == 0 && err != nil {
		return r.wrap("list systems", err)
	}
	ids := make([]string, 0, len(systems))
	for _, s := range systems {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	var self *schemas.ComputerSystem
	switch {
	case r.cfg.SystemID != "":
		i := slices.IndexFunc(systems, func(s *schemas.ComputerSystem) bool { return s.ID == r.cfg.SystemID })
		if i < 0 {
			return fmt.Errorf("bmc: system %q not found; the BMC has %s", r.cfg.SystemID, describeIDs(ids))
		}
		self = systems[i]
	case len(systems) != 1 || err != nil:
		return fmt.Errorf("bmc: the BMC has %s; set SystemID to choose one", describeIDs(ids))
	default:
		self = systems[0]
	}
	r.systemURI, r.systemID = uriOf(self.ODataID), self.ID
	if r.systemURI == "" {
		return fmt.Errorf("bmc: system %q has the unusable URI %q", self.ID, clean(self.ODataID))
	}
	for _, s := range systems {
		if s != self {
			r.others = append(r.others, systemRef{ID: s.ID, URI: uriOf(s.ODataID)})
		}
	}
	return nil
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
	if r.usesSession() {
		r.api.Logout()
	}
	return nil
}

// SystemURI reports the @odata.id of the system this client drives.
func (r *Redfish) SystemURI() string { return r.systemURI }

func (r *Redfish) usesSession() bool { return !r.cfg.BasicAuth && r.cfg.Username != "" }

var errClosed = errors.New("bmc: client is closed")

// current returns the logged-in client, or an error once closed.
func (r *Redfish) current(ctx context.Context) (*gofish.APIClient, error) {
	r.mu.Lock()
	api, closed := r.api, r.closed
	r.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return api, nil
}

// do runs fn with a client bound to ctx. If the BMC answers 401 to a
// session client, the session has ended on the BMC's side: do logs in
// again, once, and runs fn again. fn must therefore read what it acts on
// itself (which every operation here does anyway), and must be safe to
// repeat after a 401, which it is since the BMC refused the request.
func (r *Redfish) do(ctx context.Context, fn func(c *gofish.APIClient) error) error {
	api, err := r.current(ctx)
	if err != nil {
		return err
	}
	err = fn(api.WithContext(ctx))
	if err == nil || !r.usesSession() || !isUnauthorized(err) || ctx.Err() != nil {
		return err
	}
	fresh, lerr := r.loginAgain(ctx, api)
	if lerr != nil {
		return fmt.Errorf("%w; the BMC ended the session and logging in again failed: %w", err, lerr)
	}
	return fn(fresh.WithContext(ctx))
}

// loginAgain replaces the session stale with a new one, unless another
// goroutine already did, in which case it returns that one: a burst of
// 401s costs one login, not one per caller.
func (r *Redfish) loginAgain(ctx context.Context, stale *gofish.APIClient) (*gofish.APIClient, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errClosed
	}
	if r.api != stale {
		return r.api, nil
	}
	api, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	// The BMC most likely dropped the old session already; if it did not
	// (a 401 for some other reason), free its slot. BMCs have few.
	if old, err := stale.GetSession(); err == nil && uriOf(old.ID) != "" {
		_ = api.WithContext(ctx).Service.DeleteSession(old.ID)
	}
	r.api = api
	return api, nil
}

func isUnauthorized(err error) bool {
	var re *RedfishError
	if errors.As(err, &re) && re.StatusCode == http.StatusUnauthorized {
		return true
	}
	var se *schemas.Error
	return errors.As(err, &se) && se.HTTPReturnedStatusCode == http.StatusUnauthorized
}

func isNotFound(err error) bool {
	var re *RedfishError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return true
	}
	var se *schemas.Error
	return errors.As(err, &se) && se.HTTPReturnedStatusCode == http.StatusNotFound
}

// getSystem reads the selected system with c.
func (r *Redfish) getSystem(c *gofish.APIClient) (*schemas.ComputerSystem, error) {
	sys, err := schemas.GetComputerSystem(c, r.systemURI)
	if err != nil {
		return nil, r.wrap("read system", err)
	}
	return sys, nil
}

// convert turns a gofish error into this package's, scrubbed.
func (r *Redfish) convert(err error) error {
	return convertError(err, newScrubber(r.cfg.secrets()))
}

// wrap converts, labels and scrubs an error bound for the caller.
func (r *Redfish) wrap(op string, err error, moreSecrets ...string) error {
	if err == nil {
		return nil
	}
	secrets := append(r.cfg.secrets(), moreSecrets...)
	return redact(fmt.Errorf("bmc: %s: %w", op, convertError(err, newScrubber(secrets))), secrets)
}
