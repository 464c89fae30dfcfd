package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/kmsnode/kmsnode/api/sigv4"
	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/audit"
	"github.com/kmsnode/kmsnode/kms"
)

const targetPrefix = "TrentService."

// Config wires a Server.
type Config struct {
	KMS      *kms.Service
	Verifier *sigv4.Verifier
	Audit    audit.Handler // audit.Discard if nil
	Logger   *slog.Logger
	Region   string
	NodeID   string
	// Ready reports whether the node can serve (unsealed, holds a lease);
	// it backs /readyz.
	Ready func() error
	// Operator, when set, serves the KmsNodeOperator.* operations.
	Operator Operator
	// RateLimit bounds each caller's request rate (ratelimit.go).
	RateLimit RateLimit
	// Observer, when set, counts and times every call (metrics.go).
	Observer Observer
}

// Server is the HTTP handler of the AWS KMS API.
type Server struct {
	cfg    Config
	routes map[string]route
	known  map[string]bool // every operation of the AWS model
	log    *slog.Logger
	bufs   sync.Pool
	limit  *limiter // nil: no rate limit
}

// New returns the API handler.
func New(cfg Config) *Server {
	if cfg.Audit == nil {
		cfg.Audit = audit.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, routes: routes(cfg.KMS), known: map[string]bool{}, log: cfg.Logger}
	if cfg.Operator != nil {
		for name, rt := range identityRoutes(cfg.KMS) {
			s.routes[name] = rt
		}
		for name, rt := range operatorRoutes(cfg.Operator) {
			s.routes[name] = rt
		}
	}
	for name, rt := range sealRoutes(cfg.KMS) { // operator_seal.go
		s.routes[name] = rt
	}
	for name, rt := range auditRoutes(cfg.Audit) { // operator_audit.go
		s.routes[name] = rt
	}
	for _, o := range wire.Operations {
		s.known[o] = true
	}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.limit = newLimiter(cfg.RateLimit)
	return s
}

// callAudit collects what one call's audit record needs from its handler:
// the allowlisted request members (audit_params.go) and the response,
// whose identifiers are logged for calls that create something.
type callAudit struct {
	params audit.Object
	resp   any
}

type auditKey struct{}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/healthz":
		s.healthz(w, r)
		return
	case r.URL.Path == "/readyz":
		s.readyz(w, r)
		return
	}
	start := time.Now()
	if s.cfg.Observer != nil {
		s.cfg.Observer.Start()
	}
	info := &kms.RequestInfo{ID: kms.NewRequestID()}
	rec := &callAudit{}
	target := r.Header.Get("X-Amz-Target")
	opName, ok := strings.CutPrefix(target, targetPrefix)
	if !ok {
		opName = "" // no TrentService. prefix: no operation of ours
		if strings.HasPrefix(target, operatorPrefix) {
			opName = target // routes hold operator operations under their prefix
		}
	}
	w.Header().Set("x-amzn-RequestId", info.ID)

	resp, err := s.serve(w, r, info, rec, opName)
	if st, ok := resp.(SnapshotStream); ok && err == nil {
		err = s.writeStream(w, st) // operator_snapshot.go: raw bytes, not JSON
	} else if err != nil {
		s.writeError(w, err, opName, info.ID)
	} else {
		s.writeJSON(w, resp)
		wipeResponse(resp)
	}
	d := time.Since(start)
	s.audit(r, info, rec, opName, err, d)
	s.observe(opName, err, d) // metrics.go
}

