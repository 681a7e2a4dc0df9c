package rest

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// mounted are the services New mounts; the others are gRPC only.
var mounted = []string{"Jobs", "Nodes", "Tenants", "Servers", "Fleet", "Topology"}

// grpcOnly are the RPCs of mounted services deliberately left without a
// REST route, and why.
var grpcOnly = map[string]string{
	"ibex.v1.Servers.Join":          "the cluster's own protocol: ibexd --join calls it",
	"ibex.v1.Servers.Certificate":   "the cluster's own protocol: a joining ibexd asks for its certificate",
	"ibex.v1.Topology.ImportStream": "a client-streaming upload of dumps over 4 MiB; over REST, POST /v1/topology:import takes dumps up to the body cap",
	"ibex.v1.Jobs.SubmitStream":     "a bidirectional stream of single submissions for busy gRPC clients; over REST, POST /v1/jobs:submitMany sends many in one request",
}

type rule struct {
	Selector                      string
	Get, Post, Put, Delete, Patch string
	Body                          string
}

func (r rule) method() (string, string) {
	for _, m := range []struct{ name, path string }{{"get", r.Get}, {"post", r.Post}, {"put", r.Put}, {"delete", r.Delete}, {"patch", r.Patch}} {
		if m.path != "" {
			return m.name, m.path
		}
	}
	return "", ""
}

func rules(t *testing.T) []rule {
	t.Helper()
	raw, err := os.ReadFile("../../proto/ibexv1/ibex_rest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		HTTP struct{ Rules []rule } `yaml:"http"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.HTTP.Rules
}

// TestEveryRPCIsRoutedOrGRPCOnly: each RPC of a mounted service has a REST
// route in ibex_rest.yaml or a reason in grpcOnly, so an RPC added to the
// proto is not silently missing from the REST API; every rule names a real
// RPC.
func TestEveryRPCIsRoutedOrGRPCOnly(t *testing.T) {
	routed := map[string]bool{}
	for _, r := range rules(t) {
		if routed[r.Selector] {
			t.Errorf("%s has two rules", r.Selector)
		}
		routed[r.Selector] = true
	}
	exists := map[string]bool{}
	services := pb.File_ibexv1_ibex_proto.Services()
	for _, name := range mounted {
		sd := services.ByName(protoreflect.Name(name))
		if sd == nil {
			t.Fatalf("no service %s in ibex.proto", name)
		}
		for i := 0; i < sd.Methods().Len(); i++ {
			full := string(sd.Methods().Get(i).FullName())
			exists[full] = true
			if !routed[full] && grpcOnly[full] == "" {
				t.Errorf("%s has no REST route: add a rule to proto/ibexv1/ibex_rest.yaml and run `make proto`, or list it in grpcOnly with the reason", full)
			}
		}
	}
	for sel := range routed {
		if !exists[sel] {
			t.Errorf("ibex_rest.yaml routes %s, which is not an RPC of a mounted service", sel)
		}
	}
	for sel := range grpcOnly {
		if !exists[sel] {
			t.Errorf("grpcOnly lists %s, which is not an RPC of a mounted service", sel)
		}
	}
}

// TestOpenAPIDocumentListsTheRoutes: the committed OpenAPI document
// parses and has an operation for each rule, with the method and path of
// the rule, and a bearer security definition.
func TestOpenAPIDocumentListsTheRoutes(t *testing.T) {
	var doc struct {
		Swagger             string
		Paths               map[string]map[string]struct{ OperationID string }
		SecurityDefinitions map[string]struct{ Type, In, Name string }
	}
	if err := json.Unmarshal(pb.OpenAPI, &doc); err != nil {
		t.Fatalf("the OpenAPI document does not parse: %v", err)
	}
	if doc.Swagger != "2.0" {
		t.Fatalf("swagger %q", doc.Swagger)
	}
	if b := doc.SecurityDefinitions["bearer"]; b.In != "header" || b.Name != "Authorization" {
		t.Fatalf("security definitions: %v", doc.SecurityDefinitions)
	}
	var missing []string
	n := 0
	for _, r := range rules(t) {
		method, path := r.method()
		op, ok := doc.Paths[path][method]
		// protoc-gen-openapiv2 names an operation Service_Method.
		want := strings.TrimPrefix(r.Selector, "ibex.v1.")
		want = strings.Replace(want, ".", "_", 1)
		if !ok || op.OperationID != want {
			missing = append(missing, method+" "+path+" ("+r.Selector+")")
		}
		n++
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("the OpenAPI document lacks %v: run `make proto`", missing)
	}
	ops := 0
	for _, p := range doc.Paths {
		ops += len(p)
	}
	if ops != n {
		t.Fatalf("the OpenAPI document has %d operations, ibex_rest.yaml %d rules: run `make proto`", ops, n)
	}
}
