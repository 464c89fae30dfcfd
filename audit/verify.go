package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// VerifyOptions configures [Verify].
type VerifyOptions struct {
	// PublicKeys pins the keys checkpoints may be signed with. Without
	// one, the first key in the log is trusted and must stay the same: a
	// log rewritten whole with another key then still verifies, so pin
	// the key the node prints at start (or GetAuditPublicKey returns).
	PublicKeys []ed25519.PublicKey
	// RequireSignedTail makes lines after the last checkpoint a failure
	// instead of a warning.
	RequireSignedTail bool
}

// Input is one file of a log, in chain order.
type Input struct {
	Name string
	R    io.Reader
}

// Problem locates a verification failure or warning.
type Problem struct {
	File    string  `json:"file"`
	Line    int     `json:"line"`          // 1-based line number in File
	Seq     *uint64 `json:"seq,omitempty"` // the line's seq, when it has one
	Message string  `json:"message"`
}

func (p Problem) String() string {
	switch {
	case p.File == "":
		return p.Message
	case p.Seq != nil:
		return fmt.Sprintf("%s line %d (seq %d): %s", p.File, p.Line, *p.Seq, p.Message)
	case p.Line > 0:
		return fmt.Sprintf("%s line %d: %s", p.File, p.Line, p.Message)
	}
	return p.File + ": " + p.Message
}

// Report is the outcome of [Verify].
type Report struct {
	Files       int    `json:"files"`
	Lines       uint64 `json:"lines"`
	Records     uint64 `json:"records"`
	Headers     uint64 `json:"headers"`
	Checkpoints uint64 `json:"checkpoints"`
	FirstSeq    uint64 `json:"firstSeq"`
	LastSeq     uint64 `json:"lastSeq"`
	// SignedThrough is the seq of the last checkpoint: every line up to it
	// is vouched for by a signature.
	SignedThrough uint64 `json:"signedThroughSeq"`
	// Unsigned counts the lines after the last checkpoint.
	Unsigned  uint64 `json:"unsignedLines"`
	PublicKey string `json:"publicKey,omitempty"` // base64 key of the checkpoints
	KeyPinned bool   `json:"keyPinned"`
	// Continues is set when the first file continues an earlier log that
	// was not given (its first header's prev is not zero).
	Continues bool      `json:"continuesEarlierLog"`
	Warnings  []Problem `json:"warnings,omitempty"`
	Failure   *Problem  `json:"failure,omitempty"`
}

// OK reports whether the log verified.
func (r *Report) OK() bool { return r.Failure == nil }

// parsedLine holds the members of a line that verification reads.
type parsedLine struct {
	Kind      *string `json:"kmsnodeAudit"`
	Version   int     `json:"formatVersion"`
	Time      string  `json:"time"`
	Node      string  `json:"node"`
	Region    string  `json:"region"`
	Records   uint64  `json:"records"`
	PublicKey string  `json:"publicKey"`
	Signature string  `json:"signature"`
	Torn      int64   `json:"torn"`
	Seq       *uint64 `json:"seq"`
	Prev      *string `json:"prev"`
}

// vline is one line as the verifier sees it.
type vline struct {
	file     string
	no       int
	raw      []byte
	complete bool // ended with a newline
	hash     [sha256.Size]byte
	p        parsedLine
	prev     [sha256.Size]byte
	chained  bool   // valid JSON with seq and a 64-hex prev
	why      string // why it is not chained
}

func (l *vline) kind() string {
	if l.p.Kind == nil {
		return ""
	}
	return *l.p.Kind
}

func (l *vline) problem(msg string) *Problem {
	p := &Problem{File: l.file, Line: l.no, Message: msg}
	if l.p.Seq != nil {
		seq := *l.p.Seq
		p.Seq = &seq
	}
	return p
}

// lineReader reads the lines of the inputs in order, with one line of
// lookahead.
type lineReader struct {
	inputs []Input
	i      int
	br     *bufio.Reader
	no     int
	peeked *vline
	err    error
}

