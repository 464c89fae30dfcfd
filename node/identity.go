package node

import (
	"context"

	"github.com/kmsnode/kmsnode/api/sigv4"
	"github.com/kmsnode/kmsnode/kms"
)

// credentialStore is the SigV4 Store of a node: the operator credentials
// of its configuration first (kmsnode dev's fixed identity, serve's
// --access-key-id), then the access keys of the region's identities, whose
// secrets the kms service opens from the FSM.
type credentialStore struct {
	static sigv4.StaticStore
	kms    *kms.Service
}

// Lookup implements sigv4.Store.
func (c credentialStore) Lookup(akid string) (sigv4.Credential, bool) {
	if cr, ok := c.static[akid]; ok {
		return cr, true
	}
	principal, secret, ok := c.kms.Credential(akid)
	if !ok {
		return sigv4.Credential{}, false
	}
	return sigv4.Credential{AccessKeyID: akid, Secret: secret, Principal: principal}, true
}

func (n *Node) credentialStore() credentialStore {
	st := sigv4.StaticStore{}
	for _, c := range n.cfg.Credentials {
		st[c.AccessKeyID] = c
	}
	return credentialStore{static: st, kms: n.kms}
}

// adminAccessKeys lists the access key IDs of the configured credentials.
func adminAccessKeys(cfg *Config) []string {
	out := make([]string, 0, len(cfg.Credentials))
	for _, c := range cfg.Credentials {
		out = append(out, c.AccessKeyID)
	}
	return out
}

// RootCredentials is the account root's first access key, set on the one
// node that created it when a region started for the first time. It is
// shown once (kmsnode serve prints it) and kept nowhere else in the clear.
type RootCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	Principal       string
}

// createRootIdentity creates the root identity of a new region (Config.
// CreateRootIdentity) when this node leads it and no identity exists yet.
func (n *Node) createRootIdentity(ctx context.Context) error {
	if !n.cfg.CreateRootIdentity || !n.cluster.IsLeader() {
		return nil
	}
	akid, secret, err := n.kms.CreateRootIdentity(ctx)
	if err != nil || akid == "" {
		return err
	}
	n.RootCredentials = &RootCredentials{
		AccessKeyID: akid, SecretAccessKey: secret,
		Principal: "arn:" + n.cfg.Partition + ":iam::" + n.cfg.AccountID + ":root",
	}
	return nil
}
