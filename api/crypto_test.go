package api_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/internal/testnode"
)

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestEncryptDecrypt(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id := newKeyID(t, n)
	createAlias(t, n, "alias/crypto", id)
	other := newKeyID(t, n)

	for _, size := range []int{1, 4096} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			pt := randBytes(size)
			e, err := c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: pt})
			mustOK(t, "Encrypt", err)
			if aws.ToString(e.KeyId) != keyARN(id) {
				t.Errorf("Encrypt KeyId %q, want the key ARN", aws.ToString(e.KeyId))
			}
			if e.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
				t.Errorf("EncryptionAlgorithm %q", e.EncryptionAlgorithm)
			}
			if len(e.CiphertextBlob) <= size || len(e.CiphertextBlob) > 6144 || bytes.Contains(e.CiphertextBlob, pt) && size > 8 {
				t.Errorf("ciphertext of %d bytes for %d bytes of plaintext", len(e.CiphertextBlob), size)
			}
			// Without KeyId, and with each form of KeyId.
			for _, ref := range []string{"", id, keyARN(id), "alias/crypto", aliasARN("alias/crypto")} {
				in := &awskms.DecryptInput{CiphertextBlob: e.CiphertextBlob, EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault}
				if ref != "" {
					in.KeyId = aws.String(ref)
				}
				d, err := c.Decrypt(ctx(t), in)
				mustOK(t, "Decrypt with KeyId "+ref, err)
				if !bytes.Equal(d.Plaintext, pt) {
					t.Fatalf("Decrypt (KeyId %q) returned other plaintext", ref)
				}
				if aws.ToString(d.KeyId) != keyARN(id) || d.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
					t.Errorf("Decrypt KeyId %q algorithm %q", aws.ToString(d.KeyId), d.EncryptionAlgorithm)
				}
			}
			// Another key's ID is IncorrectKeyException.
			_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: e.CiphertextBlob, KeyId: &other})
			wantErr(t, err, "IncorrectKeyException")
		})
	}

	// Encryption is randomised: the same plaintext twice gives two blobs.
	a := encrypt(t, n, id, []byte("same"), nil)
	b := encrypt(t, n, id, []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Error("two encryptions of the same plaintext are identical")
	}
	// An explicit SYMMETRIC_DEFAULT algorithm is accepted.
	_, err := c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x"), EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault})
	mustOK(t, "Encrypt SYMMETRIC_DEFAULT", err)
}

func TestReEncrypt(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	src, dst, third := newKeyID(t, n), newKeyID(t, n), newKeyID(t, n)
	srcCtx := map[string]string{"purpose": "test", "stage": "1"}
	blob := encrypt(t, n, src, []byte("moving"), srcCtx)

	t.Run("to another key", func(t *testing.T) {
		out, err := c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: srcCtx, DestinationKeyId: &dst, DestinationEncryptionContext: srcCtx})
		mustOK(t, "ReEncrypt", err)
		if aws.ToString(out.KeyId) != keyARN(dst) || aws.ToString(out.SourceKeyId) != keyARN(src) {
			t.Errorf("KeyId %q SourceKeyId %q", aws.ToString(out.KeyId), aws.ToString(out.SourceKeyId))
		}
		if out.SourceEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault || out.DestinationEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
			t.Errorf("algorithms %q %q", out.SourceEncryptionAlgorithm, out.DestinationEncryptionAlgorithm)
		}
		d := decrypt(t, n, out.CiphertextBlob, srcCtx)
		if string(d.Plaintext) != "moving" || aws.ToString(d.KeyId) != keyARN(dst) {
			t.Errorf("Decrypt %q under %q", d.Plaintext, aws.ToString(d.KeyId))
		}
		_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: srcCtx, KeyId: &src})
		wantErr(t, err, "IncorrectKeyException")
		// The source ciphertext is untouched.
		if got := decrypt(t, n, blob, srcCtx).Plaintext; string(got) != "moving" {
			t.Errorf("source Decrypt %q", got)
		}
	})

	t.Run("to another context", func(t *testing.T) {
		newCtx := map[string]string{"purpose": "test", "stage": "2"}
		out, err := c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: srcCtx, SourceKeyId: &src, DestinationKeyId: &src, DestinationEncryptionContext: newCtx})
		mustOK(t, "ReEncrypt", err)
		if got := decrypt(t, n, out.CiphertextBlob, newCtx).Plaintext; string(got) != "moving" {
			t.Errorf("Decrypt %q", got)
		}
		_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: srcCtx})
		wantErr(t, err, "InvalidCiphertextException")
		// No destination context: the new ciphertext has none.
		out, err = c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: srcCtx, DestinationKeyId: &third})
		mustOK(t, "ReEncrypt", err)
		if got := decrypt(t, n, out.CiphertextBlob, nil).Plaintext; string(got) != "moving" {
			t.Errorf("Decrypt %q", got)
		}
	})

	t.Run("wrong source", func(t *testing.T) {
		_, err := c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: srcCtx, SourceKeyId: &dst, DestinationKeyId: &third})
		wantErr(t, err, "IncorrectKeyException")
		_, err = c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: map[string]string{"purpose": "test"}, DestinationKeyId: &third})
		if msg := wantErr(t, err, "InvalidCiphertextException"); msg != msgInvalidCiphertext {
			t.Errorf("message %q", msg)
		}
		_, err = c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: srcCtx, DestinationKeyId: aws.String("alias/missing")})
		wantErr(t, err, "NotFoundException")
	})
}

