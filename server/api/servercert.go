package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/pki"
)

// Certificate signs a server certificate for a server about to join
// (server/tlsjoin.go). Only an admin may: a server certificate makes its
// holder a raft peer and lets it answer pinned clients, which is what
// Join gives an admin anyway. It reads the CA from the state and writes
// nothing.
func (v *serversService) Certificate(ctx context.Context, req *pb.ServerCertificateRequest) (*pb.ServerCertificate, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if len(req.CsrPem) > pki.MaxCSRBytes {
		return nil, status.Errorf(codes.InvalidArgument, "csr_pem: %d bytes, at most %d", len(req.CsrPem), pki.MaxCSRBytes)
	}
	ca, err := pki.Current(v.a.cfg.Store)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "%v; retry shortly", err)
	}
	cert, err := ca.SignServerCSR(req.Id, []byte(req.CsrPem))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &pb.ServerCertificate{CertPem: string(cert), CaPem: string(ca.PEM)}, nil
}
