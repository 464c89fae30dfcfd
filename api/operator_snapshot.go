package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/kmsnode/kmsnode/api/sigv4"
	"github.com/kmsnode/kmsnode/audit"
	"github.com/kmsnode/kmsnode/kms"
)

// Backups (kmsctl snapshot save / restore). Both carry a whole region's
// state, hundreds of megabytes for a large one, so neither fits the JSON
// request/response path:
//
//   - KmsNodeOperator.SnapshotSave is an ordinary signed call whose answer
//     is the archive itself (application/octet-stream, with its length),
//     streamed from the node's spool;
//   - KmsNodeOperator.SnapshotRestore streams the archive as the request
//     body. Its signature covers the body's SHA-256, declared in
//     X-Amz-Content-Sha256 as S3 clients do, so the caller is authenticated
//     and authorized before a byte of the body is read, and the body is
//     hashed as it streams: one that is not the signed one fails at its end,
//     before the node acts on it. Options ride in the (signed) query string.
//
// Both are authorized as kmsnode:SnapshotSave and kmsnode:SnapshotRestore.

// SnapshotStream is a backup on its way to the caller: WriteTo writes
// exactly Len bytes; Close releases it.
type SnapshotStream interface {
	Len() int64
	WriteTo(w io.Writer) (int64, error)
	Close() error
}

// streamIdle bounds one stalled write or read of a streamed body. The
// server's whole-request timeouts (http.Server) do not fit transfers of
// this size, so each chunk moves the deadline instead.
const streamIdle = time.Minute

// restoreMaxWait bounds a restore's answer: Raft copies the snapshot and
// waits for a quorum to install it.
const restoreMaxWait = 15 * time.Minute

func snapshotSaveRoute(o Operator) route {
	return route{maxBody: smallBody, handle: func(ctx context.Context, _ []byte) (any, error) {
		st, err := o.SaveSnapshot(ctx)
		if err != nil {
			return nil, err
		}
		return st, nil
	}}
}

// writeStream sends a snapshot archive. Once the status line is out, an
// error can only cut the body short, which the client sees (fewer bytes
// than Content-Length, and the archive's checksum); it is logged and
// audited.
func (s *Server) writeStream(w http.ResponseWriter, st SnapshotStream) error {
	defer st.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(st.Len(), 10))
	w.WriteHeader(http.StatusOK)
	n, err := st.WriteTo(&deadlineWriter{w: w, rc: http.NewResponseController(w)})
	if err == nil && n != st.Len() {
		err = fmt.Errorf("api: the snapshot stream wrote %d of %d bytes", n, st.Len())
	}
	if err != nil {
		s.log.Error("snapshot stream cut short", "err", err)
	}
	return err
}

type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(streamIdle))
	return d.w.Write(p)
}

// errBodyDigest: the streamed body is not the one whose digest was signed.
var errBodyDigest = &kms.Error{Kind: sigv4.ErrInvalidSignature,
	Msg: "The request body does not match the SHA-256 declared in X-Amz-Content-Sha256."}

// serveRestore authenticates and authorizes a restore from its headers,
// then hands the streamed body to the node.
func (s *Server) serveRestore(w http.ResponseWriter, r *http.Request, info *kms.RequestInfo, rec *callAudit) (any, error) {
	if err := s.cfg.KMS.CheckUnsealed(); err != nil {
		return nil, err
	}
	id, err := s.cfg.Verifier.VerifyPayloadHash(r)
	if err := s.limit.charge(r, id.AccessKeyID, err); err != nil {
		return nil, err
	}
	info.Principal, info.AccessKeyID = id.Principal, id.AccessKeyID
	info.SourceIP, info.Secure = sourceIP(r), r.TLS != nil
	declared := sigv4.DeclaredPayloadHash(r)
	force, err := boolParam(r, "Force")
	if err != nil {
		return nil, err
	}
	var b audit.ObjectBuilder
	b.Reset()
	b.Name("force")
	b.Bool(force)
	b.Name("contentSha256")
	b.String(declared)
	b.Name("contentLength")
	b.Int(r.ContentLength)
	rec.params = b.Object()

	ctx := kms.WithRequest(r.Context(), info)
	ctx = context.WithValue(ctx, auditKey{}, rec)
	if err := s.cfg.KMS.AuthorizeAction(ctx, "kmsnode:SnapshotRestore"); err != nil {
		return nil, err
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(restoreMaxWait))
	ctx, cancel := context.WithTimeout(ctx, restoreMaxWait)
	defer cancel()
	body := &digestReader{r: r.Body, rc: rc, h: sha256.New(), want: declared}
	return s.cfg.Operator.RestoreSnapshot(ctx, body, force)
}

// digestReader hashes a streamed body and, at its end, reports
// errBodyDigest instead of io.EOF when it is not the body that was signed.
// Each read moves the read deadline.
type digestReader struct {
	r    io.Reader
	rc   *http.ResponseController
	h    hash.Hash
	want string
	err  error
}

func (d *digestReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	_ = d.rc.SetReadDeadline(time.Now().Add(streamIdle))
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if hex.EncodeToString(d.h.Sum(nil)) != d.want {
			err = errBodyDigest
		}
	}
	if err != nil {
		d.err = err
	}
	return n, err
}

// boolParam reads an optional true/false query parameter.
func boolParam(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, &kms.Error{Kind: kms.ErrValidation, Msg: fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be true or false", cut(v, 32), name)}
	}
}
