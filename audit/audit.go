package audit

import (
	"context"
	"time"
)

// Record is one audited API call, CloudTrail-shaped. It must never carry
// plaintext, data keys, key material or secrets: only identifiers and
// outcome.
type Record struct {
	Time      time.Time // when the call arrived; a FileSink stamps time.Now() if zero
	RequestID string
	Region    string
	Node      string // the kmsnode node that served the call

	Principal   string // caller ARN, empty if the request was not authenticated
	AccessKeyID string // the access key ID (never the secret)
	SourceIP    string
	UserAgent   string

	Operation string   // AWS op name, e.g. "Encrypt"
	KeyID     string   // resolved key ARN or ID when known
	Resources []string // other ARNs touched (aliases, destination key)

	// EncryptionContext is logged as AWS does: the context is not secret
	// (CloudTrail logs it). Handlers treat the map as read-only.
	EncryptionContext map[string]string

	ErrorCode    string // AWS exception name, e.g. "AccessDeniedException"; empty on success
	ErrorMessage string // empty on success

	Duration time.Duration
}

// Handler receives records; it is modelled on slog.Handler. Handle must be
// safe for concurrent use and must not block the caller for long. Handle
// must not retain or modify r's maps and slices after it returns.
type Handler interface {
	Handle(ctx context.Context, r Record) error
}

// Discard drops every record.
var Discard Handler = discard{}

type discard struct{}

func (discard) Handle(context.Context, Record) error { return nil }
