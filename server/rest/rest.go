// Package rest serves the ibex API as HTTP/JSON: grpc-gateway's handlers
// (generated into proto/ibexv1 from ibex.proto and the mapping in
// proto/ibexv1/ibex_rest.yaml) and the OpenAPI document.
//
// Every REST call becomes a gRPC call on a connection to this server's own
// gRPC server, so it passes the same interceptors (authentication with the
// request's Authorization header, forwarding to the leader, panic
// recovery), the same validation and tenant isolation, and gRPC's message
// size limit: there is no second implementation of any rule here.
package rest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	gw "github.com/ibex-hpc/ibex/proto/gateway/ibexv1"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Prefix is where the REST API lives on ibexd's HTTP listener.
const Prefix = "/v1/"

// OpenAPIPath serves the OpenAPI 2.0 document (proto/ibexv1/ibex.swagger.json).
const OpenAPIPath = "/v1/openapi.json"

// DefaultMaxBody caps a request body. gRPC refuses a message over 4 MiB
// after decoding; JSON escaping can make that message's body larger
// (a script full of quotes and newlines), so the body may be twice that,
// and a hostile client still cannot make the server buffer more.
const DefaultMaxBody = 8 << 20

const noToken = `{"code":16,"message":"no token: send the header \"Authorization: Bearer TOKEN\" with a tenant's token (ibex tenant create) or the admin token","details":[]}` + "\n"

// Handler is the REST API: mount it at Prefix.
type Handler struct {
	mux     *runtime.ServeMux
	maxBody int64
}

// New serves the REST API by calling conn, a connection to this server's
// gRPC API. Launch (MPI process start-up, streamed both ways) and Agents
// (the node agents' mutual-TLS channel) are gRPC only and not mounted.
func New(ctx context.Context, conn grpc.ClientConnInterface, maxBody int64) (*Handler, error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	mux := runtime.NewServeMux(
		// Proto field names (as in ibex.proto and the OpenAPI document),
		// every field present in responses so a client need not know
		// proto3's defaults, and unknown request fields refused: a typo
		// ("num_node") is an error, not a silently different job.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithErrorHandler(errorHandler(maxBody)),
		// Only the Authorization header (which the gateway always passes)
		// becomes gRPC metadata: not cookies, not the client's other
		// headers, which the API does not read and a follower would carry
		// on to the leader.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
	)
	for name, reg := range map[string]func() error{
		"Jobs":     func() error { return gw.RegisterJobsHandlerClient(ctx, mux, pb.NewJobsClient(conn)) },
		"Nodes":    func() error { return gw.RegisterNodesHandlerClient(ctx, mux, pb.NewNodesClient(conn)) },
		"Tenants":  func() error { return gw.RegisterTenantsHandlerClient(ctx, mux, pb.NewTenantsClient(conn)) },
		"Servers":  func() error { return gw.RegisterServersHandlerClient(ctx, mux, pb.NewServersClient(conn)) },
		"Fleet":    func() error { return gw.RegisterFleetHandlerClient(ctx, mux, pb.NewFleetClient(conn)) },
		"Topology": func() error { return gw.RegisterTopologyHandlerClient(ctx, mux, pb.NewTopologyClient(conn)) },
	} {
		if err := reg(); err != nil {
			return nil, fmt.Errorf("rest: mount %s: %w", name, err)
		}
	}
	return &Handler{mux: mux, maxBody: maxBody}, nil
}

// ServeHTTP bounds the body and hands the request to the gateway. A
// request without an Authorization header is refused here only to say so
// in HTTP's terms (gRPC's message names the CLI's flags); the token itself
// is checked by the gRPC API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, noToken)
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	}
	h.mux.ServeHTTP(w, r)
}

// errorHandler is the gateway's, except that a body over the limit is 413
// with a message that says the limit, instead of a decoding error.
// The gateway turns the body's read error into an InvalidArgument status
// carrying only its text, hence the match on http.MaxBytesReader's message.
func errorHandler(maxBody int64) runtime.ErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || strings.Contains(err.Error(), "http: request body too large") {
			err = &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge,
				Err: status.Errorf(codes.ResourceExhausted, "the request body is over %d bytes", maxBody)}
		}
		runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
	}
}

// OpenAPI serves the committed OpenAPI document.
func OpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(pb.OpenAPI)
}
