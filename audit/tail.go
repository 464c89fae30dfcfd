package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLine is the longest line the sink resumes from and [Verify] reads. A
// record is far shorter: the API caps every logged string, the largest
// (a key policy) at 32 KiB.
const MaxLine = 4 << 20

// ErrUnchainedLog is OpenFile's error for an existing file that does not end
// with a hash-chained line: the log of a kmsnode before the chain (v0.1), or
// not an audit log. Appending would make a log that can never verify; the
// caller may move it aside (node does, on upgrade) and open again.
var ErrUnchainedLog = errors.New("it does not end with a hash-chained line (a log of an older kmsnode, or not an audit log): move it aside to start a new one")

// chainMembers are the members every chained line has.
type chainMembers struct {
	Seq  *uint64 `json:"seq"`
	Prev *string `json:"prev"`
}

// resume reads the end of an existing log of the given size: it returns the
// chain after its last complete line and the length of a partial line after
// that (what a crash during a write leaves), which the next header declares
// as torn. A file that does not end with a chained line (an unchained log
// of an older kmsnode, or another file) is an error: appending to it would
// make a log that can never verify.
func resume(r io.ReaderAt, size int64) (c chain, torn int64, err error) {
	if size == 0 {
		return chain{}, 0, nil
	}
	for window := int64(64 << 10); ; window *= 2 {
		if window > size {
			window = size
		}
		buf := make([]byte, window)
		if _, err := r.ReadAt(buf, size-window); err != nil && err != io.EOF {
			return chain{}, 0, err
		}
		end := bytes.LastIndexByte(buf, '\n')
		if end < 0 && window == size {
			return chain{}, size, nil // one partial line and nothing else
		}
		if end >= 0 {
			torn = int64(len(buf) - end - 1)
			start := bytes.LastIndexByte(buf[:end], '\n') + 1
			if start > 0 || window == size {
				line := buf[start:end]
				var m chainMembers
				if json.Unmarshal(line, &m) != nil || m.Seq == nil || m.Prev == nil {
					return chain{}, 0, ErrUnchainedLog
				}
				return chain{seq: *m.Seq, head: sha256.Sum256(line)}, torn, nil
			}
		}
		if window == size || window >= MaxLine+1 {
			return chain{}, 0, fmt.Errorf("its last line is longer than %d bytes", MaxLine)
		}
	}
}