// serve authenticates, routes and runs one call.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, info *kms.RequestInfo, rec *callAudit, opName string) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic serving request", "op", opName, "request_id", info.ID, "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, errors.New("api: panic")
		}
	}()
	if err := s.auditGate(); err != nil { // operator_audit.go: fail closed
		return nil, err
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return nil, errUnknownOperation
	}
	if err := checkHeaders(r); err != nil { // headers.go
		return nil, err
	}
	if err := s.limit.admit(r); err != nil {
		return nil, err
	}
	if opName == operatorPrefix+"SnapshotRestore" && s.cfg.Operator != nil {
		return s.serveRestore(w, r, info, rec) // operator_snapshot.go: the body is streamed, not buffered
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, maxBody+1)); err != nil {
		return nil, errSerialization
	}
	body := buf.Bytes()
	if len(body) > maxBody {
		return nil, errTooLarge
	}
	if rt, ok := s.routes[opName]; ok && rt.unauthenticated {
		// Unseal and SealStatus: the shares are the authentication
		// (operator_seal.go).
		if len(body) > rt.maxBody {
			return nil, errTooLarge
		}
		info.SourceIP, info.Secure = sourceIP(r), r.TLS != nil
		return rt.handle(kms.WithRequest(r.Context(), info), body)
	}
	if err := s.cfg.KMS.CheckUnsealed(); err != nil {
		return nil, err // a sealed node serves only the unseal operations
	}
	id, err := s.cfg.Verifier.Verify(r, body)
	if err := s.limit.charge(r, id.AccessKeyID, err); err != nil {
		return nil, err
	}
	info.Principal, info.AccessKeyID = id.Principal, id.AccessKeyID
	info.SourceIP, info.Secure = sourceIP(r), r.TLS != nil
	rt, ok := s.routes[opName]
	if !ok {
		if s.known[opName] {
			return nil, &kms.Error{Kind: kms.ErrUnsupported, Msg: "kmsnode does not implement " + opName + " yet."}
		}
		return nil, errUnknownOperation
	}
	if len(body) > rt.maxBody {
		return nil, errTooLarge
	}
	if writes[opName] {
		info.IdempotencyID = idempotencyID(r, info.AccessKeyID, opName, body)
	}
	ctx := kms.WithRequest(r.Context(), info)
	ctx = context.WithValue(ctx, auditKey{}, rec)
	if !rt.selfAuthorized {
		// An operator operation: kmsnode:<Name> by the identity policies.
		if err := s.cfg.KMS.AuthorizeAction(ctx, "kmsnode:"+strings.TrimPrefix(opName, operatorPrefix)); err != nil {
			return nil, err
		}
	}
	return rt.handle(ctx, body)
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	buf := s.getBuf()
	defer s.putBuf(buf)
	if encodeSecret(buf, v) {
		// written without encoding/json (secret_json.go)
	} else if err := json.NewEncoder(buf).Encode(v); err != nil {
		s.log.Error("cannot encode response", "err", err)
		s.writeError(w, err, "", "")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) writeError(w http.ResponseWriter, err error, opName, reqID string) {
	a, known := toAWS(err)
	if !known {
		s.log.Error("internal error", "op", opName, "request_id", reqID, "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("x-amzn-ErrorType", a.Type)
	if a.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(a.Status)
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{a.Type, a.Msg})
	_, _ = w.Write(b)
}

// audit records one call, whatever its outcome: unsigned, forged and
// unknown-operation requests too. Nothing of the request is logged but the
// allowlisted members (audit_params.go), the caller and the outcome.
func (s *Server) audit(r *http.Request, info *kms.RequestInfo, rec *callAudit, opName string, err error, d time.Duration) {
	var account string
	if s.cfg.KMS != nil {
		account = s.cfg.KMS.AccountID()
	}
	ar := audit.Record{
		Time: time.Now().Add(-d), RequestID: info.ID, Region: s.cfg.Region, Node: s.cfg.NodeID,
		AccountID: account, Principal: info.Principal, AccessKeyID: info.AccessKeyID, SourceIP: sourceIP(r),
		UserAgent: cut(r.UserAgent(), auditUserAgentMax), Operation: opName, ReadOnly: readOnly(opName),
		KeyARN: info.KeyARN, Resources: info.Resources, RequestParameters: rec.params, Duration: d,
	}
	if opName == "" {
		// Not one of our targets: log what was asked for, bounded.
		ar.Operation = cut(r.Header.Get("X-Amz-Target"), auditTargetMax)
	}
	if ar.Principal == "" && ar.AccessKeyID == "" {
		// Unauthenticated: the access key ID the request claimed, if any.
		ar.AccessKeyID = cut(claimedAccessKeyID(r), auditTargetMax)
	}
	if err != nil {
		a, _ := toAWS(err)
		ar.ErrorCode, ar.ErrorMessage = a.Type, a.Msg
	} else if rec.resp != nil && createsResource(opName) {
		ar.ResponseElements = auditObject(rec.resp, auditResponseMembers)
	}
	if aerr := s.cfg.Audit.Handle(r.Context(), ar); aerr != nil {
		s.log.Error("audit record not written", "request_id", info.ID, "err", aerr)
	}
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok\n")
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready: "+err.Error()+"\n")
			return
		}
	}
	_, _ = io.WriteString(w, "ready\n")
}

// idempotencyID derives a write's idempotency ID from the SDK's invocation ID
// (the same on every retry of one call) bound to the caller, the operation and
// the body, so a retried write applies once and a different call never
// collides with it. Without the header there is none ("").
func idempotencyID(r *http.Request, akid, op string, body []byte) string {
	inv := r.Header.Get("Amz-Sdk-Invocation-Id")
	if inv == "" {
		return ""
	}
	h := sha256.New()
	for _, part := range []string{akid, op, inv} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(body)
	return "idem-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// maxPooledBuf: buffers that grew past this (a large policy) are dropped
// rather than kept in the pool.
const maxPooledBuf = 64 << 10

func (s *Server) getBuf() *bytes.Buffer { return s.bufs.Get().(*bytes.Buffer) }

// putBuf zeroes a buffer (it may have held a plaintext or data key) and
// returns it to the pool if it is small.
func (s *Server) putBuf(b *bytes.Buffer) {
	clear(b.Bytes()[:b.Cap()])
	b.Reset()
	if b.Cap() <= maxPooledBuf {
		s.bufs.Put(b)
	}
}
