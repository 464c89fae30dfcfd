package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latencyBuckets span 100 µs (a GenerateRandom on an idle node) to 10 s (a
// write waiting out an election), about 2.5× apart, so p50 and p99 of
// both the crypto calls (~0.2–10 ms) and Raft writes (~1–50 ms) fall
// between close bounds.
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Codes of [Requests.Done] besides the AWS error types.
const (
	CodeOK = "OK"
	// throttled is the AWS error type of a refused rate.
	throttled = "ThrottlingException"
)

// Requests counts the API's calls. It implements the API's observer
// (api.Observer): Start when a call arrives, Done when it was answered.
// The per-operation series are resolved once and cached, so a call costs
// an atomic add, a lock-free map lookup, a histogram observation and a
// counter increment (BenchmarkRequests).
type Requests struct {
	inFlight  atomic.Int64
	total     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	throttled prometheus.Counter
	ops       sync.Map // operation → *opSeries
}

// opSeries are one operation's resolved series.
type opSeries struct {
	duration prometheus.Observer
	ok       prometheus.Counter
	codes    sync.Map // error type → prometheus.Counter
}

func newRequests(reg prometheus.Registerer) *Requests {
	r := &Requests{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmsnode_requests_total",
			Help: "API calls answered, by operation (X-Amz-Target name; 'unknown' for anything else) and code (the AWS error type, or OK).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kmsnode_request_duration_seconds",
			Help:    "Time from a call's arrival to its answer and audit record, by operation.",
			Buckets: latencyBuckets,
		}, []string{"operation"}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kmsnode_throttled_requests_total",
			Help: "API calls refused by the rate limit (ThrottlingException).",
		}),
	}
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kmsnode_requests_in_flight",
		Help: "API calls being served now.",
	}, func() float64 { return float64(r.inFlight.Load()) })
	reg.MustRegister(r.total, r.duration, r.throttled, inFlight)
	return r
}

// Start counts a call that arrived.
func (r *Requests) Start() { r.inFlight.Add(1) }

// Done counts a call answered after d with code (CodeOK or an AWS error
// type). operation and code must come from bounded sets: they become label
// values.
func (r *Requests) Done(operation, code string, d time.Duration) {
	r.inFlight.Add(-1)
	s := r.series(operation)
	s.duration.Observe(d.Seconds())
	if code == CodeOK {
		s.ok.Inc()
		return
	}
	c, ok := s.codes.Load(code)
	if !ok {
		c, _ = s.codes.LoadOrStore(code, r.total.WithLabelValues(operation, code))
	}
	c.(prometheus.Counter).Inc()
	if code == throttled {
		r.throttled.Inc()
	}
}

func (r *Requests) series(operation string) *opSeries {
	if s, ok := r.ops.Load(operation); ok {
		return s.(*opSeries)
	}
	s := &opSeries{
		duration: r.duration.WithLabelValues(operation),
		ok:       r.total.WithLabelValues(operation, CodeOK),
	}
	v, _ := r.ops.LoadOrStore(operation, s)
	return v.(*opSeries)
}
