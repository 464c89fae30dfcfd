package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/kmsnode/kmsnode/audit"
	"github.com/kmsnode/kmsnode/internal/metrics"
)

// The metrics listener (Config.MetricsAddr) is a listener of its own, off
// by default, never the API port: /metrics needs no signature (Prometheus
// does not sign), and while it names no key, principal or secret, request
// rates and error counts still tell an outsider how the service is used.
// A separate port can be firewalled apart from the API, and it is refused
// off loopback unless Config.MetricsAllowRemote says the operator means it.
// It speaks what the API speaks: HTTPS with the API's certificate (and its
// client-certificate requirement, reloaded with it) when the API has TLS,
// plain HTTP otherwise.

// newMetrics makes the node's registry; Start calls it before the audit
// sink opens, whose writes it times.
func (n *Node) newMetrics() {
	n.metrics = metrics.New(metrics.Sources{
		NodeID: n.cfg.NodeID, Region: n.cfg.Region,
		Cluster: n.cluster, FSM: n.fsm,
		Sealed: n.kms.Sealed, Ready: n.Ready,
		// Set once by openAudit, before any listener starts.
		Audit:  func() *audit.FileSink { return n.sink },
		Logger: n.log,
	})
}

// serveMetrics starts the metrics listener if one is configured; it runs
// after serve, whose TLS configuration it shares.
func (n *Node) serveMetrics() error {
	addr := n.cfg.MetricsAddr
	if addr == "" {
		return nil
	}
	if !n.cfg.MetricsAllowRemote && !IsLoopback(addr) {
		return fmt.Errorf("node: the metrics address %s is not a loopback address: allow it with --metrics-allow-remote "+
			"(request rates and errors are then visible to whoever reaches that port)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("node: metrics listener on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.metrics.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	if n.apiTLS != nil {
		srv.TLSConfig = n.apiTLS.serverConfig()
	}
	n.metricsLn, n.metricsSrv = ln, srv
	go func() {
		var err error
		if n.apiTLS != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("metrics listener stopped", "addr", addr, "err", err)
		}
	}()
	return nil
}

// stopMetrics closes the metrics listener (Close, before the API).
func (n *Node) stopMetrics() error {
	if n.metricsSrv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return n.metricsSrv.Shutdown(ctx)
}

// MetricsURL is the metrics endpoint, e.g. http://127.0.0.1:9464/metrics,
// or "" when the node has no metrics listener.
func (n *Node) MetricsURL() string {
	if n.metricsLn == nil {
		return ""
	}
	scheme := "http"
	if n.apiTLS != nil {
		scheme = "https"
	}
	return scheme + "://" + n.metricsLn.Addr().String() + "/metrics"
}

// MetricsHandler serves the node's metrics whether or not a listener is
// configured (tests, programs that embed a node and serve it themselves).
func (n *Node) MetricsHandler() http.Handler { return n.metrics.Handler() }

// IsLoopback reports whether addr's host is a loopback address or
// localhost; an empty host (all interfaces) is not. kmsnode's flags use it
// for every listener that must stay on the machine.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
