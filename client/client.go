package client

import (
	"context"

	"google.golang.org/grpc/metadata"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Client is the API of a cluster with one caller's token.
type Client struct {
	Conn     *MultiConn
	Token    string
	Stale    bool
	Jobs     pb.JobsClient
	Nodes    pb.NodesClient
	Tenants  pb.TenantsClient
	Servers  pb.ServersClient
	Fleet    pb.FleetClient
	Topology pb.TopologyClient
	sub      *submitter // submitstream.go: Jobs.Submit's shared stream
}

// New dials addrs (comma-separated) for the holder of token. By default it
// speaks TLS and trusts the system's roots; WithCAPin (what the CLI
// config's ca_pin sets), WithCAFile or WithPlaintext say otherwise.
func New(addrs, token string, opts ...Option) (*Client, error) {
	conn, err := DialAll(addrs, opts...)
	if err != nil {
		return nil, err
	}
	sub := newSubmitter(conn)
	return &Client{Conn: conn, Token: token, Jobs: &jobsClient{JobsClient: pb.NewJobsClient(conn), sub: sub}, Nodes: pb.NewNodesClient(conn),
		Tenants: pb.NewTenantsClient(conn), Servers: pb.NewServersClient(conn), Fleet: pb.NewFleetClient(conn),
		Topology: pb.NewTopologyClient(conn), sub: sub}, nil
}

// Context adds the token (and the stale-read marker) to ctx.
func (c *Client) Context(ctx context.Context) context.Context {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.Token)
	if c.Stale {
		ctx = metadata.AppendToOutgoingContext(ctx, "ibex-consistency", "stale")
	}
	return ctx
}

// Close closes the connections.
func (c *Client) Close() error {
	if c.sub != nil {
		c.sub.close()
	}
	return c.Conn.Close()
}
