package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
)

// kmsctl status is the operator's summary of a node and its region. It
// always probes /healthz and /readyz (no credentials needed); with
// credentials in the environment it also asks the node for
// KmsNodeOperator.Status (signed, kmsnode:Status): region, node, leader,
// members, Raft term and indexes, lease, seal, version and key count.
// --health keeps to the probes; --all asks every member for its status (a
// table of roles, versions and indexes, for rolling upgrades).
const statusUsage = "kmsctl status [--endpoint URL] [--region R] [--ca-file FILE] [--health | --all] [--json]"

// nodeStatus is what `status` reports about one node.
type nodeStatus struct {
	Endpoint string        `json:"endpoint"`
	Alive    bool          `json:"alive"`
	Ready    bool          `json:"ready"`
	Detail   string        `json:"detail,omitempty"`
	Status   *regionStatus `json:"status,omitempty"` // with credentials
}

// regionStatus is a node's KmsNodeOperator.Status answer (node.Status).
type regionStatus struct {
	Region        string
	AccountId     string
	NodeId        string
	Version       string
	GoVersion     string
	Time          time.Time
	State         string
	LeaderId      string
	LeaderAddress string
	Members       []member
	Raft          struct {
		Term, LastLogIndex, CommitIndex, AppliedIndex, LastSnapshotIndex, FSMAppliedIndex uint64
		LastContactMs                                                                     int64
	}
	Lease struct {
		Held                           bool
		AgeMs, RemainingMs, DurationMs int64
	}
	Seal struct {
		Sealed, Initialized bool
		Provider            string
		KeyringTerm         uint32
	}
	Keys       int
	Identities int
}

func status(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl status", pflag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	healthOnly := fs.Bool("health", false, "only probe /healthz and /readyz (no credentials used)")
	all := fs.Bool("all", false, "ask every member of the region for its status")
	if ok, err := parseFlags(fs, args, 0, statusUsage, stderr); !ok {
		return err
	}
	anon, err := cf.Anonymous()
	if err != nil {
		return err
	}
	st := probeNode(anon.HTTPClient(5*time.Second), anon.Endpoint)
	var statusErr error
	// Without credentials (or a region to sign for) status is the health
	// probe it always was.
	signed := !*healthOnly && haveCredentials() && cf.Region != ""
	if signed {
		c, err := cf.client()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		rs, err := fetchStatus(ctx, c, c.base)
		if err != nil {
			statusErr = err
			st.Detail = strings.TrimSpace(st.Detail + "; status: " + err.Error())
			st.Detail = strings.TrimPrefix(st.Detail, "; ")
		} else {
			st.Status = rs
		}
		if *all && rs != nil {
			return statusAll(ctx, c, rs, *asJSON, stdout)
		}
	} else if *all {
		return errors.New("--all needs credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
	}
	if *asJSON {
		if err := writeJSONCompact(stdout, st); err != nil {
			return err
		}
	} else {
		printStatus(stdout, st)
	}
	switch {
	case !st.Ready:
		return errors.New("node is not ready")
	case statusErr != nil:
		return statusErr
	}
	return nil
}

// haveCredentials reports whether the AWS environment holds a key to sign
// with (as opclient reads it).
func haveCredentials() bool {
	return envOr("AWS_ACCESS_KEY_ID", "") != "" && envOr("AWS_SECRET_ACCESS_KEY", "") != ""
}

// probeNode reads /healthz, then /readyz.
func probeNode(c *http.Client, base string) nodeStatus {
	st := nodeStatus{Endpoint: base}
	if _, err := get(c, base+"/healthz"); err == nil {
		st.Alive = true
	} else {
		st.Detail = err.Error()
	}
	if st.Alive {
		body, err := get(c, base+"/readyz")
		st.Ready = err == nil
		if err != nil {
			st.Detail = strings.TrimSpace(body)
			if st.Detail == "" {
				st.Detail = err.Error()
			}
		}
	}
	return st
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), nil
}

// fetchStatus asks the node at endpoint for KmsNodeOperator.Status.
func fetchStatus(ctx context.Context, c *opClient, endpoint string) (*regionStatus, error) {
	var rs regionStatus
	if err := c.cl.At(endpoint).Call(ctx, "Status", struct{}{}, &rs); err != nil {
		return nil, err
	}
	return &rs, nil
}