func TestGenerateDataKey(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id := newKeyID(t, n)
	ec := map[string]string{"bucket": "b1"}
	cases := []struct {
		name string
		spec types.DataKeySpec
		n    *int32
		want int
	}{
		{"AES_256", types.DataKeySpecAes256, nil, 32},
		{"AES_128", types.DataKeySpecAes128, nil, 16},
		{"1 byte", "", i32(1), 1},
		{"1024 bytes", "", i32(1024), 1024},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &id, KeySpec: tc.spec, NumberOfBytes: tc.n, EncryptionContext: ec})
			mustOK(t, "GenerateDataKey", err)
			if len(out.Plaintext) != tc.want {
				t.Fatalf("plaintext of %d bytes, want %d", len(out.Plaintext), tc.want)
			}
			if aws.ToString(out.KeyId) != keyARN(id) {
				t.Errorf("KeyId %q", aws.ToString(out.KeyId))
			}
			d := decrypt(t, n, out.CiphertextBlob, ec)
			if !bytes.Equal(d.Plaintext, out.Plaintext) {
				t.Fatal("the CiphertextBlob does not decrypt to the returned plaintext")
			}
			_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
			wantErr(t, err, "InvalidCiphertextException")
			again, err := c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &id, KeySpec: tc.spec, NumberOfBytes: tc.n})
			mustOK(t, "GenerateDataKey", err)
			if tc.want >= 16 && bytes.Equal(again.Plaintext, out.Plaintext) {
				t.Error("two data keys are equal")
			}

			w, err := c.GenerateDataKeyWithoutPlaintext(ctx(t), &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: &id, KeySpec: tc.spec, NumberOfBytes: tc.n, EncryptionContext: ec})
			mustOK(t, "GenerateDataKeyWithoutPlaintext", err)
			if aws.ToString(w.KeyId) != keyARN(id) {
				t.Errorf("KeyId %q", aws.ToString(w.KeyId))
			}
			if got := decrypt(t, n, w.CiphertextBlob, ec).Plaintext; len(got) != tc.want {
				t.Errorf("data key without plaintext decrypts to %d bytes, want %d", len(got), tc.want)
			}
		})
	}
}

