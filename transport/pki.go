package transport

// A minimal PKI for the cluster port: a self-signed region CA and node
// certificates carrying the kmsnode identity URI SAN. Operators with their
// own PKI don't need it; `kmsnode operator tls` is built on it.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"
)

// clockSkew backdates NotBefore so that peers whose clocks lag a little
// accept a freshly issued certificate.
const clockSkew = time.Hour

// GenerateCA creates a self-signed ECDSA P-256 CA certificate, valid from
// an hour ago for validFor, that may sign node certificates but no further
// CA. The key is PEM "PRIVATE KEY" (PKCS #8).
func GenerateCA(commonName string, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	if strings.TrimSpace(commonName) == "" {
		return nil, nil, errors.New("transport: the CA needs a common name")
	}
	if validFor <= 0 {
		return nil, nil, errors.New("transport: the CA validity must be positive")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validFor),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: create CA certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// IssueNodeCert signs a node certificate for id with the CA: an ECDSA P-256
// key, the identity URI SAN, each host as an IP or DNS SAN, usable as TLS
// server and client. The pair loads with tls.X509KeyPair. The certificate
// may not outlive the CA.
func IssueNodeCert(caCertPEM, caKeyPEM []byte, id Identity, hosts []string, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	if err := id.Validate(); err != nil {
		return nil, nil, err
	}
	if validFor <= 0 {
		return nil, nil, errors.New("transport: the certificate validity must be positive")
	}
	ca, caKey, err := parseCA(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	notAfter := now.Add(validFor)
	if notAfter.After(ca.NotAfter) {
		return nil, nil, fmt.Errorf("transport: the certificate would outlive the CA, which expires %s", ca.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: generate node key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: id.NodeID},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:                  []*url.URL{id.URI()},
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch ip := net.ParseIP(h); {
		case h == "":
			return nil, nil, errors.New("transport: empty host name")
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: sign node certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// GenerateGossipKey returns a new 32-byte gossip encryption key as standard
// base64 text.
func GenerateGossipKey() (string, error) {
	b := make([]byte, 32)
	defer clear(b)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("transport: generate gossip key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// parseCA reads a CA certificate and its private key and checks that they
// belong together and that the certificate may sign certificates.
func parseCA(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil, errors.New("transport: the CA certificate is not a PEM CERTIFICATE")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: parse CA certificate: %w", err)
	}
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, nil, errors.New("transport: the CA certificate may not sign certificates")
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, errors.New("transport: the CA key is not PEM")
	}
	defer clear(kb.Bytes) // decoded into a fresh buffer: ours to wipe
	var parsed any
	switch kb.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(kb.Bytes)
	default:
		return nil, nil, fmt.Errorf("transport: unsupported CA key PEM type %q", kb.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("transport: parse CA key: %w", err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("transport: CA key of type %T cannot sign", parsed)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(ca.PublicKey) {
		return nil, nil, errors.New("transport: the CA key does not match the CA certificate")
	}
	return ca, signer, nil
}

// encodeKey encodes a private key as PEM PKCS #8 and wipes the DER.
func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("transport: encode private key: %w", err)
	}
	defer clear(der)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// randomSerial is a random positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("transport: generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
