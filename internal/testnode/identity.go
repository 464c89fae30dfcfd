package testnode

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/node"
)

// Identity is an identity created by CreateIdentity, with a client signed
// by its access key.
type Identity struct {
	ARN, AccessKeyID, Secret string
	Client                   *awskms.Client
}

// CreateIdentity creates an identity through the signed administration API
// of n (as the development operator credential) with an inline identity
// policy (none if policy is ""), and returns it with a client.
func CreateIdentity(t testing.TB, n *Node, name, policy string) Identity {
	t.Helper()
	in := map[string]any{"Identity": name}
	if policy != "" {
		in["PolicyName"], in["PolicyDocument"] = "inline", policy
	}
	var out struct {
		Identity  struct{ Arn string }
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	if err := OperatorCall(Ctx(t), n.URL(), n.Config.Region, node.DevAccessKeyID, node.DevSecretAccessKey, "CreateIdentity", in, &out); err != nil {
		t.Fatalf("CreateIdentity %s: %v", name, err)
	}
	return Identity{
		ARN: out.Identity.Arn, AccessKeyID: out.AccessKey.AccessKeyId, Secret: out.AccessKey.SecretAccessKey,
		Client: NewClient(n.URL(), n.Config.Region, out.AccessKey.AccessKeyId, out.AccessKey.SecretAccessKey),
	}
}

// OperatorError is an AWS-shaped error answer of an operator call.
type OperatorError struct {
	Status  int
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (e *OperatorError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

// OperatorCall sends one SigV4-signed KmsNodeOperator.<op> call.
func OperatorCall(ctx context.Context, endpoint, region, akid, secret, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "KmsNodeOperator."+op)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", region, time.Now()); err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := &OperatorError{Status: resp.StatusCode}
		_ = json.Unmarshal(b, e)
		return e
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
