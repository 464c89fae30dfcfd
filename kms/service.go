package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/policy"
)

// Cluster is what the service needs from package cluster (declared here,
// where it is used, so tests can fake it).
type Cluster interface {
	Apply(ctx context.Context, cmd fsm.Command) error
	ApplyRevoking(ctx context.Context, cmd fsm.Command) error
	ReadReady() error
	RenewLease(ctx context.Context) error
	IsLeader() bool
}

// Config is the region identity that appears in every ARN.
type Config struct {
	Region    string
	AccountID string
	Partition string // "aws" by default
	Clock     Clock  // SystemClock by default
	Logger    *slog.Logger
	// AdminAccessKeys are the access key IDs of operator credentials from
	// the node's configuration; they hold an allow-everything identity
	// policy (authz.go).
	AdminAccessKeys []string
	// OperatorPrincipals are those credentials' principal ARNs; no
	// identity may be created under them.
	OperatorPrincipals []string
}

// Service implements the KMS operations for one node.
type Service struct {
	cfg       Config
	cluster   Cluster
	fsm       *fsm.FSM
	keyring   *crypto.Keyring
	materials materialCache
	log       *slog.Logger
	prefix    string // "arn:<partition>:kms:<region>:<account>:", built once: ARNs are on every call's path
	admins    map[string]bool
	operators map[string]bool // OperatorPrincipals
	policies  policyCache
	// callers caches *callerAuth by *fsm.Identity (authz.go).
	callers     sync.Map
	callerCount atomic.Int64
	secrets     secretCache
	unseal      sealState // root key while unsealed, unseal shares, rekey (seal.go)
}

// New returns a service over the node's FSM and cluster. It is sealed until
// [Service.Unseal] succeeds.
func New(cfg Config, c Cluster, f *fsm.FSM) *Service {
	if cfg.Partition == "" {
		cfg.Partition = "aws"
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, cluster: c, fsm: f, keyring: crypto.NewKeyring(), log: cfg.Logger,
		prefix: "arn:" + cfg.Partition + ":kms:" + cfg.Region + ":" + cfg.AccountID + ":"}
	s.materials.init()
	s.admins = make(map[string]bool, len(cfg.AdminAccessKeys))
	for _, a := range cfg.AdminAccessKeys {
		s.admins[a] = true
	}
	s.operators = make(map[string]bool, len(cfg.OperatorPrincipals))
	for _, p := range cfg.OperatorPrincipals {
		s.operators[p] = true
	}
	f.SetHooks(fsm.Hooks{KeyDeleted: s.materials.forgetKey, Restored: s.restored}) // restore.go
	return s
}

// Region returns the service's region.
func (s *Service) Region() string { return s.cfg.Region }

// AccountID returns the account that owns the region's keys.
func (s *Service) AccountID() string { return s.cfg.AccountID }

// now is the injected clock in Unix milliseconds.
func (s *Service) now() int64 { return s.cfg.Clock.Now().UnixMilli() }

// req builds the idempotency header of a command: the client's idempotency
// ID when it sent one (constant across SDK retries), else the request's ID.
func (s *Service) req(ctx context.Context) fsm.Req {
	ri := RequestFrom(ctx)
	id := ri.IdempotencyID
	if id == "" {
		id = ri.ID
	}
	if id == "" {
		id = newRequestID()
	}
	return fsm.Req{ID: id, At: s.now()}
}

// apply proposes a command and turns FSM rejections into domain errors.
func (s *Service) apply(ctx context.Context, cmd fsm.Command) error {
	return s.fsmError(s.cluster.Apply(ctx, cmd))
}

// applyRevoking proposes a change that takes away permission to use a key.
func (s *Service) applyRevoking(ctx context.Context, cmd fsm.Command) error {
	return s.fsmError(s.cluster.ApplyRevoking(ctx, cmd))
}

