package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kmsnode/kmsnode/api/wire"
)

// check waits until the node answers DescribeKey for keyID (retrying 503,
// throttling and connection errors until ctx ends), then checks that the key
// is Enabled and has versions material versions.
func check(ctx context.Context, c *client, keyID string, versions int, out io.Writer) error {
	start := time.Now()
	var dr wire.DescribeKeyResponse
	retries, err := c.call(ctx, "DescribeKey", wire.DescribeKeyRequest{KeyId: keyID}, &dr)
	if err != nil {
		return fmt.Errorf("DescribeKey %s after %d retries: %w", keyID, retries, err)
	}
	answered := time.Since(start)
	if dr.KeyMetadata == nil || dr.KeyMetadata.KeyState != "Enabled" {
		return fmt.Errorf("DescribeKey %s: the key is not Enabled", keyID)
	}
	limit := int32(100)
	var lr wire.ListKeyRotationsResponse
	if _, err := c.call(ctx, "ListKeyRotations", wire.ListKeyRotationsRequest{
		KeyId: keyID, IncludeKeyMaterial: "ALL_KEY_MATERIAL", Limit: &limit}, &lr); err != nil {
		return fmt.Errorf("ListKeyRotations %s: %w", keyID, err)
	}
	if len(lr.Rotations) != versions {
		return fmt.Errorf("key %s has %d material versions, want %d", keyID, len(lr.Rotations), versions)
	}
	fmt.Fprintf(out, "kmsfill check: key %s is Enabled with %d versions; DescribeKey answered after %d ms (%d retries)\n",
		keyID, versions, answered.Milliseconds(), retries)
	return nil
}

var errNoKey = errors.New("--key-id is required")
