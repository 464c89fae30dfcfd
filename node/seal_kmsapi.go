package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/kms"
)

// The kmsapi provider (design-notes §5.2) keeps the region root key as the
// CiphertextBlob of an Encrypt call at another AWS-KMS-compatible endpoint
// (another kmsnode region, or AWS KMS): unsealing is one Decrypt call there.
// Nothing secret is stored locally; whoever can call Decrypt on that key
// with these credentials can unseal the region, so the remote key policy is
// the real guard.

const (
	kmsapiName = "kmsapi"
	// kmsapiCallTimeout bounds one Encrypt or Decrypt including its
	// retries; kmsapiAttemptTimeout bounds one HTTP attempt. A start that
	// cannot reach the endpoint fails in well under a minute with the
	// endpoint's name, rather than hanging until StartTimeout.
	kmsapiCallTimeout    = 30 * time.Second
	kmsapiAttemptTimeout = 10 * time.Second
	kmsapiMaxAttempts    = 4
	// maxCredentialsFile bounds what is read of a credentials file.
	maxCredentialsFile = 64 << 10
)

// Encryption context keys binding the wrapped root key. The remote KMS
// refuses Decrypt unless the same context is given, so a blob wrapped for
// one region or provider (aad = crypto.RootAAD) does not open as another's.
const (
	kmsapiPurposeKey = "kmsnode:purpose"
	kmsapiPurpose    = "root-key"
	kmsapiAADKey     = "kmsnode:aad"
)

func init() { unsealProviders[kmsapiName] = kmsapiUnsealerFor }

// kmsapiUnsealer wraps and unwraps the root key with Encrypt and Decrypt of
// one key at a remote KMS endpoint.
type kmsapiUnsealer struct {
	client    *awskms.Client
	transport *http.Transport
	endpoint  string // for messages: the URL, or "AWS KMS in <region>"
	keyID     string
}

func kmsapiUnsealerFor(c *Config, _ bool) (kms.Unsealer, bool, error) {
	k := &c.Seal.KMSAPI
	endpoint := "AWS KMS in " + k.Region
	if k.Endpoint != "" {
		if err := checkKMSAPIEndpoint(k.Endpoint); err != nil {
			return nil, false, err
		}
		endpoint = k.Endpoint
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if k.CAFile != "" {
		pem, err := os.ReadFile(k.CAFile)
		if err != nil {
			return nil, false, fmt.Errorf("node: seal kmsapi: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, false, fmt.Errorf("node: seal kmsapi: %s holds no PEM certificate", k.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	creds, err := kmsapiCredentials(k)
	if err != nil {
		return nil, false, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   kmsapiAttemptTimeout,
		ResponseHeaderTimeout: kmsapiAttemptTimeout,
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConns:          2,
	}
	opts := awskms.Options{
		Region:      k.Region,
		Credentials: creds,
		HTTPClient:  &http.Client{Transport: tr, Timeout: kmsapiAttemptTimeout},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = kmsapiMaxAttempts
			o.MaxBackoff = 2 * time.Second
			// A certificate the CA bundle does not verify will not verify
			// on the next attempt either: fail at once.
			o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				var cv *tls.CertificateVerificationError
				if errors.As(err, &cv) {
					return aws.FalseTernary
				}
				return aws.UnknownTernary
			})}, o.Retryables...)
		}),
		AppID: "kmsnode-seal",
	}
	if k.Endpoint != "" {
		opts.BaseEndpoint = aws.String(k.Endpoint)
	}
	return &kmsapiUnsealer{client: awskms.New(opts), transport: tr, endpoint: endpoint, keyID: k.KeyID}, false, nil
}

// checkKMSAPIEndpoint accepts an https URL, or http to a loopback address
// only: Encrypt and Decrypt carry the root key in their bodies.
func checkKMSAPIEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("node: seal kmsapi: endpoint %q is not a URL: %v", raw, err)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("node: seal kmsapi: endpoint %q has no host (e.g. https://kms.example.com:8443)", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("node: seal kmsapi: endpoint %q must be scheme://host[:port][/path], without user, query or fragment", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http":
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
			return nil
		}
		return fmt.Errorf("node: seal kmsapi: endpoint %s is plain HTTP: the root key would cross the network in clear; use https (http only on loopback)", raw)
	}
	return fmt.Errorf("node: seal kmsapi: endpoint %q must be an https URL", raw)
}