func TestGenerateDataKeyWithoutPlaintextOmitsPlaintext(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	r := rawCall(t, n, "GenerateDataKeyWithoutPlaintext", []byte(`{"KeyId":"`+id+`","KeySpec":"AES_256"}`), rawOpts{})
	if r.Status != 200 {
		t.Fatalf("%s", r)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["Plaintext"]; ok {
		t.Fatalf("response carries a Plaintext: %s", r.Body)
	}
	if _, ok := m["CiphertextBlob"].(string); !ok {
		t.Fatalf("response has no CiphertextBlob: %s", r.Body)
	}
}

func TestGenerateRandom(t *testing.T) {
	t.Parallel()
	n := start(t)
	for _, size := range []int32{1, 1024} {
		out, err := n.Client.GenerateRandom(ctx(t), &awskms.GenerateRandomInput{NumberOfBytes: i32(size)})
		mustOK(t, "GenerateRandom", err)
		if len(out.Plaintext) != int(size) {
			t.Errorf("GenerateRandom %d: %d bytes", size, len(out.Plaintext))
		}
	}
	a, err := n.Client.GenerateRandom(ctx(t), &awskms.GenerateRandomInput{NumberOfBytes: i32(64)})
	mustOK(t, "GenerateRandom", err)
	b, err := n.Client.GenerateRandom(ctx(t), &awskms.GenerateRandomInput{NumberOfBytes: i32(64)})
	mustOK(t, "GenerateRandom", err)
	if bytes.Equal(a.Plaintext, b.Plaintext) || bytes.Equal(a.Plaintext, make([]byte, 64)) {
		t.Error("GenerateRandom is not random")
	}
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id := newKeyID(t, n)
	blob := encrypt(t, n, id, []byte("dry"), nil)
	_, err := c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x"), DryRun: aws.Bool(true)})
	wantErr(t, err, "DryRunOperationException")
	_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob, DryRun: aws.Bool(true)})
	wantErr(t, err, "DryRunOperationException")
	_, err = c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &id, KeySpec: types.DataKeySpecAes256, DryRun: aws.Bool(true)})
	wantErr(t, err, "DryRunOperationException")
	_, err = c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: &id, DryRun: aws.Bool(true)})
	wantErr(t, err, "DryRunOperationException")
	r := rawCall(t, n, "Encrypt", []byte(`{"KeyId":"`+id+`","Plaintext":"eA==","DryRun":true}`), rawOpts{})
	wantRawErr(t, r, 412, "DryRunOperationException")
}

// rawEncrypt encrypts with a JSON body written out by hand, so the order of
// the encryption context pairs on the wire is the test's choice.
func rawEncrypt(t *testing.T, n *testnode.Node, id, ecJSON string) []byte {
	t.Helper()
	body := `{"KeyId":"` + id + `","Plaintext":"` + base64.StdEncoding.EncodeToString([]byte("context")) + `"`
	if ecJSON != "" {
		body += `,"EncryptionContext":` + ecJSON
	}
	r := rawCall(t, n, "Encrypt", []byte(body+"}"), rawOpts{})
	if r.Status != 200 {
		t.Fatalf("raw Encrypt: %s", r)
	}
	var out struct{ CiphertextBlob []byte }
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(err)
	}
	return out.CiphertextBlob
}

func rawDecrypt(t *testing.T, n *testnode.Node, blob []byte, ecJSON string) *rawResp {
	t.Helper()
	body := `{"CiphertextBlob":"` + base64.StdEncoding.EncodeToString(blob) + `"`
	if ecJSON != "" {
		body += `,"EncryptionContext":` + ecJSON
	}
	return rawCall(t, n, "Decrypt", []byte(body+"}"), rawOpts{})
}

func TestEncryptionContext(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id := newKeyID(t, n)

	// {"ab":"c"} and {"a":"bc"} concatenate to the same text but are
	// different contexts.
	ab := encrypt(t, n, id, []byte("ab"), map[string]string{"ab": "c"})
	_, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: ab, EncryptionContext: map[string]string{"a": "bc"}})
	wantErr(t, err, "InvalidCiphertextException")
	a := encrypt(t, n, id, []byte("a"), map[string]string{"a": "bc"})
	_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: a, EncryptionContext: map[string]string{"ab": "c"}})
	wantErr(t, err, "InvalidCiphertextException")
	decrypt(t, n, ab, map[string]string{"ab": "c"})
	decrypt(t, n, a, map[string]string{"a": "bc"})

	// The order of the pairs on the wire does not matter.
	blob := rawEncrypt(t, n, id, `{"a":"1","b":"2","c":"3"}`)
	for _, order := range []string{`{"a":"1","b":"2","c":"3"}`, `{"c":"3","a":"1","b":"2"}`, `{"b":"2","c":"3","a":"1"}`} {
		if r := rawDecrypt(t, n, blob, order); r.Status != 200 {
			t.Errorf("Decrypt with context %s: %s", order, r)
		}
	}

	// Every other context is the one InvalidCiphertextException.
	wrong := []string{
		``, // none
		`{}`,
		`{"a":"1","b":"2"}`,                 // missing pair
		`{"a":"1","b":"2","c":"3","d":"4"}`, // extra pair
		`{"a":"1","b":"2","c":"4"}`,         // other value
		`{"A":"1","b":"2","c":"3"}`,         // key case
		`{"a":"1","b":"2","c":"3 "}`,        // trailing space
		`{"a":"1","b":"23","c":""}`,         // bytes moved between values
		`{"a":"1","b":"2","c3":""}`,         // bytes moved from value to key
	}
	for _, ec := range wrong {
		r := rawDecrypt(t, n, blob, ec)
		if msg := wantRawErr(t, r, 400, "InvalidCiphertextException"); msg != msgInvalidCiphertext {
			t.Errorf("context %s: message %q", ec, msg)
		}
	}

	// No context at encryption: only an absent or empty context decrypts.
	none := encrypt(t, n, id, []byte("none"), nil)
	decrypt(t, n, none, nil)
	decrypt(t, n, none, map[string]string{})
	_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: none, EncryptionContext: map[string]string{"a": "1"}})
	wantErr(t, err, "InvalidCiphertextException")

	// Non-ASCII keys and values round-trip.
	uni := map[string]string{"名前": "値", "emoji": "🔑", "empty-looking": " "}
	if got := decrypt(t, n, encrypt(t, n, id, []byte("uni"), uni), uni).Plaintext; string(got) != "uni" {
		t.Errorf("Decrypt %q", got)
	}
}

