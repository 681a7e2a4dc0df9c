package bmc

import "github.com/ibex-hpc/ibex/nodeagent/bmc/credfile"

// Credentials are a BMC login as stored on disk (credfile.Credentials).
type Credentials = credfile.Credentials

// maxCredentialsBytes bounds the file read; a credentials file is tiny.
const maxCredentialsBytes = credfile.MaxBytes

// ReadCredentialsFile reads BMC credentials from a JSON file of the form
//
//	{"username": "admin", "password": "..."}
//
// refusing a file that group or others can read (credfile.Read).
func ReadCredentialsFile(path string) (Credentials, error) { return credfile.Read(path) }

// LoadCredentials sets c.Username and c.Password from a credentials file
// (see ReadCredentialsFile).
func (c *Config) LoadCredentials(path string) error {
	cr, err := ReadCredentialsFile(path)
	if err != nil {
		return err
	}
	c.Username, c.Password = cr.Username, cr.Password
	return nil
}
