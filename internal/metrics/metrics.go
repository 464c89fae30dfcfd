package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kmsnode/kmsnode/audit"
	"github.com/kmsnode/kmsnode/cluster"
	"github.com/kmsnode/kmsnode/fsm"
)

// Sources are what the collectors read at scrape time. Nil members leave
// their series out.
type Sources struct {
	NodeID, Region string
	Cluster        *cluster.Cluster
	FSM            *fsm.FSM
	Sealed         func() bool
	// Ready is the node's readiness check (/readyz).
	Ready func() error
	// Audit returns the audit sink, nil while the audit log is off. It is
	// asked at every scrape: the sink opens after the registry is made.
	Audit  func() *audit.FileSink
	Logger *slog.Logger // scrape errors
}

// Registry is one node's metrics.
type Registry struct {
	reg      *prometheus.Registry
	requests *Requests
	auditIO  *auditIO
	log      *slog.Logger
}

// New makes a node's registry with the Go runtime and process collectors,
// the request series and the collectors over src.
func New(src Sources) *Registry {
	if src.Logger == nil {
		src.Logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stateCollector{src: src},
	)
	if src.Audit != nil {
		reg.MustRegister(auditCollector{sink: src.Audit})
	}
	return &Registry{reg: reg, requests: newRequests(reg), auditIO: newAuditIO(reg), log: src.Logger}
}

// Requests is the API's observer.
func (r *Registry) Requests() *Requests { return r.requests }

// AuditObserver times the audit sink's writes and fsyncs
// (audit.FileOptions.Observer).
func (r *Registry) AuditObserver() audit.IOObserver { return r.auditIO }

// Gatherer gives the registry's metrics (tests).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the metrics in the Prometheus text format (or OpenMetrics
// when the scraper asks for it). At most 4 scrapes run at once; a scrape
// taking more than 10 s is answered 503.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorLog:            logAdapter{r.log},
		ErrorHandling:       promhttp.ContinueOnError, // a failing collector costs its series, not the scrape
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
		EnableOpenMetrics:   true,
	})
}

// logAdapter is promhttp's Logger on slog.
type logAdapter struct{ log *slog.Logger }

func (l logAdapter) Println(v ...any) {
	l.log.Warn("metrics: "+fmt.Sprint(v...), "component", "metrics")
}