// TestTamperedCiphertext flips every bit region of a blob, truncates it,
// extends it and replaces it with random bytes: every one of them is the
// same InvalidCiphertextException, message included.
func TestTamperedCiphertext(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id, other := newKeyID(t, n), newKeyID(t, n)
	ec := map[string]string{"k": "v"}
	pt := []byte("sixteen bytes!!!")
	blob := encrypt(t, n, id, pt, ec)
	if len(blob) != len(pt)+crypto.Overhead {
		t.Fatalf("blob of %d bytes, want %d", len(blob), len(pt)+crypto.Overhead)
	}
	h, err := crypto.ParseHeader(blob)
	if err != nil || h.Ref.String() != id || h.Version != 1 {
		t.Fatalf("blob header %+v %v", h, err)
	}
	otherBlob := encrypt(t, n, other, pt, ec)

	var bad [][]byte
	label := map[int]string{}
	add := func(what string, b []byte) {
		label[len(bad)] = what
		bad = append(bad, b)
	}
	mutate := func(f func(b []byte)) []byte {
		b := bytes.Clone(blob)
		f(b)
		return b
	}
	// One bit flipped in every byte, then every byte of each region inverted.
	for i := range blob {
		add(fmt.Sprintf("bit flip at %d", i), mutate(func(b []byte) { b[i] ^= 0x01 }))
		add(fmt.Sprintf("high bit flip at %d", i), mutate(func(b []byte) { b[i] ^= 0x80 }))
	}
	regions := []struct {
		name     string
		from, to int
	}{
		{"format", 0, 1}, {"suite", 1, 2}, {"ref type", 2, 3}, {"key ref", 3, 19}, {"version", 19, 23},
		{"salt", 23, 39}, {"nonce", 39, 51}, {"ciphertext", 51, len(blob) - 16}, {"tag", len(blob) - 16, len(blob)},
	}
	for _, r := range regions {
		add("region "+r.name+" inverted", mutate(func(b []byte) {
			for i := r.from; i < r.to; i++ {
				b[i] ^= 0xFF
			}
		}))
		add("region "+r.name+" zeroed", mutate(func(b []byte) { clear(b[r.from:r.to]) }))
	}
	// The other key's reference (a key that exists), and version 2.
	add("key ref of another key", mutate(func(b []byte) { copy(b[2:19], otherBlob[2:19]) }))
	add("version 2", mutate(func(b []byte) { b[19], b[20], b[21], b[22] = 0, 0, 0, 2 }))
	add("version 0", mutate(func(b []byte) { clear(b[19:23]) }))
	add("another blob's body", append(bytes.Clone(blob[:crypto.HeaderSize]), otherBlob[crypto.HeaderSize:]...))
	// Truncated and extended.
	for _, l := range []int{1, 2, 3, 19, 23, 50, 51, 52, 66, 67, len(blob) - 1} {
		add(fmt.Sprintf("truncated to %d", l), bytes.Clone(blob[:l]))
	}
	add("one byte appended", append(bytes.Clone(blob), 0))
	add("doubled", append(bytes.Clone(blob), blob...))
	// Random bytes, bare and behind a plausible header.
	for _, l := range []int{1, 16, 66, 67, 83, 512, 6144} {
		add(fmt.Sprintf("%d random bytes", l), randBytes(l))
	}
	add("valid header, random rest", append(bytes.Clone(blob[:crypto.HeaderSize]), randBytes(40)...))
	add("all zero", make([]byte, len(blob)))
	add("all 0xFF", bytes.Repeat([]byte{0xFF}, len(blob)))

	for i, b := range bad {
		_, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: b, EncryptionContext: ec})
		if err == nil {
			t.Errorf("%s: decrypted", label[i])
			continue
		}
		if !isA[*types.InvalidCiphertextException](err) {
			t.Errorf("%s: %v, want InvalidCiphertextException", label[i], err)
			continue
		}
		if msg := wantErr(t, err, "InvalidCiphertextException"); msg != msgInvalidCiphertext {
			t.Errorf("%s: message %q differs", label[i], msg)
		}
	}
	// The same through ReEncrypt, for a sample.
	for i := 0; i < len(bad); i += 7 {
		_, err := c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: bad[i], SourceEncryptionContext: ec, DestinationKeyId: &other})
		if msg := wantErr(t, err, "InvalidCiphertextException"); msg != msgInvalidCiphertext {
			t.Errorf("ReEncrypt %s: message %q", label[i], msg)
		}
	}
	// The untouched blob still decrypts; an empty or over-long blob is a
	// validation error, not a ciphertext error.
	if got := decrypt(t, n, blob, ec).Plaintext; !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt %q", got)
	}
	_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: []byte{}})
	wantErr(t, err, "ValidationException")
	_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: randBytes(6145)})
	wantErr(t, err, "ValidationException")
}

