package audit

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// Record is one audited API call, CloudTrail-shaped ([Record.AppendJSON]).
// It must never carry plaintext, data keys, key material or secrets: only
// identifiers, the allowlisted request members and the outcome.
type Record struct {
	Time      time.Time // when the call arrived; a FileSink stamps time.Now() if zero
	EventID   string    // unique per record (a random UUID); a FileSink draws one if empty
	RequestID string
	Region    string
	Node      string // the kmsnode node that served the call
	AccountID string // the account that owns the region's keys (recipientAccountId)

	Principal   string // caller ARN, empty if the request was not authenticated
	AccessKeyID string // the access key ID the request named (never the secret)
	SourceIP    string
	UserAgent   string

	Operation string // AWS op name, e.g. "Encrypt"; KmsNodeOperator.<Op> for operator calls
	ReadOnly  bool   // the operation changes no state
	KeyARN    string // the key the call resolved to, when known
	Resources []string

	// RequestParameters holds the request members that are safe to log
	// (chosen by the caller from an allowlist); null when the request
	// could not be decoded. ResponseElements is null except for the
	// identifiers a creating call returns (CreateKey's key ID).
	RequestParameters Object
	ResponseElements  Object

	ErrorCode    string // AWS exception name, e.g. "AccessDeniedException"; empty on success
	ErrorMessage string // empty on success

	Duration time.Duration
}

// Handler receives records; it is modelled on slog.Handler. Handle must be
// safe for concurrent use and must not block the caller for long. Handle
// must not retain or modify r's slices after it returns.
type Handler interface {
	Handle(ctx context.Context, r Record) error
}

// Discard drops every record.
var Discard Handler = discard{}

type discard struct{}

func (discard) Handle(context.Context, Record) error { return nil }

// NewEventID returns a random (version 4) UUID for [Record.EventID]. An
// event ID must be unique, not secret: it comes from math/rand/v2's
// ChaCha8 generator (seeded by the runtime from the OS), which costs no
// system call on the request path.
func NewEventID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexDigits[c>>4], hexDigits[c&0xF]
		j += 2
	}
	return string(s[:])
}
