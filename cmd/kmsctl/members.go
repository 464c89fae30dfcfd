package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/pflag"
)

// member is one node of the region as KmsNodeOperator.ListMembers reports
// it (cluster.Member).
type member struct {
	NodeID   string `json:"node_id"`
	Address  string `json:"cluster_addr"`
	APIAddr  string `json:"api_addr,omitempty"`
	Suffrage string `json:"suffrage"` // voter, nonvoter, none
	Leader   bool   `json:"leader"`
	Gossip   string `json:"gossip"` // alive, gone (left or failed), absent
}

// membersOutput is what `members --json` prints.
type membersOutput struct {
	Members []member `json:"members"`
}

const (
	membersUsage    = "kmsctl members [--endpoint URL] [--region R] [--ca-file FILE] [--json]"
	removeNodeUsage = "kmsctl remove-node NODE_ID [--endpoint URL] [--region R] [--ca-file FILE]"
)

func members(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl members", pflag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if ok, err := parseFlags(fs, args, 0, membersUsage, stderr); !ok {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	var resp struct {
		Members []member `json:"Members"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := c.call(ctx, "ListMembers", struct{}{}, &resp); err != nil {
		return err
	}
	if resp.Members == nil {
		resp.Members = []member{}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(membersOutput{Members: resp.Members})
	}
	return printMembers(stdout, resp.Members)
}

func printMembers(w io.Writer, ms []member) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSUFFRAGE\tLEADER\tGOSSIP\tCLUSTER ADDR\tAPI ADDR")
	for _, m := range ms {
		leader := "-"
		if m.Leader {
			leader = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n",
			dash(m.NodeID), dash(m.Suffrage), leader, dash(m.Gossip), dash(m.Address), dash(m.APIAddr))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func removeNode(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl remove-node", pflag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	if ok, err := parseFlags(fs, args, 1, removeNodeUsage, stderr); !ok {
		return err
	}
	id := fs.Arg(0)
	if id == "" {
		fmt.Fprintln(stderr, "kmsctl: empty NODE_ID")
		fmt.Fprintln(stderr, "usage:", removeNodeUsage)
		return errUsage
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	req := struct {
		NodeID string `json:"NodeId"`
	}{id}
	if err := c.call(ctx, "RemoveNode", req, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed node %s from region %s\n", id, c.region)
	return nil
}