// TestNoSecretsInDataDir: plaintexts, data keys and random bytes that pass
// through the API appear nowhere under the node's data directory (audit log,
// Raft log, snapshots), in any common encoding, while the audit log does
// record the calls.
func TestNoSecretsInDataDir(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id, dst := newKeyID(t, n), newKeyID(t, n)
	secret := []byte("kmsnode-test-plaintext-7f3a9c2e51d84b06")
	blob := encrypt(t, n, id, secret, map[string]string{"purpose": "audit-check"})
	decrypt(t, n, blob, map[string]string{"purpose": "audit-check"})
	re, err := c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: map[string]string{"purpose": "audit-check"}, DestinationKeyId: &dst})
	mustOK(t, "ReEncrypt", err)
	decrypt(t, n, re.CiphertextBlob, nil)
	dk, err := c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &id, KeySpec: types.DataKeySpecAes256})
	mustOK(t, "GenerateDataKey", err)
	rnd, err := c.GenerateRandom(ctx(t), &awskms.GenerateRandomInput{NumberOfBytes: i32(32)})
	mustOK(t, "GenerateRandom", err)
	// A refused request carrying a plaintext is audited too.
	_, err = c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: aws.String("alias/none"), Plaintext: secret})
	wantErr(t, err, "NotFoundException")
	last, err := c.ListKeys(ctx(t), &awskms.ListKeysInput{Limit: i32(1)})
	mustOK(t, "ListKeys", err)
	lastID, _ := middlewareRequestID(last.ResultMetadata)

	auditLog := filepath.Join(n.Config.DataDir, "audit.log")
	testnode.Eventually(t, 10*time.Second, "the audit log records the last call", func() bool {
		b, err := os.ReadFile(auditLog)
		return err == nil && lastID != "" && bytes.Contains(b, []byte(lastID))
	})
	log, _ := os.ReadFile(auditLog)
	for _, op := range []string{"Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateRandom"} {
		if !bytes.Contains(log, []byte(`"`+op+`"`)) {
			t.Errorf("the audit log has no %s record", op)
		}
	}
	if !bytes.Contains(log, []byte("audit-check")) {
		t.Errorf("the audit log does not record the encryption context")
	}

	secrets := map[string][]byte{"plaintext": secret, "data key": dk.Plaintext, "random bytes": rnd.Plaintext}
	err = filepath.WalkDir(n.Config.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // a file that vanished (compaction) holds nothing
		}
		for name, s := range secrets {
			for enc, v := range map[string][]byte{
				"raw": s, "base64": []byte(base64.StdEncoding.EncodeToString(s)),
				"base64url": []byte(base64.RawURLEncoding.EncodeToString(s)), "hex": []byte(hex.EncodeToString(s)),
			} {
				if bytes.Contains(b, v) {
					t.Errorf("%s (%s) found in %s", name, enc, path)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func middlewareRequestID(md middleware.Metadata) (string, bool) {
	return awsmiddleware.GetRequestIDMetadata(md)
}
