package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// Identity is who a certificate says a node is.
type Identity struct {
	Region string
	NodeID string
}

// identityScheme is the URI SAN scheme of node certificates.
const identityScheme = "kmsnode"

var (
	regionRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,31}$`)
	nodeIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Validate reports whether the identity can be put in a certificate.
func (id Identity) Validate() error {
	if !regionRE.MatchString(id.Region) {
		return fmt.Errorf("transport: region %q is not a valid region name", id.Region)
	}
	if !nodeIDRE.MatchString(id.NodeID) {
		return fmt.Errorf("transport: node ID %q must be 1-64 letters, digits, '.', '_' or '-'", id.NodeID)
	}
	return nil
}

// URI is the identity as a certificate URI SAN: kmsnode://<region>/node/<id>.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: identityScheme, Host: id.Region, Path: "/node/" + id.NodeID}
}

func (id Identity) String() string { return id.NodeID + "@" + id.Region }

// ErrNoIdentity: the certificate carries no kmsnode identity.
var ErrNoIdentity = errors.New("transport: certificate carries no kmsnode node identity")

// IdentityOf reads the node identity from a certificate's URI SANs. A
// certificate with two different identities is refused.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	var found *Identity
	for _, u := range cert.URIs {
		if u.Scheme != identityScheme {
			continue
		}
		id := Identity{Region: u.Host, NodeID: strings.TrimPrefix(u.Path, "/node/")}
		if !strings.HasPrefix(u.Path, "/node/") || id.Validate() != nil {
			return Identity{}, fmt.Errorf("transport: malformed node identity %q", u.String())
		}
		if found != nil && *found != id {
			return Identity{}, errors.New("transport: certificate carries two node identities")
		}
		found = &id
	}
	if found == nil {
		return Identity{}, ErrNoIdentity
	}
	return *found, nil
}

// ConnIdentity is the verified identity of the peer of an inbound or
// outbound cluster connection (for RPC handlers: http.Server.ConnContext).
func ConnIdentity(c net.Conn) (Identity, bool) {
	tc, ok := c.(*trackedConn)
	if !ok {
		return Identity{}, false
	}
	tlsc, ok := tc.Conn.(*tls.Conn)
	if !ok {
		return Identity{}, false
	}
	cs := tlsc.ConnectionState()
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, false
	}
	id, err := IdentityOf(cs.PeerCertificates[0])
	return id, err == nil
}
