package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/kmsnode/kmsnode/internal/snapfile"
)

// kmsctl snapshot save | inspect | restore: backups of a region (design and
// runbook in deploy/DR.md). A snapshot file is an archive of
// internal/snapfile: a header, the region's Raft snapshot (key material only
// sealed) and a checksum; it is useless without the region's unseal key,
// which must be kept apart from it.
const (
	snapshotUsage = "kmsctl snapshot save FILE | inspect FILE | restore FILE [--force]  (see kmsctl snapshot CMD --help)"
	saveUsage     = "kmsctl snapshot save FILE [--endpoint URL] [--region R] [--ca-file FILE] [--timeout D] [--json]"
	inspectUsage  = "kmsctl snapshot inspect FILE [--json]"
	restoreUsage  = "kmsctl snapshot restore FILE [--force] [--endpoint URL] [--region R] [--ca-file FILE] [--timeout D] [--json]"
)

func snapshotCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage:", snapshotUsage)
		return errUsage
	}
	switch args[0] {
	case "save":
		return snapshotSave(args[1:], stdout, stderr)
	case "inspect":
		return snapshotInspect(args[1:], stdout, stderr)
	case "restore":
		return snapshotRestore(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, "usage:", snapshotUsage)
		return nil
	}
	fmt.Fprintf(stderr, "kmsctl: unknown snapshot command %q\nusage: %s\n", args[0], snapshotUsage)
	return errUsage
}

// snapshotInfo is what save, inspect and restore print with --json.
type snapshotInfo struct {
	File   string          `json:"file"`
	Bytes  int64           `json:"bytes"`
	SHA256 string          `json:"sha256,omitempty"` // of the whole file
	Valid  bool            `json:"valid"`
	Error  string          `json:"error,omitempty"`
	Header snapfile.Header `json:"header"`
}

func snapshotSave(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl snapshot save", pflag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long")
	if ok, err := parseFlags(fs, args, 1, saveUsage, stderr); !ok {
		return err
	}
	path := fs.Arg(0)
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	resp, err := c.cl.At(c.base).Fetch(ctx, "SnapshotSave", struct{}{})
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	// Temporary file beside the target, synced, then renamed: FILE is a
	// whole, verified snapshot or is left as it was.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // nothing left after the rename
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	bar := newProgress(stderr, "saving", resp.ContentLength)
	sum := sha256.New()
	w := bufio.NewWriterSize(tmp, 1<<20)
	body := io.TeeReader(resp.Body, io.MultiWriter(w, sum, bar))
	h, verr := snapfile.Verify(body)
	bar.done()
	if verr != nil {
		return fmt.Errorf("the snapshot received from %s is not whole (%v); nothing was written to %s", c.base, verr, path)
	}
	if resp.ContentLength >= 0 && bar.n != resp.ContentLength {
		return fmt.Errorf("received %d of %d bytes; nothing was written to %s", bar.n, resp.ContentLength, path)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	info := snapshotInfo{File: path, Bytes: bar.n, SHA256: hex.EncodeToString(sum.Sum(nil)), Valid: true, Header: h}
	if *asJSON {
		return writeJSON(stdout, info)
	}
	fmt.Fprintf(stdout, "saved %s (%s) from node %s\n", path, sizeText(info.Bytes), h.NodeID)
	printHeader(stdout, info)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// verifyFile reads a snapshot file whole: its header, its SHA-256 and
// whether every check passed.
func verifyFile(path string) (snapshotInfo, error) {
	info := snapshotInfo{File: path}
	f, err := os.Open(path)
	if err != nil {
		return info, err
	}
	defer f.Close()
	sum := sha256.New()
	cnt := &counter{}
	ar, err := snapfile.NewReader(io.TeeReader(bufio.NewReaderSize(f, 1<<20), io.MultiWriter(sum, cnt)))
	if err == nil {
		info.Header = ar.Header()
		_, err = io.Copy(io.Discard, ar)
	}
	info.Bytes, info.SHA256 = cnt.n, hex.EncodeToString(sum.Sum(nil))
	if err != nil {
		info.Error = err.Error()
		return info, err
	}
	info.Valid = true
	return info, nil
}

func snapshotInspect(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl snapshot inspect", pflag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if ok, err := parseFlags(fs, args, 1, inspectUsage, stderr); !ok {
		return err
	}
	info, err := verifyFile(fs.Arg(0))
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	if *asJSON {
		if jerr := writeJSON(stdout, info); jerr != nil {
			return jerr
		}
	} else {
		fmt.Fprintf(stdout, "file        %s (%s)\n", info.File, sizeText(info.Bytes))
		if info.Header.Format != 0 {
			printHeader(stdout, info)
		}
		if info.Valid {
			fmt.Fprintln(stdout, "check       ok: size, state digest and checksum match")
		} else {
			fmt.Fprintln(stdout, "check       FAILED:", info.Error)
		}
	}
	if err != nil {
		return fmt.Errorf("%s is not a usable snapshot: %w", info.File, err)
	}
	return nil
}

