package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kmsnode/kmsnode/api/wire"
)

// fixture is what setup creates on the kmsnode target before the runs.
type fixture struct {
	KeyID      string `json:"key_id"`
	ciphertext []byte // of a 32-byte plaintext under KeyID
}

// opSpec is one benchmarked operation.
type opSpec struct {
	Name string // name on the command line and in the report
	API  string // KMS operation
	Help string
	body func(f *fixture) any
}

// opTable lists the operations kmsbench knows, in report order.
var opTable = []opSpec{
	{Name: "Encrypt32", API: "Encrypt", Help: "Encrypt of a 32-byte plaintext",
		body: func(f *fixture) any { return wire.EncryptRequest{KeyId: f.KeyID, Plaintext: randomBytes(32)} }},
	{Name: "Encrypt4K", API: "Encrypt", Help: "Encrypt of a 4096-byte plaintext (the maximum)",
		body: func(f *fixture) any { return wire.EncryptRequest{KeyId: f.KeyID, Plaintext: randomBytes(4096)} }},
	{Name: "Decrypt", API: "Decrypt", Help: "Decrypt of a 32-byte plaintext's ciphertext, with KeyId",
		body: func(f *fixture) any { return wire.DecryptRequest{KeyId: f.KeyID, CiphertextBlob: f.ciphertext} }},
	{Name: "GenerateDataKey", API: "GenerateDataKey", Help: "GenerateDataKey with KeySpec AES_256",
		body: func(f *fixture) any { return wire.GenerateDataKeyRequest{KeyId: f.KeyID, KeySpec: "AES_256"} }},
	{Name: "ReEncrypt", API: "ReEncrypt", Help: "ReEncrypt of the 32-byte ciphertext to the same key",
		body: func(f *fixture) any {
			return wire.ReEncryptRequest{CiphertextBlob: f.ciphertext, DestinationKeyId: f.KeyID}
		}},
	{Name: "CreateKey", API: "CreateKey", Help: "CreateKey (symmetric, default policy): one Raft write per call",
		body: func(*fixture) any { return wire.CreateKeyRequest{Description: "kmsbench"} }},
}

func opNames() []string {
	names := make([]string, len(opTable))
	for i, o := range opTable {
		names[i] = o.Name
	}
	return names
}

func lookupOp(name string) (*opSpec, error) {
	for i := range opTable {
		if strings.EqualFold(opTable[i].Name, name) {
			return &opTable[i], nil
		}
	}
	return nil, fmt.Errorf("unknown operation %q (known: %s)", name, strings.Join(opNames(), ", "))
}

// prepare builds the fixed request of op.
func (o *opSpec) prepare(f *fixture) (*request, error) {
	b, err := json.Marshal(o.body(f))
	if err != nil {
		return nil, err
	}
	return newRequest(o.API, b), nil
}

// setup creates the key and the ciphertext the operations use through the
// target's first endpoint, then has every endpoint decrypt that ciphertext:
// a region's other nodes must see the new key (a follower that misses it
// renews its read lease before it answers NotFound) before any run counts
// their answers.
func setup(ctx context.Context, c *client, t *target) (*fixture, error) {
	first := t.Endpoints[0]
	ck, err := json.Marshal(wire.CreateKeyRequest{
		Description: "kmsbench fixture " + time.Now().UTC().Format(time.RFC3339),
	})
	if err != nil {
		return nil, err
	}
	b, err := c.call(ctx, first, newRequest("CreateKey", ck))
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	var cr wire.CreateKeyResponse
	if err := json.Unmarshal(b, &cr); err != nil || cr.KeyMetadata == nil || cr.KeyMetadata.KeyId == "" {
		return nil, fmt.Errorf("setup: CreateKey answered %.200q, not a key (is %s a kmsnode?)", b, first)
	}
	f := &fixture{KeyID: cr.KeyMetadata.KeyId}
	plaintext := randomBytes(32)
	enc, err := json.Marshal(wire.EncryptRequest{KeyId: f.KeyID, Plaintext: plaintext})
	if err != nil {
		return nil, err
	}
	if b, err = c.call(ctx, first, newRequest("Encrypt", enc)); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	var er wire.EncryptResponse
	if err := json.Unmarshal(b, &er); err != nil || len(er.CiphertextBlob) == 0 {
		return nil, errors.New("setup: Encrypt answered no CiphertextBlob")
	}
	f.ciphertext = er.CiphertextBlob
	if len(t.Endpoints) == 1 {
		return f, nil
	}
	dec, err := json.Marshal(wire.DecryptRequest{KeyId: f.KeyID, CiphertextBlob: f.ciphertext})
	if err != nil {
		return nil, err
	}
	for _, e := range t.Endpoints {
		if b, err = c.call(ctx, e, newRequest("Decrypt", dec)); err != nil {
			return nil, fmt.Errorf("setup: the key %s created through %s: %w", f.KeyID, first, err)
		}
		var dr wire.DecryptResponse
		if err := json.Unmarshal(b, &dr); err != nil || !bytes.Equal(dr.Plaintext, plaintext) {
			return nil, fmt.Errorf("setup: %s decrypted the fixture ciphertext to something other than its plaintext", e)
		}
	}
	return f, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}