func (lr *lineReader) next() (*vline, error) {
	if lr.peeked != nil {
		l := lr.peeked
		lr.peeked = nil
		return l, nil
	}
	return lr.read()
}

func (lr *lineReader) peek() *vline {
	if lr.peeked == nil {
		l, err := lr.read()
		if err != nil {
			return nil
		}
		lr.peeked = l
	}
	return lr.peeked
}

func (lr *lineReader) read() (*vline, error) {
	if lr.err != nil {
		return nil, lr.err
	}
	for {
		if lr.br == nil {
			if lr.i == len(lr.inputs) {
				lr.err = io.EOF
				return nil, io.EOF
			}
			lr.br = bufio.NewReaderSize(lr.inputs[lr.i].R, 64<<10)
			lr.no = 0
		}
		raw, complete, err := readLine(lr.br)
		if err == io.EOF && len(raw) == 0 {
			lr.br = nil
			lr.i++
			continue
		}
		if err != nil && err != io.EOF {
			lr.err = fmt.Errorf("%s line %d: %w", lr.inputs[lr.i].Name, lr.no+1, err)
			return nil, lr.err
		}
		lr.no++
		l := &vline{file: lr.inputs[lr.i].Name, no: lr.no, raw: raw, complete: complete, hash: sha256.Sum256(raw)}
		l.parse()
		return l, nil
	}
}

var errLineTooLong = fmt.Errorf("a line is longer than %d bytes", MaxLine)

// readLine returns the next line without its newline, and whether it had one.
func readLine(br *bufio.Reader) ([]byte, bool, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > MaxLine+1 {
			return nil, false, errLineTooLong
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return line[:len(line)-1], true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			return line, false, io.EOF
		default:
			return nil, false, err
		}
	}
}

func (l *vline) parse() {
	if err := json.Unmarshal(l.raw, &l.p); err != nil {
		l.why = "it is not a JSON object"
		return
	}
	if l.p.Seq == nil || l.p.Prev == nil {
		l.why = "it has no seq or prev"
		return
	}
	if len(*l.p.Prev) != 2*sha256.Size {
		l.why = "its prev is not a SHA-256 in hex"
		return
	}
	if _, err := hex.Decode(l.prev[:], []byte(*l.p.Prev)); err != nil {
		l.why = "its prev is not a SHA-256 in hex"
		return
	}
	l.chained = true
}

// verifier is the state of one Verify run.
type verifier struct {
	opts    VerifyOptions
	r       *Report
	lr      *lineReader
	last    *vline // the last chained line
	node    string // of the current segment
	region  string
	key     ed25519.PublicKey // the key seen first, when none is pinned
	torn    *vline            // a partial line waiting for the header that declares it
	started bool
}

// Verify checks a node's audit log given as files in chain order: that every
// file starts with a header, that seq numbers follow one another and every
// prev is the SHA-256 of the line before, across files, that headers and
// checkpoints are in their canonical form, and that every checkpoint's
// signature verifies under the pinned key (or the log's one key). It stops
// at the first failure and names the file, line and seq of the first bad
// line: for a changed line, the line itself when the line after it still
// chains to it. Lines after the last checkpoint are reported as unsigned.
// Verify reads each input once; it does not close them.
func Verify(inputs []Input, opts VerifyOptions) *Report {
	v := &verifier{opts: opts, r: &Report{Files: len(inputs), KeyPinned: len(opts.PublicKeys) > 0},
		lr: &lineReader{inputs: inputs}}
	v.r.Failure = v.run()
	return v.r
}

