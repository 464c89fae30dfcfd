package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// apiCipherSuites are the TLS 1.2 suites the API accepts: ECDHE key
// exchange (forward secrecy) with an AEAD only, no CBC, no RSA key
// exchange. TLS 1.3 suites are not configurable in Go and are all AEADs.
// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 must stay: HTTP/2 requires it.
var apiCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// apiTLS holds the API's certificate (and the optional client CA bundle)
// and swaps them atomically on reload: handshakes that start after a
// reload see the new pair, connections already open keep theirs, and a
// pair that does not load leaves the current one in place.
type apiTLS struct {
	certFile, keyFile, clientCAFile string
	log                             *slog.Logger

	mu  sync.Mutex // serialises reloads
	cur atomic.Pointer[tlsGeneration]
}

// tlsGeneration is one loaded certificate and client CA bundle, with the
// handshake configuration built from them.
type tlsGeneration struct {
	cert *tls.Certificate
	cfg  *tls.Config
}

func newAPITLS(cfg Config, log *slog.Logger) (*apiTLS, error) {
	a := &apiTLS{certFile: cfg.TLSCertFile, keyFile: cfg.TLSKeyFile, clientCAFile: cfg.TLSClientCAFile, log: log}
	g, err := a.load()
	if err != nil {
		return nil, err
	}
	a.cur.Store(g)
	return a, nil
}

// serverConfig is the http.Server's TLS configuration. Every handshake
// takes the current generation's configuration, so a reload also changes
// which client certificates are trusted.
func (a *apiTLS) serverConfig() *tls.Config {
	c := a.template()
	c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return a.cur.Load().cfg, nil }
	return c
}

// template is what every generation shares: TLS 1.2 at least (1.3 is
// negotiated whenever the client offers it), AEAD suites, HTTP/2.
func (a *apiTLS) template() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   apiCipherSuites,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: a.getCertificate,
	}
}

func (a *apiTLS) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return a.cur.Load().cert, nil
}

// load reads the files and checks them; it changes nothing.
func (a *apiTLS) load() (*tlsGeneration, error) {
	cert, err := tls.LoadX509KeyPair(a.certFile, a.keyFile)
	if err != nil {
		return nil, fmt.Errorf("node: API TLS certificate %s / key %s: %w", a.certFile, a.keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("node: API TLS certificate %s: %w", a.certFile, err)
		}
		cert.Leaf = leaf
	}
	if now := time.Now(); now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("node: API TLS certificate %s expired on %s", a.certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	cfg := a.template()
	if a.clientCAFile != "" {
		pem, err := os.ReadFile(a.clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("node: API client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("node: API client CA file %s holds no PEM certificate", a.clientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return &tlsGeneration{cert: &cert, cfg: cfg}, nil
}

// reload loads the files again and, if they are good, serves them from the
// next handshake on. A bad pair keeps the current one and says why.
func (a *apiTLS) reload() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cur.Load().cert.Leaf
	g, err := a.load()
	if err != nil {
		a.log.Error("API TLS reload failed; still serving the previous certificate",
			"err", err, "serial", old.SerialNumber.String(), "not_after", old.NotAfter.UTC())
		return err
	}
	a.cur.Store(g)
	leaf := g.cert.Leaf
	a.log.Info("API TLS certificate reloaded", "serial", leaf.SerialNumber.String(), "subject", leaf.Subject.String(),
		"not_after", leaf.NotAfter.UTC(), "previous_serial", old.SerialNumber.String(), "client_ca", a.clientCAFile != "")
	return nil
}

// ReloadTLS reads the API certificate, key and client CA files again (kmsnode
// serve calls it on SIGHUP). New connections get the new certificate;
// open ones keep the old. If the new files do not load, or the
// certificate has expired, the node keeps serving the previous pair, logs
// why and returns the error.
func (n *Node) ReloadTLS() error {
	if n.apiTLS == nil {
		err := errors.New("node: the API is not served over TLS; there is no certificate to reload")
		n.log.Warn("API TLS reload ignored", "err", err)
		return err
	}
	return n.apiTLS.reload()
}
