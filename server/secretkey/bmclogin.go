package secretkey

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ibex-hpc/ibex/model"
)

// A BMC login as it is sealed: JSON, bound to the node, endpoint and
// system (model.BMCCredentialsAAD).
type bmcLogin struct {
	Username string `json:"u"`
	Password string `json:"p"`
}

// SealBMCLogin seals a node's BMC login for the registration b (whose
// Endpoint and SystemID it is bound to).
func (r *Keyring) SealBMCLogin(node string, b model.NodeBMC, username, password string) (model.Sealed, error) {
	if username == "" || password == "" {
		return model.Sealed{}, errors.New("a BMC login needs a username and a password")
	}
	if len(username) > model.MaxBMCLoginBytes || len(password) > model.MaxBMCLoginBytes {
		return model.Sealed{}, fmt.Errorf("BMC username and password are limited to %d bytes each", model.MaxBMCLoginBytes)
	}
	plain, err := json.Marshal(bmcLogin{Username: username, Password: password})
	if err != nil {
		return model.Sealed{}, err
	}
	return r.Seal(plain, model.BMCCredentialsAAD(node, b.Endpoint, b.SystemID))
}

// OpenBMCLogin opens the login sealed in b for node.
func (r *Keyring) OpenBMCLogin(node string, b model.NodeBMC) (username, password string, err error) {
	plain, err := r.Open(b.Credentials, model.BMCCredentialsAAD(node, b.Endpoint, b.SystemID))
	if err != nil {
		return "", "", fmt.Errorf("node %s's BMC login: %w", node, err)
	}
	var l bmcLogin
	if err := json.Unmarshal(plain, &l); err != nil || l.Username == "" || l.Password == "" {
		return "", "", fmt.Errorf("node %s's BMC login is not a username and password", node)
	}
	return l.Username, l.Password, nil
}

// ResealBMCLogin seals b's login again under the primary key, for a
// rotation.
func (r *Keyring) ResealBMCLogin(node string, b model.NodeBMC) (model.Sealed, error) {
	u, p, err := r.OpenBMCLogin(node, b)
	if err != nil {
		return model.Sealed{}, err
	}
	return r.SealBMCLogin(node, b, u, p)
}
