package server

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

// caller returns the authenticated tenant of a request.
func caller(ctx context.Context) *model.Tenant {
	t, _ := ctx.Value(tenantKey{}).(*model.Tenant)
	return t
}

// authenticate resolves the bearer token to a tenant.
func authenticate(ctx context.Context, f *fsm.FSM) (*model.Tenant, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return nil, status.Error(codes.Unauthenticated, "no token: pass --token, set IBEX_TOKEN or write a config file (see `ibex --help`)")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || tok == "" {
		return nil, status.Error(codes.Unauthenticated, `authorization must be "Bearer TOKEN"`)
	}
	h := HashToken(tok)
	var t *model.Tenant
	f.Read(func(s *fsm.State) {
		if found := s.TenantByTokenHash(h); found != nil {
			c := *found
			t = &c
		}
	})
	if t == nil {
		return nil, status.Error(codes.Unauthenticated, "token not recognised")
	}
	return t, nil
}

func authUnary(f *fsm.FSM) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		t, err := authenticate(ctx, f)
		if err != nil {
			return nil, err
		}
		return h(context.WithValue(ctx, tenantKey{}, t), req)
	}
}

func requireAdmin(ctx context.Context) error {
	if t := caller(ctx); t == nil || !t.Admin {
		return status.Error(codes.PermissionDenied, "this needs an admin token")
	}
	return nil
}
