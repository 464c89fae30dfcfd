package node

import (
	"context"
	"fmt"
	"io"

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

// operatorCredentials lists the access key IDs and principals of the
// configured credentials.
func operatorCredentials(cfg *Config) (akids, principals []string) {
	for _, c := range cfg.Credentials {
		akids = append(akids, c.AccessKeyID)
		principals = append(principals, c.Principal)
	}
	return akids, principals
}

// RootCredentials is the account root's first access key, set on the one
// node that created it when a region started for the first time. It is
// shown once (kmsnode serve prints it) and kept nowhere else in the clear.
type RootCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	Principal       string
}

// String describes c without its secret; every fmt verb prints this.
func (c RootCredentials) String() string {
	return "RootCredentials{AccessKeyID: " + c.AccessKeyID + ", Principal: " + c.Principal + ", SecretAccessKey: [REDACTED]}"
}

// Format writes String for every verb.
func (c RootCredentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// TakeRootCredentials returns the root credentials this node created, once:
// the node forgets them, so the secret lives no longer than its printing.
func (n *Node) TakeRootCredentials() *RootCredentials {
	n.rootMu.Lock()
	defer n.rootMu.Unlock()
	rc := n.rootCreds
	n.rootCreds = nil
	return rc
}

// createRootIdentity creates the root identity of a new region (Config.
// CreateRootIdentity) when this node leads it and no identity exists yet.
// fresh says the node started without Raft state: a region upgraded from a
// release without identities keeps its operator credentials and gets no
// root identity behind its operator's back.
func (n *Node) createRootIdentity(ctx context.Context, fresh bool) error {
	if !fresh || !n.cfg.CreateRootIdentity || !n.cluster.IsLeader() {
		return nil
	}
	akid, secret, err := n.kms.CreateRootIdentity(ctx)
	if err != nil || akid == "" {
		return err
	}
	n.rootMu.Lock()
	defer n.rootMu.Unlock()
	n.rootCreds = &RootCredentials{
		AccessKeyID: akid, SecretAccessKey: secret,
		Principal: "arn:" + n.cfg.Partition + ":iam::" + n.cfg.AccountID + ":root",
	}
	return nil
}
