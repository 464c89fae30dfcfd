package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/transport"
)

// Internal RPC between the nodes of a region: HTTP/1.1 over the cluster
// port's mutual-TLS kms-rpc/1 connections. The peer's identity comes from
// its certificate (transport.ConnIdentity), never from the request.
const (
	rpcApply     = "/v1/apply"      // a forwarded write, on the leader
	rpcReadIndex = "/v1/read-index" // a follower's lease renewal, on the leader
	rpcInfo      = "/v1/info"       // who a node is and whether it has Raft state
	rpcRemove    = "/v1/remove"     // remove a node from the region, on the leader

	maxCommandBytes = 1 << 20
	timeoutHeader   = "Kms-Timeout-Ms"
)

type peerKey struct{}

func (c *Cluster) startRPC() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+rpcApply, c.serveApply)
	mux.HandleFunc("POST "+rpcReadIndex, c.serveReadIndex)
	mux.HandleFunc("GET "+rpcInfo, c.serveInfo)
	mux.HandleFunc("POST "+rpcRemove, c.serveRemove)
	c.rpcSrv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ConnContext: func(ctx context.Context, conn net.Conn) context.Context {
			if id, ok := transport.ConnIdentity(conn); ok {
				return context.WithValue(ctx, peerKey{}, id)
			}
			return ctx
		},
		ErrorLog: newStdLogger(c.log),
	}
	go func() { _ = c.rpcSrv.Serve(c.tr.RPCListener()) }()
}

func peerOf(r *http.Request) (transport.Identity, bool) {
	id, ok := r.Context().Value(peerKey{}).(transport.Identity)
	return id, ok
}