// fsmError maps an FSM rejection to the AWS-worded domain error.
func (s *Service) fsmError(err error) error {
	var se *fsm.StateError
	if err == nil || !errors.As(err, &se) {
		return err
	}
	switch {
	case errors.Is(err, fsm.ErrKeyNotFound):
		return s.keyNotFound(se.Subject)
	case errors.Is(err, fsm.ErrAliasNotFound):
		return errorf(ErrNotFound, "Alias '%s' is not found.", s.aliasARN(se.Subject))
	case errors.Is(err, fsm.ErrAliasExists):
		return errorf(ErrAlreadyExists, "An alias with the name %s already exists", s.aliasARN(se.Subject))
	case errors.Is(err, fsm.ErrDisabled):
		return errorf(ErrDisabled, "%s is disabled.", s.keyARN(se.Subject))
	case errors.Is(err, fsm.ErrInvalidState):
		return s.stateError(se.Subject, se.State)
	case errors.Is(err, fsm.ErrLimitExceeded):
		return errorf(ErrLimitExceeded, "The request for %s exceeds a limit of kmsnode (AWS KMS quota).", s.keyARN(se.Subject))
	case errors.Is(err, fsm.ErrConflict):
		return errorf(ErrConflict, "The request conflicts with a change in progress on %s. Retry later.", s.keyARN(se.Subject))
	}
	return err
}

func (s *Service) keyNotFound(id string) error {
	return errorf(ErrNotFound, "Key '%s' does not exist", s.keyARN(id))
}

// stateError is AWS's KMSInvalidStateException wording for a key state.
func (s *Service) stateError(id, state string) error {
	switch state {
	case fsm.StatePendingDeletion:
		return errorf(ErrInvalidState, "%s is pending deletion.", s.keyARN(id))
	case "":
		return errorf(ErrInvalidState, "%s is not in a valid state for this operation.", s.keyARN(id))
	}
	return errorf(ErrInvalidState, "%s is %s and cannot be used for this operation.", s.keyARN(id), state)
}

// RequestInfo travels with a request through the service: the API layer
// fills the caller, the operations fill what the audit record needs.
type RequestInfo struct {
	ID string // request ID, new for every HTTP request
	// IdempotencyID is stable across the SDK's retries of one call (derived
	// from amz-sdk-invocation-id, the caller, the operation and the body);
	// writes carry it so a retry after an unknown outcome applies once.
	IdempotencyID string
	Principal     string // caller ARN
	AccessKeyID   string
	KeyARN        string   // resolved key, set by the operation
	Resources     []string // other ARNs involved

	// For authorization (authz.go), filled by the API layer and the
	// operations.
	SourceIP      string                // aws:SourceIp
	Secure        bool                  // aws:SecureTransport: the request came over TLS
	RequestAlias  string                // kms:RequestAlias: the alias the KeyId named, if any
	GrantTokens   []string              // the request's GrantTokens member
	PolicyContext []policy.ContextEntry // further condition keys of the operation (grants)

	// Buffers authorization uses so a check allocates nothing: the
	// condition keys, and the one-element value lists of per-request keys.
	condBuf      [16]policy.ContextEntry
	sourceIP     [1]string
	requestAlias [1]string
}

type requestKey struct{}

// WithRequest attaches info to ctx.
func WithRequest(ctx context.Context, info *RequestInfo) context.Context {
	return context.WithValue(ctx, requestKey{}, info)
}

// RequestFrom returns the request info of ctx (a throwaway one if absent).
func RequestFrom(ctx context.Context) *RequestInfo {
	if ri, ok := ctx.Value(requestKey{}).(*RequestInfo); ok {
		return ri
	}
	return &RequestInfo{}
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// NewRequestID returns a random UUID for a request.
func NewRequestID() string { return newRequestID() }

// days converts a number of days to milliseconds.
func days(n int32) int64 { return int64(n) * int64(24*time.Hour/time.Millisecond) }
