package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
)

const identityUsage = `kmsctl identity SUBCOMMAND …
  create NAME [--role] [--policy-file F [--policy-name N]] [--tag K=V …] [--no-access-key]
  list
  get [NAME]                         (no NAME: the caller)
  delete NAME
  add-key NAME                       (a second access key, for rotation)
  remove-key ACCESS_KEY_ID
  put-policy NAME POLICY_NAME --policy-file F   (F "-" reads stdin)
  get-policy NAME POLICY_NAME
  delete-policy NAME POLICY_NAME
NAME is a user name, user/NAME, role/NAME, root, or an identity ARN.
Every subcommand takes --endpoint, --region, --ca-file and --json, and signs
with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.`

// identityInfo mirrors kms.IdentityInfo.
type identityInfo struct {
	Arn        string  `json:"Arn"`
	Name       string  `json:"Name"`
	Type       string  `json:"Type"`
	CreatedAt  float64 `json:"CreatedAt"`
	Tags       []tag   `json:"Tags,omitempty"`
	AccessKeys []struct {
		AccessKeyId string  `json:"AccessKeyId"`
		CreatedAt   float64 `json:"CreatedAt"`
	} `json:"AccessKeys,omitempty"`
	PolicyNames []string `json:"PolicyNames,omitempty"`
}

type tag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

