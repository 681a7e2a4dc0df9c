// Package auth turns a request's bearer token into a tenant: tokens, their
// digests, the gRPC interceptor and the admin check.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// NewToken returns a fresh bearer token: 256 random bits, URL-safe.
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return "ibex_" + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is the digest stored in the replicated state. Tokens carry 256
// bits of entropy, so a plain SHA-256 (no salt, no stretching) is enough.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

type tenantKey struct{}

// Caller returns the authenticated tenant of a request.
func Caller(ctx context.Context) *model.Tenant {
	t, _ := ctx.Value(tenantKey{}).(*model.Tenant)
	return t
}

// WithCaller returns ctx carrying tenant t as the caller, for streaming
// handlers, which the unary interceptor does not reach and which
// authenticate themselves.
func WithCaller(ctx context.Context, t *model.Tenant) context.Context {
	return context.WithValue(ctx, tenantKey{}, t)
}

// Reader is the part of the replicated state tenants are read from.
type Reader interface {
	Read(fn func(*fsm.State))
}

// BearerToken is the token of the request's "authorization: Bearer TOKEN"
// header, or "" when there is none or it is malformed.
func BearerToken(ctx context.Context) string {
	tok, _ := bearerToken(ctx)
	return tok
}

func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", status.Error(codes.Unauthenticated, "no token: pass --token, set IBEX_TOKEN or write a config file (see `ibex --help`)")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || tok == "" {
		return "", status.Error(codes.Unauthenticated, `authorization must be "Bearer TOKEN"`)
	}
	return tok, nil
}

// Authenticate resolves the bearer token to a tenant.
func Authenticate(ctx context.Context, f Reader) (*model.Tenant, error) {
	tok, err := bearerToken(ctx)
	if err != nil {
		return nil, err
	}
	t := TenantForToken(f, tok)
	if t == nil {
		return nil, status.Error(codes.Unauthenticated, "token not recognised")
	}
	return t, nil
}

// Unary authenticates every unary call and puts the tenant in its context.
func Unary(f Reader) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		t, err := Authenticate(ctx, f)
		if err != nil {
			return nil, err
		}
		return h(context.WithValue(ctx, tenantKey{}, t), req)
	}
}

// RequireAdmin refuses a caller that is not an admin.
func RequireAdmin(ctx context.Context) error {
	if t := Caller(ctx); t == nil || !t.Admin {
		return status.Error(codes.PermissionDenied, "this needs an admin token")
	}
	return nil
}

// TenantForToken resolves a bearer token to a copy of its tenant, or nil.
func TenantForToken(f Reader, token string) *model.Tenant {
	h := HashToken(token)
	var t *model.Tenant
	f.Read(func(st *fsm.State) {
		if found := st.TenantByTokenHash(h); found != nil {
			c := *found
			t = &c
		}
	})
	return t
}
