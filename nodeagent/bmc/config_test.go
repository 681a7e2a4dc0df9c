package bmc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Endpoint: "https://10.0.0.17", Username: "u", Password: "Xy9-pw-Xy9"}
	for _, c := range []Config{
		ok,
		{Endpoint: "https://bmc.example:8443/", Username: "u", Password: "Xy9-pw-Xy9", SystemID: "1", Timeout: time.Second},
		{Endpoint: "http://[::1]:8000"}, // an open mock: no credentials at all
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%v) = %v", c, err)
		}
	}
	for _, tc := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Endpoint = "" }, "Endpoint is empty"},
		{func(c *Config) { c.Endpoint = "bmc.example" }, "must start with https://"},
		{func(c *Config) { c.Endpoint = "https://" }, "has no host"},
		{func(c *Config) { c.Endpoint = "https://bmc/redfish/v1" }, "without path"},
		{func(c *Config) { c.Endpoint = "https://bmc?x=1" }, "without path, query"},
		{func(c *Config) { c.Endpoint = "https://root:pw@bmc" }, "must not contain credentials"},
		{func(c *Config) { c.Endpoint = "https://bmc\x7f" }, "not a valid URL"},
		{func(c *Config) { c.Password = "" }, "Password is empty"},
		{func(c *Config) { c.Username = "" }, "Username is empty"},
		{func(c *Config) { c.SystemID = "Systems/1" }, "bare Id"},
		{func(c *Config) { c.Timeout = -time.Second }, "negative"},
	} {
		c := ok
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c, err, tc.want)
		}
	}
	// Several problems are reported together.
	err := Config{Endpoint: "x", Timeout: -1, Password: "Xy9-pw-Xy9"}.Validate()
	if err == nil || strings.Count(err.Error(), "\n") < 2 {
		t.Errorf("want all problems, got %v", err)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	cfg := Config{Endpoint: "https://bmc", Username: "admin", Password: testPassword}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("dial", "config", cfg, "password", cfg.Password)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("dial", "password", cfg.Password)
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := cfg.Password.MarshalText()
	out := strings.Join([]string{
		fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s %q %x", cfg, cfg, cfg, cfg.Password, cfg.Password, cfg.Password),
		fmt.Sprintf("%v", &cfg), buf.String(), string(data), string(text),
	}, "\n")
	if strings.Contains(out, testPassword) {
		t.Errorf("password printed:\n%s", out)
	}
	if !strings.Contains(out, redacted) {
		t.Errorf("no redaction marker:\n%s", out)
	}
	if cfg.Password.Reveal() != testPassword {
		t.Error("Reveal lost the value")
	}
}

func TestScrubberVariants(t *testing.T) {
	pw := `p@ss w/"rd&<x>`
	sc := newScrubber([]string{pw, ""})
	jsonForm, _ := json.Marshal(pw)
	for _, in := range []string{pw, "p%40ss+w%2F%22rd%26%3Cx%3E", "p@ss%20w%2F%22rd&%3Cx%3E", string(jsonForm)} {
		if out := sc("x " + in + " y"); strings.Contains(out, "ss") {
			t.Errorf("scrub(%q) = %q", in, out)
		}
	}
	if got := newScrubber(nil)("unchanged"); got != "unchanged" {
		t.Errorf("empty scrubber changed text: %q", got)
	}
	if redact(nil, []string{"x"}) != nil {
		t.Error("redact(nil) != nil")
	}
	base := errors.New("wrapped")
	if err := redact(fmt.Errorf("a x b: %w", base), []string{"x"}); !errors.Is(err, base) || err.Error() != "a [REDACTED] b: wrapped" {
		t.Errorf("redact = %v", err)
	}
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadCredentialsFile(t *testing.T) {
	good := `{"username": "admin", "password": "` + testPassword + `"}` + "\n"
	p := writeFile(t, "bmc.json", good, 0o600)
	c, err := ReadCredentialsFile(p)
	if err != nil || c.Username != "admin" || c.Password.Reveal() != testPassword {
		t.Fatalf("ReadCredentialsFile = %+v, %v", c, err)
	}
	// A symlink to a private file is fine (Kubernetes secret mounts).
	link := filepath.Join(t.TempDir(), "link.json")
	must(t, os.Symlink(p, link))
	if _, err := ReadCredentialsFile(link); err != nil {
		t.Errorf("via symlink: %v", err)
	}
	var cfg Config
	must(t, cfg.LoadCredentials(p))
	if cfg.Username != "admin" || cfg.Password.Reveal() != testPassword {
		t.Errorf("LoadCredentials set %+v", cfg)
	}
	if err := cfg.LoadCredentials(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadCredentials of a missing file succeeded")
	}

	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o620, 0o660, 0o601} {
		p := writeFile(t, "bmc.json", good, mode)
		_, err := ReadCredentialsFile(p)
		if err == nil || !strings.Contains(err.Error(), "group or others") || !strings.Contains(err.Error(), "chmod 600") ||
			!strings.Contains(err.Error(), fmt.Sprintf("%#o", mode)) {
			t.Errorf("mode %#o: err = %v", mode, err)
		}
		noSecret(t, err)
	}
	if _, err := ReadCredentialsFile(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if _, err := ReadCredentialsFile(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing file accepted")
	}

	for _, tc := range []struct {
		content, want string
	}{
		{`{"username": "admin", "password": ` + testPassword + `}`, "not valid JSON"},
		{`{"username": "admin", "password": "` + testPassword + `"`, "truncated"},
		{`{"username": "admin", "password": ["` + testPassword + `"]}`, `"password" must be a string`},
		{`{"username": "admin", "passwd": "` + testPassword + `"}`, `exactly the fields`},
		{`{"username": "admin", "password": "` + testPassword + `"} {"x": 1}`, "after the JSON object"},
		{`{"username": "admin"}`, "must be non-empty"},
		{``, "empty"},
		{`null`, "must be non-empty"},
		{strings.Repeat(" ", maxCredentialsBytes+1), "larger than"},
	} {
		p := writeFile(t, "bmc.json", tc.content, 0o400)
		_, err := ReadCredentialsFile(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60q: err = %v, want %q", tc.content, err, tc.want)
		}
		noSecret(t, err)
	}
}
