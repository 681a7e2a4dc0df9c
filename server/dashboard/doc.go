// Package dashboard serves ibexd's fabric health page and the JSON API behind
// it (documented in API.md).
//
// The page is plain HTML, CSS and JavaScript embedded in the binary, so an
// operator on an air-gapped management network gets it from ibexd itself:
// nothing is built, bundled or fetched from the internet, and the Content
// Security Policy forbids the browser to try.
//
// Everything the page shows comes from three endpoints: an overview (fabric,
// node tiles, queue, running allocations), a node's detail, and a stream of
// "something changed" events. The events carry no data on purpose: the
// client re-reads the overview, so there is one code path that turns state
// into JSON, one place that anonymises it, and a client that missed events
// (a dropped connection, a sleeping laptop) catches up by the same request.
//
// Every API request is authenticated with the same bearer tokens as the gRPC
// API. An admin sees everything; a tenant sees its own jobs and nodes, and
// the rest of the cluster as "other" without job names or ids, so it can see
// how busy the cluster is but not who is running what.
//
// Large clusters are summarised per leaf switch rather than per node (see
// Options.AggregateAbove), which keeps the overview a few tens of kilobytes
// at thousands of nodes; the page asks for individual leaves' nodes when the
// operator expands them.
package dashboard