func (v *verifier) run() *Problem {
	if len(v.lr.inputs) == 0 {
		return &Problem{Message: "no files to verify"}
	}
	var unsignedFrom *vline
	for {
		l, err := v.lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &Problem{Message: err.Error()}
		}
		v.r.Lines++
		if !l.complete {
			v.warn(l.problem(fmt.Sprintf("a partial last line of %d bytes (a write in progress, or a crash) is not verified", len(l.raw))))
			continue
		}
		if !l.chained {
			if p := v.maybeTorn(l); p != nil {
				return p
			}
			continue
		}
		if p := v.link(l); p != nil {
			return p
		}
		if l.no == 1 && l.kind() != kindHeader {
			return l.problem("the file does not start with a header")
		}
		var p *Problem
		switch l.kind() {
		case kindHeader:
			p = v.header(l)
		case kindCheckpoint:
			p = v.checkpoint(l)
		case "":
			v.r.Records++
		default:
			p = l.problem(fmt.Sprintf("unknown line kind %q", l.kind()))
		}
		if p != nil {
			return p
		}
		if l.kind() == kindCheckpoint {
			unsignedFrom = nil
			v.r.Unsigned = 0
		} else {
			if unsignedFrom == nil {
				unsignedFrom = l
			}
			v.r.Unsigned++
		}
		v.last = l
		v.r.LastSeq = *l.p.Seq
	}
	if v.torn != nil {
		return v.torn.problem("this line is not a chained audit line: " + v.torn.why)
	}
	if v.last == nil {
		return &Problem{File: v.lr.inputs[0].Name, Message: "no audit lines"}
	}
	if v.r.Unsigned > 0 {
		msg := fmt.Sprintf("%d line(s) from here to the end (seq %d) are not covered by a checkpoint signature: "+
			"they could have been changed or removed without the audit key", v.r.Unsigned, v.r.LastSeq)
		if v.r.Checkpoints == 0 {
			msg = "the log has no checkpoint: nothing in it is signed"
		}
		if v.opts.RequireSignedTail {
			return unsignedFrom.problem(msg)
		}
		v.warn(unsignedFrom.problem(msg))
	}
	if !v.r.KeyPinned && v.r.PublicKey != "" {
		v.warn(&Problem{Message: "no public key was pinned: the checkpoints were checked against the key found in the log; " +
			"compare it with the key the node prints at start (or kmsctl audit public-key)"})
	}
	return nil
}

func (v *verifier) warn(p *Problem) { v.r.Warnings = append(v.r.Warnings, *p) }

// maybeTorn handles a line that is not chained: it is acceptable only as
// the partial line a crash left, declared by the header right after it.
func (v *verifier) maybeTorn(l *vline) *Problem {
	nx := v.lr.peek()
	if nx != nil && nx.file == l.file && nx.chained && nx.kind() == kindHeader && nx.p.Torn == int64(len(l.raw)) {
		v.torn = l
		return nil
	}
	return l.problem("this line is not a chained audit line: " + l.why)
}

// link checks that l follows the last chained line: seq and prev.
func (v *verifier) link(l *vline) *Problem {
	seq := *l.p.Seq
	if v.last == nil {
		if l.kind() != kindHeader {
			return l.problem("the log does not start with a header")
		}
		v.r.FirstSeq = seq
		if l.prev != zeroHash {
			v.r.Continues = true
			v.warn(l.problem("the log continues an earlier file that was not given (its prev is not zero)"))
		}
		return nil
	}
	want := *v.last.p.Seq + 1
	switch {
	case seq > want:
		if nx := v.lr.peek(); nx != nil && nx.chained && *nx.p.Seq == want {
			return l.problem(fmt.Sprintf("seq %d comes before seq %d (%s line %d): lines are out of order", seq, want, nx.file, nx.no))
		}
		return l.problem(fmt.Sprintf("seq %d follows seq %d (%s line %d): %d line(s) are missing before this one",
			seq, want-1, v.last.file, v.last.no, seq-want))
	case seq < want:
		return l.problem(fmt.Sprintf("seq %d follows seq %d (%s line %d): lines are out of order or repeated",
			seq, want-1, v.last.file, v.last.no))
	}
	if l.prev == v.last.hash {
		return nil
	}
	if l.no == 1 && v.last.file != l.file {
		return l.problem(fmt.Sprintf("the file does not continue %s: its prev is not the hash of that file's last line "+
			"(a file is missing, out of order, or its end was changed)", v.last.file))
	}
	// Which of the two lines changed? If the next line still chains to
	// this one, this one is intact and the line before it was changed.
	if nx := v.lr.peek(); nx != nil && nx.chained && nx.prev == l.hash {
		return v.last.problem(fmt.Sprintf("this line was changed: its hash is not the prev of the next line (%s line %d)", l.file, l.no))
	}
	return l.problem(fmt.Sprintf("this line was changed, or the line before it (%s line %d): its prev is not the hash of that line",
		v.last.file, v.last.no))
}

