package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// The chain format (DESIGN.md 20). Every line of an audit file is one JSON
// object ending in two members the writer adds:
//
//	…,"seq":N,"prev":"<64 hex>"}
//
// seq numbers the lines of a node's log, 1, 2, 3, … across files and
// restarts; prev is the SHA-256 of the exact bytes of the line before
// (without its newline), or 64 zeros for the first line of a new chain. A
// line is one of three kinds:
//
//   - a record: the CloudTrail event of one call ([Record.AppendJSON]);
//   - a header, first in every file and after every (re)open of one:
//     {"kmsnodeAudit":"header","formatVersion":1,"time","node","region",
//     "publicKey"?,"torn"?,"seq","prev"}. Its seq is the first of the
//     segment; its prev is the hash of the last line of the file it
//     continues (or of the same file before a restart). torn is the length
//     of a partial line a crash left just before it, which the chain skips.
//   - a checkpoint, every CheckpointRecords lines or CheckpointInterval and
//     on Close: {"kmsnodeAudit":"checkpoint","time","node","region",
//     "records","publicKey","signature","seq","prev"}. signature is the
//     Ed25519 signature, by the node's audit key, of [CheckpointMessage]
//     over its node, region, seq, prev and time: it vouches for every line
//     before it. A checkpoint is written only while the key can sign
//     (a sealed node cannot): the lines wait for the next one.
//
// Someone who can edit the file but lacks the audit key (sealed under the
// region keyring) can change or drop only lines after the last checkpoint
// without [Verify] noticing, and then only by rewriting that whole tail.
const (
	kindHeader     = "header"
	kindCheckpoint = "checkpoint"
	formatVersion  = 1
	checkpointTag  = "kmsnode-audit-checkpoint-v1"
)

// zeroHash is the prev of the first line of a chain.
var zeroHash [sha256.Size]byte

// Signer signs checkpoints with the node's Ed25519 audit key. It must be
// safe for use by the sink's writer goroutine while other goroutines call
// PublicKey.
type Signer interface {
	// PublicKey returns the public key, or nil while it is not known (a
	// node that has never been unsealed).
	PublicKey() ed25519.PublicKey
	// Sign signs msg; it fails while the key cannot be used (a sealed node).
	Sign(msg []byte) ([]byte, error)
}

// KeySigner is a [Signer] holding an Ed25519 private key in memory.
type KeySigner struct{ key ed25519.PrivateKey }

// NewKeySigner returns a Signer using a copy of key; Wipe zeroes the copy.
func NewKeySigner(key ed25519.PrivateKey) (*KeySigner, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("audit: an Ed25519 private key is 64 bytes")
	}
	return &KeySigner{key: append(ed25519.PrivateKey(nil), key...)}, nil
}

// PublicKey implements Signer.
func (s *KeySigner) PublicKey() ed25519.PublicKey {
	return ed25519.PublicKey(s.key[ed25519.SeedSize:])
}

// Sign implements Signer.
func (s *KeySigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// Wipe zeroes the private key.
func (s *KeySigner) Wipe() { clear(s.key) }

// CheckpointMessage is the byte string a checkpoint's signature covers:
//
//	"kmsnode-audit-checkpoint-v1" 0x00 ‖ len(node) u32 BE ‖ node ‖
//	len(region) u32 BE ‖ region ‖ seq u64 BE ‖ records u64 BE ‖
//	prev (32 bytes) ‖ len(time) u32 BE ‖ time
//
// where time is the checkpoint's "time" member as written. The public key
// is not in it: a verifier checks the key itself (pinned, or the same key
// throughout), and the rest of the line is fixed by its canonical form.
func CheckpointMessage(node, region string, seq, records uint64, prev [sha256.Size]byte, ts string) []byte {
	b := make([]byte, 0, len(checkpointTag)+1+4+len(node)+4+len(region)+16+sha256.Size+4+len(ts))
	b = append(b, checkpointTag...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(node)))
	b = append(b, node...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(region)))
	b = append(b, region...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, records)
	b = append(b, prev[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ts)))
	return append(b, ts...)
}

