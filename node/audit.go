package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsnode/kmsnode/audit"
	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/kms"
)

// The node's audit signing key (an Ed25519 seed) lives in the data
// directory sealed under the region keyring (kms.SealLocal), so whoever can
// edit the audit log but lacks the unseal key cannot re-sign it. The public
// key sits beside it in the clear: a node that starts sealed names its key
// in the log's header before it can open the private key.
const (
	auditKeyFile    = "audit-key.sealed"
	auditPubFile    = "audit-key.pub"
	auditKeyPurpose = "audit-signing-key"
)

// openAudit opens the audit log (Config.AuditFile) with the node's signing
// key. It runs after the unseal attempt: on a sealed node the key is
// opened, or created, when the node is unsealed, and checkpoints wait.
func (n *Node) openAudit() error {
	path := n.cfg.AuditFile
	if path == "off" {
		return nil
	}
	if path == "" {
		path = filepath.Join(n.cfg.DataDir, "audit.log")
	}
	signer, err := newAuditSigner(n.kms, n.cfg.DataDir, n.cfg.NodeID)
	if err != nil {
		return err
	}
	opts := audit.FileOptions{
		Path: path, Node: n.cfg.NodeID, Region: n.cfg.Region, Signer: signer,
		StatePath: filepath.Join(n.cfg.DataDir, "audit.state"), // continues the chain after a rotation
		Logger:    n.log.With("component", "audit"),
		Observer:  n.metrics.AuditObserver(), // write and fsync latency (metrics.go)
	}
	sink, err := audit.OpenFile(opts)
	if errors.Is(err, audit.ErrUnchainedLog) {
		// The log of a release before the hash chain (an upgrade): keep it
		// whole under another name and start a chained one.
		old := fmt.Sprintf("%s.unchained-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, old); rerr != nil {
			signer.Wipe()
			return fmt.Errorf("node: %w (and moving it aside failed: %v)", err, rerr)
		}
		n.log.Warn("the audit log predates the hash chain; it was moved aside and a chained log starts now", "old", old, "path", path)
		sink, err = audit.OpenFile(opts)
	}
	if err != nil {
		signer.Wipe()
		return fmt.Errorf("node: %w", err)
	}
	n.sink, n.signer = sink, signer
	if n.cfg.AuditFailOpen {
		n.log.Warn("AUDIT FAIL-OPEN: --audit-fail-open is set; this node keeps serving when its audit log cannot be written, " +
			"and the calls it serves then may never be recorded")
	}
	return nil
}

// auditHandler is what the API records calls with. Fail closed (the
// default), it is the sink itself, whose Err makes the API refuse calls
// while the log cannot be written; fail open, a wrapper without Err.
func (n *Node) auditHandler() audit.Handler {
	switch {
	case n.sink == nil:
		return audit.Discard
	case n.cfg.AuditFailOpen:
		return &failOpen{sink: n.sink, log: n.log}
	}
	return n.sink
}

// auditReady makes /readyz fail while the audit log cannot be written,
// since the node then refuses calls (unless it fails open).
func (n *Node) auditReady() error {
	if n.sink == nil || n.cfg.AuditFailOpen {
		return nil
	}
	if err := n.sink.Err(); err != nil {
		return fmt.Errorf("the audit log cannot be written: %w", err)
	}
	return nil
}

// closeAudit writes the last records and checkpoint and zeroes the key.
func (n *Node) closeAudit() error {
	var err error
	if n.sink != nil {
		err = n.sink.Close()
	}
	if n.signer != nil {
		n.signer.Wipe()
	}
	return err
}

// AuditPublicKey returns the base64 Ed25519 public key that signs this
// node's audit checkpoints ("" with the audit log off, or before a node
// that started sealed was first unsealed). Pin it with `kmsctl audit
// verify --public-key`.
func (n *Node) AuditPublicKey() string {
	if n.signer == nil {
		return ""
	}
	if pub := n.signer.PublicKey(); pub != nil {
		return base64.StdEncoding.EncodeToString(pub)
	}
	return ""
}

// failOpen records through the sink but hides its failure from the API,
// which then keeps serving; it says so loudly, once per outage.
type failOpen struct {
	sink    *audit.FileSink
	log     *slog.Logger
	failing atomic.Bool
}

