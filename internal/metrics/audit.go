package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmsnode/kmsnode/audit"
)

// ioBuckets span 10 µs (a write into the page cache) to 2.5 s (an fsync
// on a saturated disk).
var ioBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
}

// auditIO times the audit sink's writes and fsyncs; it is the sink's
// audit.IOObserver.
type auditIO struct {
	write, sync prometheus.Histogram
}

func newAuditIO(reg prometheus.Registerer) *auditIO {
	a := &auditIO{
		write: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kmsnode_audit_write_duration_seconds",
			Help:    "Duration of each write(2) of a batch of audit lines.",
			Buckets: ioBuckets,
		}),
		sync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kmsnode_audit_fsync_duration_seconds",
			Help:    "Duration of each fsync of the audit log (about once per second while calls arrive).",
			Buckets: ioBuckets,
		}),
	}
	reg.MustRegister(a.write, a.sync)
	return a
}

func (a *auditIO) ObserveWrite(d time.Duration) { a.write.Observe(d.Seconds()) }
func (a *auditIO) ObserveSync(d time.Duration)  { a.sync.Observe(d.Seconds()) }

var (
	descAuditRecords  = desc("kmsnode_audit_records_total", "Audit records chained into the log since the node started.")
	descAuditDropped  = desc("kmsnode_audit_dropped_records_total", "Audit records that will never be written (queue full, memory bound reached while failing, lost with a failed file).")
	descAuditFailures = desc("kmsnode_audit_failures_total", "Times the audit log became unwritable (one per outage).")
	descAuditPending  = desc("kmsnode_audit_pending_bytes", "Bytes of audit lines held in memory, not yet written.")
	descAuditQueued   = desc("kmsnode_audit_queued_records", "Audit records handed to the writer and not yet taken up.")
	descAuditHealthy  = desc("kmsnode_audit_healthy", "1 while the audit log can be written; 0 while the node refuses calls for it (unless --audit-fail-open).")
)

// auditCollector reads the sink's figures at scrape time.
type auditCollector struct {
	sink func() *audit.FileSink
}

func (c auditCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAuditRecords, descAuditDropped, descAuditFailures,
		descAuditPending, descAuditQueued, descAuditHealthy} {
		ch <- d
	}
}

func (c auditCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.sink()
	if s == nil {
		return // the audit log is off
	}
	st := s.Stats()
	ch <- prometheus.MustNewConstMetric(descAuditRecords, prometheus.CounterValue, float64(st.Records))
	ch <- prometheus.MustNewConstMetric(descAuditDropped, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(descAuditFailures, prometheus.CounterValue, float64(st.Failures))
	ch <- prometheus.MustNewConstMetric(descAuditPending, prometheus.GaugeValue, float64(st.PendingBytes))
	ch <- prometheus.MustNewConstMetric(descAuditQueued, prometheus.GaugeValue, float64(st.QueuedRecords))
	ch <- prometheus.MustNewConstMetric(descAuditHealthy, prometheus.GaugeValue, b2f(st.Err == nil))
}
