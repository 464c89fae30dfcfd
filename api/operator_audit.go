package api

import (
	"context"
	"encoding/base64"

	"github.com/kmsnode/kmsnode/audit"
	"github.com/kmsnode/kmsnode/kms"
)

// auditInfo is implemented by an audit handler that keeps a hash-chained
// log (audit.FileSink, and the node's fail-open wrapper of it).
type auditInfo interface {
	Info() audit.ChainInfo
}

// auditHealth is implemented by an audit handler that can fail to write:
// while Err is not nil the server refuses every call (fail closed). A
// handler that must not stop the node (--audit-fail-open) does not
// implement it.
type auditHealth interface {
	Err() error
}

// getAuditPublicKeyResponse answers KmsNodeOperator.GetAuditPublicKey: the
// key that signs this node's audit checkpoints (pin it with kmsctl audit
// verify --public-key) and the chain head as last written, so that a copy
// of the log can be checked to reach at least that far.
type getAuditPublicKeyResponse struct {
	NodeId    string
	Region    string
	PublicKey string `json:",omitempty"` // base64 Ed25519; absent until the node was first unsealed
	ChainSeq  uint64
	ChainHead string // hex SHA-256 of the line with seq ChainSeq
}

// auditRoutes are the audit operator operations. They are signed like every
// operator call and authorized as kmsnode:GetAuditPublicKey.
func auditRoutes(h audit.Handler) map[string]route {
	return map[string]route{
		operatorPrefix + "GetAuditPublicKey": {maxBody: smallBody, handle: func(context.Context, []byte) (any, error) {
			src, ok := h.(auditInfo)
			if !ok {
				return nil, &kms.Error{Kind: kms.ErrUnsupported, Msg: "This node keeps no audit log (--audit-file off)."}
			}
			i := src.Info()
			resp := &getAuditPublicKeyResponse{NodeId: i.Node, Region: i.Region, ChainSeq: i.Seq, ChainHead: i.Head}
			if len(i.PublicKey) > 0 {
				resp.PublicKey = base64.StdEncoding.EncodeToString(i.PublicKey)
			}
			return resp, nil
		}},
	}
}

// auditGate refuses calls while the audit log cannot be written: a node
// must not do what it cannot record.
func (s *Server) auditGate() error {
	if h, ok := s.cfg.Audit.(auditHealth); ok && h.Err() != nil {
		return errAuditUnavailable
	}
	return nil
}