// chain is the writer's view of the log: the seq and hash of the last line.
type chain struct {
	seq  uint64
	head [sha256.Size]byte
}

// seal ends the line that starts at b[start:] (an open JSON object) with
// the chain members and a newline, and advances c to it.
func (c *chain) seal(b []byte, start int) []byte {
	c.seq++
	b = appendChainMembers(b, c.seq, &c.head)
	c.head = sha256.Sum256(b[start:])
	return append(b, '\n')
}

// headerLine holds the members of a header before the chain members.
type headerLine struct {
	Time      string
	Node      string
	Region    string
	PublicKey string // base64, "" when not known
	Torn      int64
}

// appendOpen appends the canonical encoding of h without the chain
// members. The writer and [Verify] share it: a header must be byte for
// byte what this writes.
func (h headerLine) appendOpen(b []byte) []byte {
	b = append(b, `{"kmsnodeAudit":"`+kindHeader+`","formatVersion":`...)
	b = strconv.AppendInt(b, formatVersion, 10)
	b = append(b, `,"time":`...)
	b = appendString(b, h.Time)
	b = append(b, `,"node":`...)
	b = appendString(b, h.Node)
	b = append(b, `,"region":`...)
	b = appendString(b, h.Region)
	if h.PublicKey != "" {
		b = append(b, `,"publicKey":`...)
		b = appendString(b, h.PublicKey)
	}
	if h.Torn > 0 {
		b = append(b, `,"torn":`...)
		b = strconv.AppendInt(b, h.Torn, 10)
	}
	return b
}

// checkpointLine holds the members of a checkpoint before the chain members.
type checkpointLine struct {
	Time      string
	Node      string
	Region    string
	Records   uint64
	PublicKey string // base64
	Signature string // base64
}

// appendOpen appends the canonical encoding of c without the chain members.
func (c checkpointLine) appendOpen(b []byte) []byte {
	b = append(b, `{"kmsnodeAudit":"`+kindCheckpoint+`","time":`...)
	b = appendString(b, c.Time)
	b = append(b, `,"node":`...)
	b = appendString(b, c.Node)
	b = append(b, `,"region":`...)
	b = appendString(b, c.Region)
	b = append(b, `,"records":`...)
	b = strconv.AppendUint(b, c.Records, 10)
	b = append(b, `,"publicKey":`...)
	b = appendString(b, c.PublicKey)
	b = append(b, `,"signature":`...)
	return appendString(b, c.Signature)
}

// appendChainMembers appends the chain members and closes the line.
func appendChainMembers(b []byte, seq uint64, prev *[sha256.Size]byte) []byte {
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"prev":"`...)
	b = hex.AppendEncode(b, prev[:])
	return append(b, '"', '}')
}

// appendHeader appends a header line opening a segment.
func (c *chain) appendHeader(b []byte, now time.Time, node, region string, pub ed25519.PublicKey, torn int64) []byte {
	h := headerLine{Time: now.UTC().Format(time.RFC3339Nano), Node: node, Region: region, Torn: torn}
	if len(pub) == ed25519.PublicKeySize {
		h.PublicKey = base64.StdEncoding.EncodeToString(pub)
	}
	start := len(b)
	return c.seal(h.appendOpen(b), start)
}

// appendCheckpoint appends a checkpoint signed by s over the current head;
// on a signing error b is returned unchanged.
func (c *chain) appendCheckpoint(b []byte, now time.Time, node, region string, records uint64, s Signer) ([]byte, error) {
	cp := checkpointLine{Time: now.UTC().Format(time.RFC3339Nano), Node: node, Region: region, Records: records}
	// Sign first: a signer that loads its key on first use (a node
	// unsealed after it started) knows its public key only then.
	sig, err := s.Sign(CheckpointMessage(node, region, c.seq+1, records, c.head, cp.Time))
	if err != nil {
		return b, err
	}
	pub := s.PublicKey()
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return b, errors.New("audit: the signer gave no Ed25519 public key or signature")
	}
	cp.PublicKey = base64.StdEncoding.EncodeToString(pub)
	cp.Signature = base64.StdEncoding.EncodeToString(sig)
	start := len(b)
	return c.seal(cp.appendOpen(b), start), nil
}
