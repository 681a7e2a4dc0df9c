// Package ufm drives partitions through NVIDIA UFM Enterprise's REST
// API (the "PKey GUIDs" resources). Where the SM is UFM, partitions
// must be changed through it: UFM owns its OpenSM's partitions.conf
// and would overwrite a file written behind its back.
//
// Paths and fields follow testdata/ib-partitions/UFM-PKEY-REST-NOTES.md
// (from NVIDIA's docs and the ufm_sdk_3.0 client). Nothing here has
// been run against a live UFM; package ufmfake is the stand-in the
// tests use, and it documents every assumption it makes.
package ufm

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// Client is a thin UFM REST client for P_Keys. It does not retry:
// the Driver's Apply is idempotent, so the caller retries whole.
type Client struct {
	// BaseURL is "https://ufm.example.com" (no /ufmRest suffix).
	BaseURL            string
	Username, Password string
	// HTTP defaults to a client with a 30 s timeout.
	HTTP *http.Client
}

// InsecureHTTP returns an HTTP client that accepts UFM's (commonly
// self-signed) certificate. Prefer installing the CA instead.
func InsecureHTTP() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // opt-in for lab UFMs
	}}
}

// Errors a caller can test for with errors.Is.
var (
	ErrNotFound     = errors.New("ufm: not found")
	ErrUnauthorized = errors.New("ufm: unauthorized")
)

// APIError is a non-2xx UFM reply.
type APIError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("ufm: %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// Is maps HTTP statuses to the sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	}
	return false
}

const pkeysPath = "/ufmRest/resources/pkeys"

// PKeyInfo is one P_Key as UFM lists it.
type PKeyInfo struct {
	PKey    sm.PKey
	Name    string
	IPoIB   bool
	Members []sm.Member
}

// pkeyString renders a key as UFM expects: hex with 0x.
func pkeyString(k sm.PKey) string { return fmt.Sprintf("0x%x", uint16(k)) }

// guidString renders a port GUID as UFM prints it: 16 hex digits.
func guidString(g sm.GUID) string { return fmt.Sprintf("%016x", uint64(g)) }

// do sends one request; out, if non-nil, receives the JSON reply.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.Username, c.Password)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("ufm: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("ufm: %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Body: strings.TrimSpace(string(data))}
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("ufm: %s %s: bad JSON reply: %w", method, path, err)
	}
	return nil
}

// CreatePKey creates an empty P_Key (UFM 6.16+; partition_name 6.22+).
func (c *Client) CreatePKey(ctx context.Context, key sm.PKey, name string, ipoib bool) error {
	return c.do(ctx, http.MethodPost, pkeysPath+"/add", map[string]any{
		"pkey": pkeyString(key), "partition_name": name, "ip_over_ib": ipoib, "index0": false,
	}, nil)
}

// membersBody is the shared body of "add GUIDs" and "set GUIDs": one
// membership per GUID ("memberships", never mixed with "membership").
func membersBody(key sm.PKey, members []sm.Member, ipoib bool) map[string]any {
	guids := make([]string, len(members))
	ms := make([]string, len(members))
	for i, m := range members {
		guids[i], ms[i] = guidString(m.GUID), m.Membership.String()
	}
	return map[string]any{"pkey": pkeyString(key), "guids": guids, "memberships": ms,
		"index0": false, "ip_over_ib": ipoib}
}

// AddGUIDs adds ports to a P_Key (existing members stay).
func (c *Client) AddGUIDs(ctx context.Context, key sm.PKey, members []sm.Member, ipoib bool) error {
	return c.do(ctx, http.MethodPost, pkeysPath+"/", membersBody(key, members, ipoib), nil)
}

// SetGUIDs replaces the ports of a P_Key with members.
func (c *Client) SetGUIDs(ctx context.Context, key sm.PKey, members []sm.Member, ipoib bool) error {
	return c.do(ctx, http.MethodPut, pkeysPath, membersBody(key, members, ipoib), nil)
}

// RemoveGUIDs removes ports from a P_Key. The documented "remove"
// path differs between UFM versions, so this reads the members and
// writes the rest back with SetGUIDs (not atomic against other UFM
// users; ibex is expected to be the only writer of its keys).
func (c *Client) RemoveGUIDs(ctx context.Context, key sm.PKey, guids []sm.GUID) error {
	cur, err := c.GetPKey(ctx, key)
	if err != nil {
		return err
	}
	drop := map[sm.GUID]bool{}
	for _, g := range guids {
		drop[g] = true
	}
	var keep []sm.Member
	for _, m := range cur.Members {
		if !drop[m.GUID] {
			keep = append(keep, m)
		}
	}
	if len(keep) == 0 { // "guids" must not be empty: recreate the key empty
		if err := c.DeletePKey(ctx, key); err != nil {
			return err
		}
		return c.CreatePKey(ctx, key, cur.Name, cur.IPoIB)
	}
	return c.SetGUIDs(ctx, key, keep, cur.IPoIB)
}

// DeletePKey deletes a P_Key; errors.Is(err, ErrNotFound) if unknown.
func (c *Client) DeletePKey(ctx context.Context, key sm.PKey) error {
	return c.do(ctx, http.MethodDelete, pkeysPath+"/"+url.PathEscape(pkeyString(key)), nil, nil)
}

// pkeyJSON is UFM's description of one key with guids_data=true.
type pkeyJSON struct {
	Partition string     `json:"partition"`
	IPoIB     *bool      `json:"ip_over_ib"`
	GUIDs     []guidJSON `json:"guids"`
}

type guidJSON struct {
	GUID       string `json:"guid"`
	Membership string `json:"membership"`
}

func (p pkeyJSON) info(key sm.PKey) (PKeyInfo, error) {
	in := PKeyInfo{PKey: key, Name: p.Partition, IPoIB: p.IPoIB == nil || *p.IPoIB}
	for _, g := range p.GUIDs {
		guid, err := sm.ParseGUID(g.GUID)
		if err != nil {
			return in, err
		}
		m := sm.Full
		if g.Membership == "limited" {
			m = sm.Limited
		}
		in.Members = append(in.Members, sm.Member{GUID: guid, Membership: m})
	}
	return in, nil
}

// GetPKey returns one key with its members.
func (c *Client) GetPKey(ctx context.Context, key sm.PKey) (PKeyInfo, error) {
	var p pkeyJSON
	if err := c.do(ctx, http.MethodGet, pkeysPath+"/"+url.PathEscape(pkeyString(key))+"?guids_data=true", nil, &p); err != nil {
		return PKeyInfo{}, err
	}
	return p.info(key)
}

// ListPKeys returns every key UFM knows, with members.
func (c *Client) ListPKeys(ctx context.Context) ([]PKeyInfo, error) {
	var all map[string]pkeyJSON
	if err := c.do(ctx, http.MethodGet, pkeysPath+"?guids_data=true", nil, &all); err != nil {
		return nil, err
	}
	out := make([]PKeyInfo, 0, len(all))
	for k, p := range all {
		v, err := parsePKey(k)
		if err != nil {
			return nil, err
		}
		in, err := p.info(v)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// parsePKey reads "0x12" (UFM's spelling) into a 15-bit key.
func parsePKey(s string) (sm.PKey, error) {
	h, ok := strings.CutPrefix(strings.ToLower(s), "0x")
	v, err := strconv.ParseUint(h, 16, 16)
	if !ok || err != nil {
		return 0, fmt.Errorf("ufm: bad pkey %q", s)
	}
	return sm.PKey(v & 0x7fff), nil
}