func (f *failOpen) Handle(ctx context.Context, r audit.Record) error {
	err := f.sink.Handle(ctx, r)
	if f.sink.Err() != nil || err != nil {
		if f.failing.CompareAndSwap(false, true) {
			f.log.Error("AUDIT LOG CANNOT BE WRITTEN; serving anyway because of --audit-fail-open", "err", errors.Join(f.sink.Err(), err))
		}
	} else if f.failing.CompareAndSwap(true, false) {
		f.log.Warn("audit log is writable again (--audit-fail-open)")
	}
	return err
}

// Info passes on the sink's chain information (GetAuditPublicKey).
func (f *failOpen) Info() audit.ChainInfo { return f.sink.Info() }

// auditSigner is the node's audit.Signer. It holds the private key once the
// node is unsealed: at start, or on the first checkpoint after a sealed
// start (the key is opened, or created, then).
type auditSigner struct {
	kms    *kms.Service
	dir    string
	nodeID string

	mu   sync.Mutex
	seed []byte // nil until loaded; zeroed by Wipe
	key  ed25519.PrivateKey
	pub  atomic.Pointer[ed25519.PublicKey]
}

func newAuditSigner(k *kms.Service, dir, nodeID string) (*auditSigner, error) {
	s := &auditSigner{kms: k, dir: dir, nodeID: nodeID}
	if b, err := os.ReadFile(filepath.Join(dir, auditPubFile)); err == nil {
		if pub, err := audit.ParsePublicKey(strings.TrimSpace(string(b))); err == nil {
			s.pub.Store(&pub)
		}
	}
	if !k.Sealed() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// PublicKey implements audit.Signer.
func (s *auditSigner) PublicKey() ed25519.PublicKey {
	if p := s.pub.Load(); p != nil {
		return *p
	}
	return nil
}

// Sign implements audit.Signer; it fails while the node is sealed.
func (s *auditSigner) Sign(msg []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		if s.kms.Sealed() {
			return nil, errors.New("the node is sealed")
		}
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	return ed25519.Sign(s.key, msg), nil
}

// Wipe zeroes the private key.
func (s *auditSigner) Wipe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	crypto.Zero(s.seed)
	clear(s.key)
	s.seed, s.key = nil, nil
}

// load opens the sealed key, or creates one on the node's first unsealed
// start, and makes sure the public key file matches it. s.mu is held.
func (s *auditSigner) load() error {
	path := filepath.Join(s.dir, auditKeyFile)
	sealed, err := os.ReadFile(path)
	var seed []byte
	switch {
	case err == nil:
		seed, err = s.kms.OpenLocal(auditKeyPurpose, s.nodeID, sealed)
		if err != nil || len(seed) != ed25519.SeedSize {
			crypto.Zero(seed)
			return fmt.Errorf("node: the audit signing key %s cannot be opened (it is damaged, or belongs to another node "+
				"or region): move it aside to make a new key, and keep it to verify the old logs: %w", path, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		if seed, err = s.create(path); err != nil {
			return err
		}
	default:
		return fmt.Errorf("node: read the audit signing key: %w", err)
	}
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	if cur := s.PublicKey(); !pub.Equal(cur) {
		// Missing, or not this key's: the file is a convenience copy.
		text := base64.StdEncoding.EncodeToString(pub) + "\n"
		if err := writeFileAtomic(filepath.Join(s.dir, auditPubFile), []byte(text), 0o644); err != nil {
			crypto.Zero(seed)
			clear(key)
			return fmt.Errorf("node: write the audit public key: %w", err)
		}
	}
	s.seed, s.key = seed, key
	s.pub.Store(&pub)
	return nil
}

// create draws a new key and stores it sealed; it returns the seed.
func (s *auditSigner) create(path string) ([]byte, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	sealed, err := s.kms.SealLocal(auditKeyPurpose, s.nodeID, seed)
	if err == nil {
		err = writeFileAtomic(path, sealed, 0o600)
	}
	if err != nil {
		crypto.Zero(seed)
		return nil, fmt.Errorf("node: store the audit signing key: %w", err)
	}
	return seed, nil
}

// writeFileAtomic writes data to path through a synced temporary file and
// a rename, so a crash leaves the old file or the new one, never half.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(mode); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	} else {
		tmp.Close()
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // make the rename durable; not every file system supports it
		d.Close()
	}
	return nil
}
