package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
)

// ALPN protocol names of the cluster port.
const (
	ProtoRaft = "kms-raft/1"
	ProtoRPC  = "kms-rpc/1"
	ProtoXR   = "kms-xr/1" // reserved: cross-region replication
)

// TLSFiles names the PEM files of a node's cluster identity.
type TLSFiles struct {
	CAFile   string // the region CA certificate(s)
	CertFile string // this node's certificate (with its identity URI SAN)
	KeyFile  string // its private key
}

// Credentials is a node's loaded cluster identity.
type Credentials struct {
	Roots *x509.CertPool
	Cert  tls.Certificate
	Self  Identity
}

// LoadCredentials reads and checks the files: the node certificate must be
// issued by the CA and carry a kmsnode identity.
func LoadCredentials(f TLSFiles) (*Credentials, error) {
	if f.CAFile == "" || f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("transport: the cluster port needs a CA file, a certificate and a key")
	}
	caPEM, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, fmt.Errorf("transport: read CA: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("transport: load node certificate: %w", err)
	}
	return NewCredentials(caPEM, cert)
}

// NewCredentials builds credentials from a CA bundle and a key pair.
func NewCredentials(caPEM []byte, cert tls.Certificate) (*Credentials, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("transport: the CA file holds no PEM certificate")
	}
	if len(cert.Certificate) == 0 {
		return nil, errors.New("transport: empty node certificate")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("transport: parse node certificate: %w", err)
	}
	cert.Leaf = leaf
	self, err := IdentityOf(leaf)
	if err != nil {
		return nil, err
	}
	c := &Credentials{Roots: roots, Cert: cert, Self: self}
	if _, err := c.verify(cert.Certificate, x509.ExtKeyUsageAny); err != nil {
		return nil, fmt.Errorf("transport: node certificate is not issued by the CA: %w", err)
	}
	return c, nil
}

// verify checks a presented chain against the CA and returns its identity.
func (c *Credentials) verify(raw [][]byte, usage x509.ExtKeyUsage) (Identity, error) {
	if len(raw) == 0 {
		return Identity{}, errors.New("no certificate presented")
	}
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, b := range raw {
		cert, err := x509.ParseCertificate(b)
		if err != nil {
			return Identity{}, err
		}
		certs = append(certs, cert)
	}
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{
		Roots: c.Roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage},
	}); err != nil {
		return Identity{}, err
	}
	return IdentityOf(certs[0])
}

// check verifies a peer's handshake: chain, identity, region and, when want
// is set, the exact node.
func (c *Credentials) check(cs tls.ConnectionState, usage x509.ExtKeyUsage, want string) (Identity, error) {
	raw := make([][]byte, 0, len(cs.PeerCertificates))
	for _, pc := range cs.PeerCertificates {
		raw = append(raw, pc.Raw)
	}
	id, err := c.verify(raw, usage)
	if err != nil {
		return Identity{}, err
	}
	if id.Region != c.Self.Region {
		return id, fmt.Errorf("peer %s belongs to region %q, not %q", id, id.Region, c.Self.Region)
	}
	if want != "" && id.NodeID != want {
		return id, fmt.Errorf("peer is node %q, expected %q", id.NodeID, want)
	}
	return id, nil
}

// serverConfig accepts TLS 1.3 clients of the region with a known ALPN.
func (c *Credentials) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Cert},
		ClientAuth:   tls.RequireAnyClientCert, // verified in VerifyConnection
		NextProtos:   []string{ProtoRaft, ProtoRPC, ProtoXR},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if !slices.Contains([]string{ProtoRaft, ProtoRPC}, cs.NegotiatedProtocol) {
				return fmt.Errorf("unsupported protocol %q", cs.NegotiatedProtocol)
			}
			_, err := c.check(cs, x509.ExtKeyUsageClientAuth, "")
			return err
		},
	}
}

// clientConfig dials a node of the region speaking proto; want, when set,
// is the node ID the peer must prove. Server names are not checked: nodes
// are addressed by IP or by names that may change; the identity SAN is what
// is verified.
func (c *Credentials) clientConfig(proto, want string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{c.Cert},
		NextProtos:         []string{proto},
		InsecureSkipVerify: true, // chain and identity verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if cs.NegotiatedProtocol != proto {
				return fmt.Errorf("peer does not speak %s", proto)
			}
			_, err := c.check(cs, x509.ExtKeyUsageServerAuth, want)
			return err
		},
	}
}