// kmsapiCredentials picks the credentials: explicit, then the file, then
// the standard AWS variables (the secret ones are cleared after reading, as
// every secret this process takes from its environment).
func kmsapiCredentials(k *KMSAPISealConfig) (aws.CredentialsProvider, error) {
	akid, secret, token := k.AccessKeyID, k.SecretAccessKey, k.SessionToken
	switch {
	case akid != "":
	case k.CredentialsFile != "":
		f, err := os.Open(k.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("node: seal kmsapi: read credentials: %w", err)
		}
		// The values become strings for the SDK, so zeroing this buffer
		// would be theatre; it is bounded, not wiped.
		b, err := io.ReadAll(io.LimitReader(f, maxCredentialsFile+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("node: seal kmsapi: read credentials: %w", err)
		}
		if len(b) > maxCredentialsFile {
			return nil, fmt.Errorf("node: seal kmsapi: credentials file %s is larger than %d bytes", k.CredentialsFile, maxCredentialsFile)
		}
		if akid, secret, token, err = parseSharedCredentials(b); err != nil {
			return nil, fmt.Errorf("node: seal kmsapi: credentials file %s: %w", k.CredentialsFile, err)
		}
	default:
		akid, secret, token = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
		os.Unsetenv("AWS_SECRET_ACCESS_KEY")
		os.Unsetenv("AWS_SESSION_TOKEN")
		if akid == "" || secret == "" {
			return nil, errors.New("node: seal kmsapi: no credentials: give --seal-kmsapi-credentials-file, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
	}
	return credentials.NewStaticCredentialsProvider(akid, secret, token), nil
}

// parseSharedCredentials reads an AWS shared-credentials file (INI): the
// keys of its [default] profile, or those before any section header.
// Comments start with # or ;. A repeated key or a line that is neither a
// section, a comment nor key = value is an error (naming its line, never
// its content, which may be a secret).
func parseSharedCredentials(b []byte) (akid, secret, token string, err error) {
	section := ""
	seen := map[string]bool{}
	for i, line := range bytes.Split(b, []byte("\n")) {
		l := strings.TrimSpace(string(line))
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
			continue
		case l[0] == '[':
			if !strings.HasSuffix(l, "]") {
				return "", "", "", fmt.Errorf("line %d: an unterminated section header", i+1)
			}
			section = strings.TrimSpace(l[1 : len(l)-1])
			continue
		}
		if section != "" && section != "default" {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return "", "", "", fmt.Errorf("line %d: want key = value", i+1)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		var dst *string
		switch k {
		case "aws_access_key_id":
			dst = &akid
		case "aws_secret_access_key":
			dst = &secret
		case "aws_session_token":
			dst = &token
		default:
			continue // region, output, … belong to other tools
		}
		if seen[k] {
			return "", "", "", fmt.Errorf("line %d: %s is given twice", i+1, k)
		}
		seen[k] = true
		*dst = v
	}
	if akid == "" || secret == "" {
		return "", "", "", errors.New("no aws_access_key_id and aws_secret_access_key in the [default] profile")
	}
	return akid, secret, token, nil
}

// Name implements kms.Unsealer.
func (u *kmsapiUnsealer) Name() string { return kmsapiName }

func kmsapiContext(aad []byte) map[string]string {
	return map[string]string{kmsapiPurposeKey: kmsapiPurpose, kmsapiAADKey: base64.StdEncoding.EncodeToString(aad)}
}

// Wrap implements kms.Unsealer: Encrypt of root under the remote key, with
// the aad bound as encryption context.
func (u *kmsapiUnsealer) Wrap(ctx context.Context, root, aad []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, kmsapiCallTimeout)
	defer cancel()
	out, err := u.client.Encrypt(ctx, &awskms.EncryptInput{
		KeyId: aws.String(u.keyID), Plaintext: root, EncryptionContext: kmsapiContext(aad),
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
	})
	if err != nil {
		return nil, u.fail("Encrypt", err)
	}
	if len(out.CiphertextBlob) == 0 {
		return nil, fmt.Errorf("node: seal kmsapi: Encrypt at %s (key %s) returned no CiphertextBlob", u.endpoint, u.keyID)
	}
	return out.CiphertextBlob, nil
}

// Unwrap implements kms.Unsealer: Decrypt pinned to the configured key (a
// blob of another key is refused even if the credentials could open it).
func (u *kmsapiUnsealer) Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, kmsapiCallTimeout)
	defer cancel()
	out, err := u.client.Decrypt(ctx, &awskms.DecryptInput{
		KeyId: aws.String(u.keyID), CiphertextBlob: wrapped, EncryptionContext: kmsapiContext(aad),
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
	})
	if err != nil {
		return nil, u.fail("Decrypt", err)
	}
	if len(out.Plaintext) != crypto.KeySize {
		crypto.Zero(out.Plaintext)
		return nil, fmt.Errorf("node: seal kmsapi: Decrypt at %s (key %s) returned %d bytes, not a %d-byte root key", u.endpoint, u.keyID, len(out.Plaintext), crypto.KeySize)
	}
	return out.Plaintext, nil
}

// fail names the endpoint, the key and the AWS error code. Neither the
// request nor the response body (the root key) is in an SDK error.
func (u *kmsapiUnsealer) fail(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("node: seal kmsapi: %s at %s (key %s) was refused: %s: %s", op, u.endpoint, u.keyID, ae.ErrorCode(), ae.ErrorMessage())
	}
	return fmt.Errorf("node: seal kmsapi: %s at %s (key %s) failed: %w", op, u.endpoint, u.keyID, err)
}

// Wipe drops the idle connections to the endpoint once the node is
// unsealed (the credentials are strings and cannot be zeroed).
func (u *kmsapiUnsealer) Wipe() { u.transport.CloseIdleConnections() }