type accessKey struct {
	AccessKeyId     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// identity runs `kmsctl identity SUBCOMMAND`.
func identity(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(stderr, "usage:", identityUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	nargs := map[string]int{"create": 1, "list": 0, "get": -1, "delete": 1, "add-key": 1, "remove-key": 1, "put-policy": 2, "get-policy": 2, "delete-policy": 2}
	want, ok := nargs[sub]
	if !ok {
		fmt.Fprintf(stderr, "kmsctl identity: unknown subcommand %q\nusage: %s\n", sub, identityUsage)
		return errUsage
	}
	fs := pflag.NewFlagSet("kmsctl identity "+sub, pflag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	role := fs.Bool("role", false, "create a role rather than a user")
	policyFile := fs.String("policy-file", "", "identity policy document (JSON; - for stdin)")
	policyName := fs.String("policy-name", "inline", "name of the policy given with --policy-file at create")
	tags := fs.StringArray("tag", nil, "principal tag KEY=VALUE (repeatable)")
	noKey := fs.Bool("no-access-key", false, "create without an access key")
	if want < 0 { // get: zero or one argument
		want = 0
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			want = 1
		}
	}
	if ok, err := parseFlags(fs, rest, want, "kmsctl identity "+sub+" …", stderr); !ok {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	out := func(v any, human func() error) error {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		return human()
	}
	ref := func(i int) string { return fs.Arg(i) }
	switch sub {
	case "create":
		name := ref(0)
		if *role && !strings.Contains(name, "/") {
			name = "role/" + name
		}
		in := map[string]any{"Identity": name, "NoAccessKey": *noKey}
		if *policyFile != "" {
			doc, err := readPolicy(*policyFile)
			if err != nil {
				return err
			}
			in["PolicyName"], in["PolicyDocument"] = *policyName, doc
		}
		var ts []tag
		for _, kv := range *tags {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("--tag %q: want KEY=VALUE", kv)
			}
			ts = append(ts, tag{k, v})
		}
		if ts != nil {
			in["Tags"] = ts
		}
		var resp struct {
			Identity  identityInfo `json:"Identity"`
			AccessKey *accessKey   `json:"AccessKey,omitempty"`
		}
		if err := c.call(ctx, "CreateIdentity", in, &resp); err != nil {
			return err
		}
		return out(resp, func() error {
			fmt.Fprintf(stdout, "created %s\n", resp.Identity.Arn)
			printSecret(stdout, resp.AccessKey)
			return nil
		})
	case "list":
		var all []identityInfo
		marker := ""
		for {
			var resp struct {
				Identities []identityInfo `json:"Identities"`
				NextMarker string         `json:"NextMarker"`
				Truncated  bool           `json:"Truncated"`
			}
			in := map[string]any{}
			if marker != "" {
				in["Marker"] = marker
			}
			if err := c.call(ctx, "ListIdentities", in, &resp); err != nil {
				return err
			}
			all = append(all, resp.Identities...)
			if !resp.Truncated {
				break
			}
			marker = resp.NextMarker
		}
		if all == nil {
			all = []identityInfo{}
		}
		return out(map[string]any{"Identities": all}, func() error {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ARN\tTYPE\tACCESS KEYS\tPOLICIES\tCREATED")
			for _, id := range all {
				var keys []string
				for _, k := range id.AccessKeys {
					keys = append(keys, k.AccessKeyId)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id.Arn, id.Type, dash(strings.Join(keys, ",")), dash(strings.Join(id.PolicyNames, ",")), when(id.CreatedAt))
			}
			return tw.Flush()
		})
	case "get":
		var resp struct {
			Identity identityInfo `json:"Identity"`
		}
		if err := c.call(ctx, "GetIdentity", map[string]any{"Identity": ref(0)}, &resp); err != nil {
			return err
		}
		return out(resp, func() error {
			id := resp.Identity
			fmt.Fprintf(stdout, "arn       %s\ntype      %s\ncreated   %s\n", id.Arn, id.Type, when(id.CreatedAt))
			for _, k := range id.AccessKeys {
				fmt.Fprintf(stdout, "key       %s (created %s)\n", k.AccessKeyId, when(k.CreatedAt))
			}
			for _, p := range id.PolicyNames {
				fmt.Fprintf(stdout, "policy    %s\n", p)
			}
			for _, t := range id.Tags {
				fmt.Fprintf(stdout, "tag       %s=%s\n", t.TagKey, t.TagValue)
			}
			return nil
		})
	case "delete":
		return done(stdout, c.call(ctx, "DeleteIdentity", map[string]any{"Identity": ref(0)}, nil), "deleted "+ref(0))
	case "add-key":
		var resp struct {
			AccessKey accessKey `json:"AccessKey"`
		}
		if err := c.call(ctx, "CreateAccessKey", map[string]any{"Identity": ref(0)}, &resp); err != nil {
			return err
		}
		return out(resp, func() error { printSecret(stdout, &resp.AccessKey); return nil })
	case "remove-key":
		return done(stdout, c.call(ctx, "DeleteAccessKey", map[string]any{"AccessKeyId": ref(0)}, nil), "removed "+ref(0))
	case "put-policy":
		if *policyFile == "" {
			return fmt.Errorf("put-policy needs --policy-file")
		}
		doc, err := readPolicy(*policyFile)
		if err != nil {
			return err
		}
		in := map[string]any{"Identity": ref(0), "PolicyName": ref(1), "PolicyDocument": doc}
		return done(stdout, c.call(ctx, "PutIdentityPolicy", in, nil), "put policy "+ref(1)+" on "+ref(0))
	case "get-policy":
		var resp struct {
			PolicyDocument string `json:"PolicyDocument"`
		}
		if err := c.call(ctx, "GetIdentityPolicy", map[string]any{"Identity": ref(0), "PolicyName": ref(1)}, &resp); err != nil {
			return err
		}
		return out(resp, func() error { _, err := fmt.Fprintln(stdout, resp.PolicyDocument); return err })
	default: // delete-policy
		return done(stdout, c.call(ctx, "DeleteIdentityPolicy", map[string]any{"Identity": ref(0), "PolicyName": ref(1)}, nil), "deleted policy "+ref(1)+" of "+ref(0))
	}
}

func done(w io.Writer, err error, msg string) error {
	if err == nil {
		fmt.Fprintln(w, msg)
	}
	return err
}

func printSecret(w io.Writer, k *accessKey) {
	if k == nil {
		return
	}
	fmt.Fprintf(w, "AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n(the secret is shown only now)\n", k.AccessKeyId, k.SecretAccessKey)
}

func when(sec float64) string {
	return time.Unix(int64(sec), 0).UTC().Format(time.RFC3339)
}

// readPolicy reads a policy document from a file or stdin ("-").
func readPolicy(path string) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("read policy: %w", err)
	}
	return string(b), nil
}