func printStatus(w io.Writer, st nodeStatus) {
	fmt.Fprintf(w, "endpoint  %s\nalive     %v\nready     %v\n", st.Endpoint, st.Alive, st.Ready)
	if st.Detail != "" {
		fmt.Fprintf(w, "detail    %s\n", st.Detail)
	}
	rs := st.Status
	if rs == nil {
		return
	}
	fmt.Fprintf(w, "region    %s (account %s)\n", rs.Region, rs.AccountId)
	fmt.Fprintf(w, "node      %s (%s), kmsnode %s, %s\n", rs.NodeId, strings.ToLower(rs.State), dashText(rs.Version), rs.GoVersion)
	leader := "none known"
	if rs.LeaderId != "" {
		leader = rs.LeaderId + " (" + rs.LeaderAddress + ")"
	}
	fmt.Fprintf(w, "leader    %s\n", leader)
	r := rs.Raft
	fmt.Fprintf(w, "raft      term %d, last log %d, commit %d, applied %d, snapshot %d, state machine %d",
		r.Term, r.LastLogIndex, r.CommitIndex, r.AppliedIndex, r.LastSnapshotIndex, r.FSMAppliedIndex)
	switch {
	case r.LastContactMs > 0:
		fmt.Fprintf(w, ", leader heard %d ms ago", r.LastContactMs)
	case r.LastContactMs < 0:
		fmt.Fprint(w, ", never heard a leader")
	}
	fmt.Fprintln(w)
	if rs.Lease.Held {
		fmt.Fprintf(w, "lease     held, age %d ms of %d ms\n", rs.Lease.AgeMs, rs.Lease.DurationMs)
	} else {
		fmt.Fprintf(w, "lease     none: the node serves no crypto until it renews one (Δ %d ms)\n", rs.Lease.DurationMs)
	}
	seal := "unsealed"
	if rs.Seal.Sealed {
		seal = "SEALED"
	}
	fmt.Fprintf(w, "seal      %s, provider %s, keyring term %d\n", seal, dashText(rs.Seal.Provider), rs.Seal.KeyringTerm)
	fmt.Fprintf(w, "keys      %d (identities %d)\n", rs.Keys, rs.Identities)
	fmt.Fprintln(w, "members")
	var b strings.Builder
	_ = printMembers(&b, rs.Members)
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if line != "" {
			fmt.Fprint(w, "  "+line)
		}
	}
}

// memberStatus is one row of status --all.
type memberStatus struct {
	NodeID   string        `json:"node_id"`
	Endpoint string        `json:"endpoint,omitempty"`
	Error    string        `json:"error,omitempty"`
	Status   *regionStatus `json:"status,omitempty"`
}

// statusAll asks every member for its status through the API address it
// advertises.
func statusAll(ctx context.Context, c *opClient, first *regionStatus, asJSON bool, stdout io.Writer) error {
	var rows []memberStatus
	failed := 0
	for _, m := range first.Members {
		row := memberStatus{NodeID: m.NodeID}
		if m.NodeID == first.NodeId {
			row.Endpoint, row.Status = c.base, first
			rows = append(rows, row)
			continue
		}
		ep, err := advertisedEndpoint(endpointScheme(c.base), m)
		if err == nil {
			row.Endpoint = ep
			row.Status, err = fetchStatus(ctx, c, ep)
		}
		if err != nil {
			row.Error = err.Error()
			failed++
		}
		rows = append(rows, row)
	}
	if asJSON {
		if err := writeJSON(stdout, struct {
			Members []memberStatus `json:"members"`
		}{rows}); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tROLE\tVERSION\tTERM\tCOMMIT\tAPPLIED\tLEASE\tSEALED\tKEYS\tENDPOINT")
		for _, r := range rows {
			if r.Status == nil {
				fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t%s (%s)\n", r.NodeID, dashText(r.Endpoint), r.Error)
				continue
			}
			s := r.Status
			lease := "none"
			if s.Lease.Held {
				lease = fmt.Sprintf("%d ms", s.Lease.AgeMs)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%v\t%d\t%s\n", s.NodeId, strings.ToLower(s.State), dashText(s.Version),
				s.Raft.Term, s.Raft.CommitIndex, s.Raft.AppliedIndex, lease, s.Seal.Sealed, s.Keys, r.Endpoint)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d members did not answer", failed, len(rows))
	}
	return nil
}

// writeJSONCompact prints v on one line (status --json, for probes and
// scripts that read a line).
func writeJSONCompact(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
