package snapfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// Format is the archive format this package writes and reads. New optional
// header fields do not change it; anything an older reader would misread
// does.
const Format = 1

const (
	magic        = "kmsnode snapshot\n"
	trailerMagic = "kmsnode snapshot end\n"
	// MaxHeaderSize bounds the header a reader accepts (it is a few hundred
	// bytes in practice).
	MaxHeaderSize = 64 << 10
	// TrailerSize is the length of the trailer: magic, size and checksum.
	TrailerSize = len(trailerMagic) + 8 + sha256.Size
)

// Errors. ErrTruncated is a kind of ErrCorrupt.
var (
	ErrNotSnapshot = errors.New("snapfile: not a kmsnode snapshot file")
	ErrFormat      = errors.New("snapfile: unsupported snapshot format")
	ErrCorrupt     = errors.New("snapfile: the snapshot file is damaged")
	ErrTruncated   = fmt.Errorf("%w: it ends early (truncated)", ErrCorrupt)
)

// Header describes a snapshot. It is not secret: it names the region, the
// Raft position and what the state holds, never any key material.
type Header struct {
	Format    int    `json:"format"`
	Region    string `json:"region"`
	AccountID string `json:"account_id"`
	Partition string `json:"partition,omitempty"`
	// NodeID is the node that took the snapshot; Version its release.
	NodeID  string    `json:"node_id"`
	Version string    `json:"kmsnode_version,omitempty"`
	Created time.Time `json:"created"`
	// Index and Term are the Raft position the snapshot covers;
	// SnapshotVersion is Raft's snapshot format (raft.SnapshotVersion).
	Index           uint64 `json:"raft_index"`
	Term            uint64 `json:"raft_term"`
	SnapshotVersion int    `json:"raft_snapshot_version"`
	// Size is the payload's length and FSMDigest the hex SHA-256 of it: the
	// state machine's snapshot encoding, so it equals fsm.FSM.Digest of a
	// state restored from it until the next write.
	Size      int64   `json:"size"`
	FSMDigest string  `json:"fsm_digest"`
	Summary   Summary `json:"summary"`
}

// Summary is what the state holds, for inspect and for checking a restore.
type Summary struct {
	AppliedIndex uint64 `json:"applied_index"`
	Keys         int    `json:"keys"`
	Aliases      int    `json:"aliases"`
	Identities   int    `json:"identities"`
	// SealProviders are the unseal providers the region's root key is
	// wrapped for: restoring needs the key (or shares) of one of them.
	SealProviders []string `json:"seal_providers"`
	KeyringTerm   uint32   `json:"keyring_term"`
	// ShamirThreshold and ShamirShares describe a shamir seal.
	ShamirThreshold int `json:"shamir_threshold,omitempty"`
	ShamirShares    int `json:"shamir_shares,omitempty"`
}

// check validates a header read from outside or given to a Writer.
func (h *Header) check() error {
	if h.Format != Format {
		return fmt.Errorf("%w %d (this release reads format %d)", ErrFormat, h.Format, Format)
	}
	if h.Region == "" || h.Size < 0 {
		return fmt.Errorf("%w: header without a region or with a negative size", ErrCorrupt)
	}
	if b, err := hex.DecodeString(h.FSMDigest); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("%w: header digest is not a hex SHA-256", ErrCorrupt)
	}
	return nil
}

// prefix encodes the magic, header length and header.
func (h *Header) prefix() ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	js, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if len(js) > MaxHeaderSize {
		return nil, errors.New("snapfile: header too large")
	}
	b := make([]byte, 0, len(magic)+4+len(js))
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(js)))
	return append(b, js...), nil
}

// Len is the length of the archive of h, for a Content-Length.
func Len(h Header) (int64, error) {
	p, err := h.prefix()
	if err != nil {
		return 0, err
	}
	return int64(len(p)) + h.Size + int64(TrailerSize), nil
}

// Writer writes one archive: NewWriter writes the header, Write takes
// exactly Header.Size payload bytes, Close checks them against the header's
// size and digest and writes the trailer. An archive whose Close failed has
// no trailer, so no reader accepts it.
type Writer struct {
	w       io.Writer
	h       Header
	sum     hash.Hash // every byte written
	payload hash.Hash
	n       int64 // bytes written so far
	left    int64 // payload bytes still expected
	err     error
}

// NewWriter starts an archive on w.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	p, err := h.prefix()
	if err != nil {
		return nil, err
	}
	aw := &Writer{w: w, h: h, sum: sha256.New(), payload: sha256.New(), left: h.Size}
	if err := aw.write(p); err != nil {
		return nil, err
	}
	return aw, nil
}

func (w *Writer) write(p []byte) error {
	n, err := w.w.Write(p)
	w.sum.Write(p[:n])
	w.n += int64(n)
	return err
}

// Write writes payload bytes.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(p)) > w.left {
		w.err = fmt.Errorf("snapfile: payload longer than the %d bytes the header declares", w.h.Size)
		return 0, w.err
	}
	before := w.n
	err := w.write(p)
	n := int(w.n - before)
	w.payload.Write(p[:n])
	w.left -= int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Close writes the trailer once the payload matched the header. It does