func (v *verifier) header(l *vline) *Problem {
	if l.p.Version != formatVersion {
		return l.problem(fmt.Sprintf("unknown header formatVersion %d", l.p.Version))
	}
	h := headerLine{Time: l.p.Time, Node: l.p.Node, Region: l.p.Region, PublicKey: l.p.PublicKey, Torn: l.p.Torn}
	if !canonical(l, h.appendOpen(nil)) {
		return l.problem("the header is not in its canonical form: it was changed")
	}
	switch {
	case l.p.Torn < 0:
		return l.problem("negative torn length")
	case l.p.Torn > 0 && v.torn == nil:
		return l.problem("the header declares a partial line before it that is not there")
	}
	v.torn = nil
	if l.p.PublicKey != "" {
		if p := v.acceptKey(l); p != nil {
			return p
		}
	}
	v.node, v.region = l.p.Node, l.p.Region
	v.r.Headers++
	return nil
}

func (v *verifier) checkpoint(l *vline) *Problem {
	c := checkpointLine{Time: l.p.Time, Node: l.p.Node, Region: l.p.Region, Records: l.p.Records,
		PublicKey: l.p.PublicKey, Signature: l.p.Signature}
	switch {
	case !canonical(l, c.appendOpen(nil)):
		return l.problem("the checkpoint is not in its canonical form: it was changed")
	case l.p.Node != v.node || l.p.Region != v.region:
		return l.problem(fmt.Sprintf("the checkpoint is for node %q in %q, but its segment's header names node %q in %q",
			l.p.Node, l.p.Region, v.node, v.region))
	}
	if p := v.acceptKey(l); p != nil {
		return p
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(l.p.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return l.problem("the checkpoint's signature is not 64 bytes of base64")
	}
	pub, _ := decodeKey(l.p.PublicKey)
	msg := CheckpointMessage(l.p.Node, l.p.Region, *l.p.Seq, l.p.Records, l.prev, l.p.Time)
	if !ed25519.Verify(pub, msg, sig) {
		return l.problem("the checkpoint's signature does not verify: the checkpoint was forged or changed")
	}
	v.r.Checkpoints++
	v.r.SignedThrough = *l.p.Seq
	return nil
}

// canonical reports whether l is exactly open followed by l's chain members.
func canonical(l *vline, open []byte) bool {
	return bytes.Equal(l.raw, appendChainMembers(open, *l.p.Seq, &l.prev))
}

func decodeKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("not a base64 Ed25519 public key")
	}
	return b, nil
}

// acceptKey checks l's publicKey against the pinned keys, or against the
// first key of the log when none is pinned.
func (v *verifier) acceptKey(l *vline) *Problem {
	pub, err := decodeKey(l.p.PublicKey)
	if err != nil {
		return l.problem("its publicKey is " + err.Error())
	}
	v.r.PublicKey = l.p.PublicKey
	if len(v.opts.PublicKeys) > 0 {
		for _, k := range v.opts.PublicKeys {
			if k.Equal(pub) {
				return nil
			}
		}
		return l.problem("signed with key " + l.p.PublicKey + ", not a pinned key")
	}
	if v.key == nil {
		v.key = pub
		return nil
	}
	if !v.key.Equal(pub) {
		return l.problem("the audit key changed from " + base64.StdEncoding.EncodeToString(v.key) + " to " + l.p.PublicKey +
			": pin the expected key(s) with --public-key")
	}
	return nil
}

// ParsePublicKey reads an Ed25519 public key in base64 (as the node prints it).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	k, err := decodeKey(s)
	if err != nil {
		return nil, fmt.Errorf("audit: public key %q is %v", s, err)
	}
	return k, nil
}