// rpcError is an RPC failure answer; Retry says the caller may try again
// (possibly elsewhere).
type rpcError struct {
	Error string `json:"error"`
	Retry bool   `json:"retry,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// applyReply is the leader's answer to a forwarded write.
type applyReply struct {
	Index  uint64     `json:"index"`
	Result fsm.Result `json:"result"`
}

func (c *Cluster) serveApply(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxCommandBytes+1))
	if err != nil || len(data) > maxCommandBytes {
		writeJSON(w, http.StatusBadRequest, rpcError{Error: "command too large or unreadable"})
		return
	}
	if _, _, err := fsm.Decode(data); err != nil {
		writeJSON(w, http.StatusBadRequest, rpcError{Error: "undecodable command"})
		return
	}
	if c.raft.State() != raft.Leader {
		writeJSON(w, http.StatusMisdirectedRequest, rpcError{Error: "not the leader", Retry: true})
		return
	}
	deadline := time.Now().Add(c.cfg.ApplyTimeout)
	if ms, err := strconv.Atoi(r.Header.Get(timeoutHeader)); err == nil && ms > 0 {
		if d := time.Now().Add(time.Duration(ms) * time.Millisecond); d.Before(deadline) {
			deadline = d
		}
	}
	f := c.raft.Apply(data, time.Until(deadline))
	resp, err := waitFuture(r.Context(), deadline, f, func() (any, error) {
		if err := f.Error(); err != nil {
			return nil, err
		}
		return f.Response(), nil
	})
	switch {
	case err == nil:
		e, _ := resp.(error)
		writeJSON(w, http.StatusOK, applyReply{Index: f.Index(), Result: fsm.ResultOf(e)})
	case retryable(err) || errors.Is(err, errApplyWait) || errors.Is(err, raft.ErrRaftShutdown):
		writeJSON(w, http.StatusServiceUnavailable, rpcError{Error: err.Error(), Retry: true})
	default:
		writeJSON(w, http.StatusInternalServerError, rpcError{Error: err.Error()})
	}
}

// forwardApply sends an encoded command to the leader at addr.
func (c *Cluster) forwardApply(ctx context.Context, addr string, data []byte, deadline time.Time) (result error, index uint64, err error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var reply applyReply
	hdr := http.Header{timeoutHeader: {strconv.FormatInt(time.Until(deadline).Milliseconds(), 10)}}
	if err := c.call(ctx, http.MethodPost, addr, rpcApply, hdr, data, &reply); err != nil {
		if ctx.Err() != nil {
			return nil, 0, errApplyWait // outcome unknown; the request ID makes a retry safe
		}
		return nil, 0, err
	}
	return reply.Result.Err(), reply.Index, nil
}

type readIndexRequest struct {
	Applied uint64 `json:"applied"`
}

type readIndexReply struct {
	Index uint64 `json:"index"`
}

// serveReadIndex answers a follower's lease renewal (design-notes §2.2):
// the index is taken after the request arrived, then leadership is
// confirmed by a quorum in the same term, so every write acknowledged
// before the follower sent the request is at or below the index.
func (c *Cluster) serveReadIndex(w http.ResponseWriter, r *http.Request) {
	peer, ok := peerOf(r)
	if !ok {
		writeJSON(w, http.StatusForbidden, rpcError{Error: "no peer identity"})
		return
	}
	var req readIndexRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, rpcError{Error: "bad request"})
		return
	}
	term := c.raft.CurrentTerm()
	if c.raft.State() != raft.Leader || !c.caughtUp() {
		writeJSON(w, http.StatusMisdirectedRequest, rpcError{Error: "not the leader", Retry: true})
		return
	}
	idx := c.fsm.AppliedIndex()
	f := c.raft.VerifyLeader()
	deadline := time.Now().Add(c.lease.d / 2)
	if _, err := waitFuture(r.Context(), deadline, f, func() (any, error) { return nil, f.Error() }); err != nil || c.raft.CurrentTerm() != term {
		writeJSON(w, http.StatusServiceUnavailable, rpcError{Error: "leadership not confirmed", Retry: true})
		return
	}
	c.progress.seen(peer.NodeID, req.Applied)
	writeJSON(w, http.StatusOK, readIndexReply{Index: idx})
}

func (c *Cluster) readIndex(ctx context.Context, addr string) (uint64, error) {
	body, _ := json.Marshal(readIndexRequest{Applied: c.fsm.AppliedIndex()})
	var reply readIndexReply
	if err := c.call(ctx, http.MethodPost, addr, rpcReadIndex, nil, body, &reply); err != nil {
		return 0, err
	}
	return reply.Index, nil
}

// nodeInfo is what a node says about itself.
type nodeInfo struct {
	NodeID   string `json:"node_id"`
	Region   string `json:"region"`
	HasState bool   `json:"has_state"` // it belongs to a Raft configuration
	LeaderID string `json:"leader_id,omitempty"`
}

func (c *Cluster) serveInfo(w http.ResponseWriter, r *http.Request) {
	_, leader := c.raft.LeaderWithID()
	writeJSON(w, http.StatusOK, nodeInfo{
		NodeID: c.cfg.NodeID, Region: c.cfg.Region, HasState: c.hasConfiguration(), LeaderID: string(leader),
	})
}

func (c *Cluster) hasConfiguration() bool {
	f := c.raft.GetConfiguration()
	return f.Error() == nil && len(f.Configuration().Servers) > 0
}

type removeRequest struct {
	NodeID string `json:"node_id"`
}

func (c *Cluster) serveRemove(w http.ResponseWriter, r *http.Request) {
	var req removeRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.NodeID == "" {
		writeJSON(w, http.StatusBadRequest, rpcError{Error: "bad request"})
		return
	}
	err := c.removeLocal(r.Context(), req.NodeID)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, struct{}{})
	case errors.Is(err, errRetry):
		writeJSON(w, http.StatusMisdirectedRequest, rpcError{Error: err.Error(), Retry: true})
	case errors.Is(err, ErrUnknownNode):
		writeJSON(w, http.StatusNotFound, rpcError{Error: err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, rpcError{Error: err.Error()})
	}
}

// call makes one RPC; a retryable failure answer becomes errRetry.
func (c *Cluster) call(ctx context.Context, method, addr, path string, hdr http.Header, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "https://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.tr.RPCClient().Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errRetry, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: %v", errRetry, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e rpcError
		_ = json.Unmarshal(b, &e)
		if e.Retry {
			return fmt.Errorf("%w: %s", errRetry, e.Error)
		}
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %s", ErrUnknownNode, e.Error)
		}
		return fmt.Errorf("cluster: %s %s: %s %s", addr, path, resp.Status, e.Error)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
