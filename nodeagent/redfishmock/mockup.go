package redfishmock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ServiceRoot is the canonical URI of a Redfish service root, without the
// trailing slash so that it joins cleanly with relative mockup paths.
const ServiceRoot = "/redfish/v1"

// maxMockupBytes bounds what Load reads, so that pointing the server at the
// wrong directory (say, /) fails fast instead of exhausting memory.
const maxMockupBytes = 256 << 20

// Mockup is an immutable, in-memory copy of a mockup directory. Load it once
// and share it between any number of Servers: each Server copies a resource
// only when it modifies it.
type Mockup struct {
	dir  string
	docs map[string]resource // canonical URI -> file contents
}

type resource struct {
	data        []byte
	contentType string
}

// Load reads the mockup in dir. It accepts the short form (dir/index.json is
// the service root, as in DMTF's Redfish-Publications) and the full form
// (dir/redfish/v1/index.json, as written by Redfish-Mockup-Creator).
// Symbolic links are skipped: a mockup is data, and following links is how a
// served tree would leak files from outside it.
func Load(dir string) (*Mockup, error) {
	base := dir
	fullForm := false
	if isRegular(filepath.Join(dir, "redfish", "v1", "index.json")) {
		base = filepath.Join(dir, "redfish", "v1")
		fullForm = true
	} else if !isRegular(filepath.Join(dir, "index.json")) {
		return nil, fmt.Errorf("redfishmock: %s is not a Redfish mockup: no index.json or redfish/v1/index.json", dir)
	}
	m := &Mockup{dir: dir, docs: make(map[string]resource)}
	var total int64
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		key, ctype, ok := keyForFile(filepath.ToSlash(rel))
		if !ok {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if total += info.Size(); total > maxMockupBytes {
			return fmt.Errorf("mockup larger than %d bytes", maxMockupBytes)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if ctype == contentJSON && !json.Valid(data) {
			return fmt.Errorf("%s: invalid JSON", rel)
		}
		m.docs[key] = resource{data: data, contentType: ctype}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redfishmock: loading %s: %w", dir, err)
	}
	if fullForm {
		if data, err := os.ReadFile(filepath.Join(dir, "redfish", "index.json")); err == nil && json.Valid(data) {
			m.docs["/redfish"] = resource{data: data, contentType: contentJSON}
		}
	}
	if _, ok := m.docs["/redfish"]; !ok {
		m.docs["/redfish"] = resource{data: []byte(`{"v1":"/redfish/v1/"}`), contentType: contentJSON}
	}
	if err := m.checkRoot(); err != nil {
		return nil, fmt.Errorf("redfishmock: %s: %w", dir, err)
	}
	return m, nil
}

// Dir reports the directory the mockup was loaded from.
func (m *Mockup) Dir() string { return m.dir }

// Len reports how many URIs the mockup serves.
func (m *Mockup) Len() int { return len(m.docs) }

func (m *Mockup) checkRoot() error {
	doc, err := decodeObject(m.docs[ServiceRoot].data)
	if err != nil {
		return fmt.Errorf("service root: %w", err)
	}
	if _, ok := doc["@odata.id"]; !ok {
		return errors.New("service root has no @odata.id")
	}
	return nil
}

const (
	contentJSON = "application/json; charset=utf-8"
	contentXML  = "application/xml; charset=utf-8"
)

// keyForFile maps a mockup file (slash-separated, relative to /redfish/v1) to
// the URI it is served at. index.json is the resource of its directory;
// index.xml under $metadata is the CSDL document; other *.json files (such
// as Registries/Base.1.5.0.json) are served at their own name because
// registry resources link to them that way. Anything else, e.g. DMTF's
// explorer_config.json, is not part of the service.
func keyForFile(rel string) (key, ctype string, ok bool) {
	dir, file := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	join := func(parts ...string) string {
		k := ServiceRoot
		for _, p := range parts {
			if p != "" {
				k += "/" + p
			}
		}
		return k
	}
	switch {
	case file == "index.json":
		return join(dir), contentJSON, true
	case file == "index.xml" && dir == "$metadata":
		return join(dir), contentXML, true
	case rel == "explorer_config.json":
		return "", "", false
	case strings.HasSuffix(file, ".json"):
		return join(dir, file), contentJSON, true
	}
	return "", "", false
}

func isRegular(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular()
}

// decodeObject parses a JSON object with json.Number so that numbers are
// written back exactly as the mockup had them.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON object")
	}
	return doc, nil
}