func printHeader(w io.Writer, info snapshotInfo) {
	h := info.Header
	s := h.Summary
	fmt.Fprintf(w, "region      %s (account %s)\n", h.Region, h.AccountID)
	fmt.Fprintf(w, "taken       %s by node %s (kmsnode %s)\n", h.Created.Format(time.RFC3339), h.NodeID, dashText(h.Version))
	fmt.Fprintf(w, "raft        index %d, term %d\n", h.Index, h.Term)
	fmt.Fprintf(w, "state       %d keys, %d aliases, %d identities (applied index %d, %s)\n",
		s.Keys, s.Aliases, s.Identities, s.AppliedIndex, sizeText(h.Size))
	seal := "unseal provider " + strings.Join(s.SealProviders, ", ")
	if s.ShamirThreshold > 0 {
		seal += fmt.Sprintf(" (%d of %d shares)", s.ShamirThreshold, s.ShamirShares)
	}
	fmt.Fprintf(w, "seal        %s, keyring term %d: restoring needs this unseal key\n", seal, s.KeyringTerm)
	fmt.Fprintf(w, "digest      %s (state)\n", h.FSMDigest)
	if info.SHA256 != "" {
		fmt.Fprintf(w, "sha256      %s (file)\n", info.SHA256)
	}
}

// restoreResult is the node's answer (node.RestoreResult).
type restoreResult struct {
	Region        string
	SnapshotIndex uint64
	Summary       snapfile.Summary
	StateDigest   string
	Sealed        bool
	Detail        string
}

func snapshotRestore(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl snapshot restore", pflag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	force := fs.Bool("force", false, "restore into a region that holds keys, or a snapshot of another account")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long")
	if ok, err := parseFlags(fs, args, 1, restoreUsage, stderr); !ok {
		return err
	}
	path := fs.Arg(0)
	// Refuse a damaged file before anything is sent.
	info, err := verifyFile(path)
	if err != nil {
		return fmt.Errorf("%s is not a usable snapshot, nothing was sent: %w", path, err)
	}
	h := info.Header
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	target, err := restoreTarget(ctx, c, h, *force, stderr)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bar := newProgress(stderr, "sending", info.Bytes)
	bar.then = "the leader checks and restores the snapshot..."
	q := url.Values{}
	if *force {
		q.Set("Force", "true")
	}
	body := io.TeeReader(bufio.NewReaderSize(f, 1<<20), bar)
	resp, err := c.cl.At(target).Stream(ctx, "SnapshotRestore", q, body, info.Bytes, info.SHA256)
	bar.done()
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var res restoreResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return fmt.Errorf("%s: bad SnapshotRestore answer: %w", target, err)
	}
	if *asJSON {
		return writeJSON(stdout, struct {
			File     string        `json:"file"`
			Endpoint string        `json:"endpoint"`
			Result   restoreResult `json:"result"`
			Verified bool          `json:"state_digest_matches"`
		}{path, target, res, res.StateDigest == h.FSMDigest})
	}
	s := res.Summary
	fmt.Fprintf(stdout, "restored %s into region %s through %s: %d keys, %d aliases, %d identities (snapshot index %d)\n",
		path, res.Region, target, s.Keys, s.Aliases, s.Identities, res.SnapshotIndex)
	if res.StateDigest == h.FSMDigest {
		fmt.Fprintln(stdout, "the restored state's digest matches the snapshot's")
	} else {
		fmt.Fprintln(stdout, "note: the restored state's digest differs from the snapshot's: the region took a write since the restore")
	}
	if res.Sealed {
		fmt.Fprintln(stdout, "the region is sealed:", res.Detail)
	}
	return nil
}

