package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/kmsnode/kmsnode/cluster"
	"github.com/kmsnode/kmsnode/kms"
	"github.com/kmsnode/kmsnode/transport"
)

// openTransport loads the node's cluster certificate and opens the cluster
// port. The certificate decides the node ID when none was configured; a
// configured one must match it, as must the region.
func openTransport(cfg *Config) (*transport.Transport, error) {
	creds, err := transport.LoadCredentials(transport.TLSFiles{
		CAFile: cfg.Cluster.CAFile, CertFile: cfg.Cluster.CertFile, KeyFile: cfg.Cluster.KeyFile,
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	switch {
	case creds.Self.Region != cfg.Region:
		return nil, fmt.Errorf("node: the cluster certificate is for region %q, not %q", creds.Self.Region, cfg.Region)
	case cfg.NodeID == "":
		cfg.NodeID = creds.Self.NodeID
	case cfg.NodeID != creds.Self.NodeID:
		return nil, fmt.Errorf("node: node ID %q differs from %q in the cluster certificate", cfg.NodeID, creds.Self.NodeID)
	}
	return transport.Listen(transport.Config{
		Addr: cfg.Cluster.Addr, Advertise: cfg.Cluster.Advertise, Creds: creds, Logger: cfg.Logger.With("component", "cluster-port"),
	})
}

// operator adapts the cluster to the API's operator operations.
type operator struct{ c *cluster.Cluster }

func (o operator) Members(context.Context) (any, error) { return o.c.Members() }

func (o operator) RemoveNode(ctx context.Context, id string) error {
	err := o.c.RemoveNode(ctx, id)
	if errors.Is(err, cluster.ErrUnknownNode) {
		return &kms.Error{Kind: kms.ErrNotFound, Msg: "No node " + id + " in this region."}
	}
	return err
}