// not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.left != 0 {
		w.err = fmt.Errorf("snapfile: payload ended %d bytes short of the header's size", w.left)
		return w.err
	}
	if hex.EncodeToString(w.payload.Sum(nil)) != w.h.FSMDigest {
		w.err = errors.New("snapfile: payload differs from the header's digest")
		return w.err
	}
	t := make([]byte, 0, TrailerSize)
	t = append(t, trailerMagic...)
	t = binary.BigEndian.AppendUint64(t, uint64(w.n))
	w.sum.Write(t)
	t = w.sum.Sum(t)
	_, err := w.w.Write(t)
	w.err = errors.New("snapfile: writer closed")
	return err
}

// Write writes a whole archive of h with the payload read from r.
func Write(w io.Writer, h Header, r io.Reader) (int64, error) {
	aw, err := NewWriter(w, h)
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(aw, r); err != nil {
		return aw.n, err
	}
	if err := aw.Close(); err != nil {
		return aw.n, err
	}
	return aw.n + int64(TrailerSize), nil
}

// Reader reads an archive: NewReader reads and checks the header; Read
// returns the payload and, once it has all been read, checks the trailer,
// returning io.EOF only when the size, the payload digest and the checksum
// all match (else an error wrapping ErrCorrupt).
type Reader struct {
	r       io.Reader
	h       Header
	sum     hash.Hash
	payload hash.Hash
	n       int64 // bytes consumed
	left    int64 // payload bytes still to read
	err     error // sticky: io.EOF after a verified end
}

// NewReader reads the header of the archive in r.
func NewReader(r io.Reader) (*Reader, error) {
	ar := &Reader{r: r, sum: sha256.New(), payload: sha256.New()}
	var pre [len(magic) + 4]byte
	if n, err := io.ReadFull(r, pre[:]); err != nil {
		if n >= len(magic) && string(pre[:len(magic)]) == magic {
			return nil, ErrTruncated
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, ErrNotSnapshot
		}
		return nil, err
	}
	if string(pre[:len(magic)]) != magic {
		return nil, ErrNotSnapshot
	}
	hl := binary.BigEndian.Uint32(pre[len(magic):])
	if hl == 0 || hl > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header length %d", ErrCorrupt, hl)
	}
	hb := make([]byte, hl)
	if _, err := io.ReadFull(r, hb); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, ErrTruncated
		}
		return nil, err
	}
	if err := json.Unmarshal(hb, &ar.h); err != nil {
		return nil, fmt.Errorf("%w: header is not valid JSON", ErrCorrupt)
	}
	if err := ar.h.check(); err != nil {
		return nil, err
	}
	ar.sum.Write(pre[:])
	ar.sum.Write(hb)
	ar.n = int64(len(pre) + len(hb))
	ar.left = ar.h.Size
	return ar, nil
}

// Header returns the archive's header. Its fields are vouched for by the
// checksum only once Read has returned io.EOF.
func (r *Reader) Header() Header { return r.h }

// Read reads payload bytes.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left == 0 {
		r.err = r.finish()
		if r.err == nil {
			r.err = io.EOF
		}
		return 0, r.err
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.r.Read(p)
	r.sum.Write(p[:n])
	r.payload.Write(p[:n])
	r.n += int64(n)
	r.left -= int64(n)
	switch {
	case err == io.EOF:
		r.err = ErrTruncated // the trailer, at least, is missing
	case err != nil:
		r.err = err
	}
	if n > 0 {
		return n, nil // the error, if any, comes with the next call
	}
	return 0, r.err
}

// finish checks the payload digest and the trailer, and that nothing
// follows it.
func (r *Reader) finish() error {
	if hex.EncodeToString(r.payload.Sum(nil)) != r.h.FSMDigest {
		return fmt.Errorf("%w: the payload's SHA-256 differs from the header's", ErrCorrupt)
	}
	var t [TrailerSize]byte
	if _, err := io.ReadFull(r.r, t[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return ErrTruncated
		}
		return err
	}
	m := len(trailerMagic)
	if string(t[:m]) != trailerMagic {
		return fmt.Errorf("%w: no trailer after the payload", ErrCorrupt)
	}
	if got := binary.BigEndian.Uint64(t[m : m+8]); got != uint64(r.n) {
		return fmt.Errorf("%w: the trailer counts %d bytes, the file has %d", ErrCorrupt, got, r.n)
	}
	r.sum.Write(t[:m+8])
	if !bytes.Equal(r.sum.Sum(nil), t[m+8:]) {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	var extra [1]byte
	switch n, err := r.r.Read(extra[:]); {
	case n > 0:
		return fmt.Errorf("%w: data after the trailer", ErrCorrupt)
	case err != nil && err != io.EOF:
		return err
	case err == nil:
		// A reader may return 0, nil; one more try tells.
		if n, err := io.ReadFull(r.r, extra[:]); n > 0 {
			return fmt.Errorf("%w: data after the trailer", ErrCorrupt)
		} else if err != io.EOF && err != io.ErrUnexpectedEOF {
			return err
		}
	}
	return nil
}

// Verify reads a whole archive, discarding the payload, and returns its
// header once every check passed.
func Verify(r io.Reader) (Header, error) {
	ar, err := NewReader(r)
	if err != nil {
		return Header{}, err
	}
	if _, err := io.Copy(io.Discard, ar); err != nil {
		return ar.h, err
	}
	return ar.h, nil
}