// restoreTarget checks the target region against the snapshot (the node
// checks again) and finds its leader, which alone can restore.
func restoreTarget(ctx context.Context, c *opClient, h snapfile.Header, force bool, stderr io.Writer) (string, error) {
	st, err := fetchStatus(ctx, c, c.base)
	if err != nil {
		return "", fmt.Errorf("cannot read the target region's status: %w", err)
	}
	switch {
	case st.Region != h.Region:
		return "", fmt.Errorf("the snapshot is of region %s and %s is in region %s: a snapshot restores only into a region of the same name (its keys are bound to it)", h.Region, c.base, st.Region)
	case st.AccountId != h.AccountID && !force:
		return "", fmt.Errorf("the snapshot is of account %s, the region belongs to %s; --force restores it anyway", h.AccountID, st.AccountId)
	case st.Keys > 0 && !force:
		return "", fmt.Errorf("region %s is not new (it holds %d keys, which the restore would replace); restore into a freshly started region, or give --force", st.Region, st.Keys)
	}
	if st.State == "Leader" {
		return c.base, nil
	}
	for _, m := range st.Members {
		if !m.Leader {
			continue
		}
		ep, err := advertisedEndpoint(endpointScheme(c.base), m)
		if err != nil {
			return "", fmt.Errorf("%s is not the leader and the leader's endpoint is unknown (%v): run the restore against the leader, node %s", c.base, err, m.NodeID)
		}
		fmt.Fprintf(stderr, "kmsctl: %s is not the leader; sending the snapshot to the leader, node %s, at %s\n", c.base, m.NodeID, ep)
		return ep, nil
	}
	return "", fmt.Errorf("region %s has no leader at the moment; retry", st.Region)
}

func endpointScheme(base string) string {
	if u, err := url.Parse(base); err == nil && u.Scheme != "" {
		return u.Scheme
	}
	return "http"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func dashText(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// progress draws a progress bar on a terminal once a transfer has taken
// more than a couple of seconds; elsewhere (a pipe, a log) it draws
// nothing. It counts what is written to it.
type progress struct {
	w     io.Writer
	label string
	total int64 // -1: unknown
	n     int64
	tty   bool
	start time.Time
	last  time.Time
	shown bool
	// then is printed once everything was counted, while the other side
	// still works (a restore).
	then  string
	ended bool // then was printed
}

// writerIsTerminal: w is a terminal (unseal.go's isTerminal takes a file).
func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// progressAfter is how long a transfer runs before the bar appears.
const progressAfter = 2 * time.Second

func newProgress(w io.Writer, label string, total int64) *progress {
	return &progress{w: w, label: label, total: total, tty: writerIsTerminal(w), start: time.Now()}
}

func (p *progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if !p.tty || p.ended {
		return len(b), nil
	}
	now := time.Now()
	if now.Sub(p.start) < progressAfter {
		return len(b), nil
	}
	final := p.total > 0 && p.n >= p.total
	if !final && now.Sub(p.last) < 100*time.Millisecond {
		return len(b), nil
	}
	p.last = now
	p.draw(now)
	if final && p.then != "" {
		fmt.Fprintf(p.w, "\n%s", p.then)
		p.ended = true
	}
	return len(b), nil
}

func (p *progress) draw(now time.Time) {
	rate := float64(p.n) / max(now.Sub(p.start).Seconds(), 0.001)
	line := fmt.Sprintf("%-9s %s", p.label, sizeText(p.n))
	if p.total > 0 {
		const width = 30
		frac := min(float64(p.n)/float64(p.total), 1)
		done := int(frac * width)
		line = fmt.Sprintf("%-9s [%s%s] %s / %s %3.0f%%", p.label, strings.Repeat("=", done), strings.Repeat(" ", width-done),
			sizeText(p.n), sizeText(p.total), frac*100)
	}
	fmt.Fprintf(p.w, "\r%s  %s/s\x1b[K", line, sizeText(int64(rate)))
	p.shown = true
}

// done finishes the bar's line, if one was drawn.
func (p *progress) done() {
	if p.ended {
		fmt.Fprintln(p.w)
		return
	}
	if p.shown {
		p.draw(time.Now())
		fmt.Fprintln(p.w)
	}
}
