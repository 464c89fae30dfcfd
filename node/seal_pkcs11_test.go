//go:build pkcs11 && cgo

package node_test

// seal=pkcs11 against SoftHSM2: a real token in a temporary directory, real
// nodes over HTTP. The tests talk to the token themselves (miekg/pkcs11) to
// make keys and to check the stored format independently of the provider.
// They set SOFTHSM2_CONF, so they do not run in parallel.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/miekg/pkcs11"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

const (
	softhsmLib   = "/usr/lib/softhsm/libsofthsm2.so"
	softhsmToken = "kms-test"
	softhsmPIN   = "1234"
)

// softHSM is a SoftHSM2 token initialised in a temporary directory.
type softHSM struct {
	pinFile string
	mod     *pkcs11.Ctx
}

// newSoftHSM initialises a fresh token labelled kms-test (PIN 1234), or
// skips the test when SoftHSM2 is not installed.
func newSoftHSM(t testing.TB) *softHSM {
	t.Helper()
	if _, err := os.Stat(softhsmLib); err != nil {
		t.Skipf("SoftHSM2 is not installed (%v): apt-get install softhsm2", err)
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Skipf("softhsm2-util is not installed (%v): apt-get install softhsm2", err)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	mustOK(t, "mkdir tokens", os.Mkdir(tokens, 0o700))
	conf := filepath.Join(dir, "softhsm2.conf")
	mustOK(t, "write softhsm2.conf", os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600))
	// Read by SoftHSM at each C_Initialize; the provider finalises the
	// module after each operation, so every test sees its own tokens.
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command(util, "--init-token", "--free", "--label", softhsmToken, "--pin", softhsmPIN, "--so-pin", "0000").CombinedOutput()
	mustOK(t, "softhsm2-util --init-token: "+string(out), err)
	h := &softHSM{pinFile: filepath.Join(dir, "pin"), mod: pkcs11.New(softhsmLib)}
	mustOK(t, "write PIN file", os.WriteFile(h.pinFile, []byte(softhsmPIN+"\n"), 0o600))
	if h.mod == nil {
		t.Fatalf("load %s", softhsmLib)
	}
	return h
}

// session runs fn in a logged-in read-write session of the test token.
func (h *softHSM) session(t testing.TB, fn func(sh pkcs11.SessionHandle)) {
	t.Helper()
	mustOK(t, "C_Initialize", h.mod.Initialize())
	defer h.mod.Finalize()
	slots, err := h.mod.GetSlotList(true)
	mustOK(t, "C_GetSlotList", err)
	for _, s := range slots {
		ti, err := h.mod.GetTokenInfo(s)
		mustOK(t, "C_GetTokenInfo", err)
		if ti.Label != softhsmToken {
			continue
		}
		sh, err := h.mod.OpenSession(s, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		mustOK(t, "C_OpenSession", err)
		defer h.mod.CloseSession(sh)
		mustOK(t, "C_Login", h.mod.Login(sh, pkcs11.CKU_USER, softhsmPIN))
		fn(sh)
		return
	}
	t.Fatalf("no token %s", softhsmToken)
}

// generateKey makes an AES key of size bytes, as an operator would: a
// sensitive, non-extractable token object.
func (h *softHSM) generateKey(t testing.TB, label string, size int) {
	t.Helper()
	h.session(t, func(sh pkcs11.SessionHandle) {
		_, err := h.mod.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, size),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		})
		mustOK(t, "C_GenerateKey "+label, err)
	})
}

// keys returns the handles of the AES keys labelled label, and fn's view
// of each.
func (h *softHSM) keys(t testing.TB, label string, fn func(sh pkcs11.SessionHandle, key pkcs11.ObjectHandle)) int {
	t.Helper()
	n := 0
	h.session(t, func(sh pkcs11.SessionHandle) {
		mustOK(t, "C_FindObjectsInit", h.mod.FindObjectsInit(sh, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		}))
		objs, _, err := h.mod.FindObjects(sh, 10)
		mustOK(t, "C_FindObjects", err)
		mustOK(t, "C_FindObjectsFinal", h.mod.FindObjectsFinal(sh))
		for _, o := range objs {
			fn(sh, o)
		}
		n = len(objs)
	})
	return n
}

// gcmOpen decrypts a stored iv ‖ ciphertext ‖ tag with the key labelled
// label, as the format is documented, without the provider's code.
func (h *softHSM) gcmOpen(t testing.TB, label string, wrapped, aad []byte) (pt []byte, err error) {
	t.Helper()
	if len(wrapped) != 12+crypto.KeySize+16 {
		t.Fatalf("wrapped root key is %d bytes, want iv(12) ‖ ct(32) ‖ tag(16)", len(wrapped))
	}
	h.keys(t, label, func(sh pkcs11.SessionHandle, key pkcs11.ObjectHandle) {
		params := pkcs11.NewGCMParams(append([]byte(nil), wrapped[:12]...), aad, 128)
		defer params.Free()
		mustOK(t, "C_DecryptInit", h.mod.DecryptInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, key))
		pt, err = h.mod.Decrypt(sh, wrapped[12:])
	})
	return pt, err
}

// pkcs11Config is a test node sealed by the key labelled keyLabel.
func (h *softHSM) config(dir, keyLabel string) node.Config {
	cfg := testConfig(dir)
	cfg.Seal = node.SealConfig{Provider: "pkcs11", PKCS11: node.PKCS11SealConfig{
		Lib: softhsmLib, TokenLabel: softhsmToken, KeyLabel: keyLabel, PINFile: h.pinFile,
	}}
	return cfg
}

func startPKCS11(t *testing.T, cfg node.Config) (*node.Node, *awskms.Client) {
	t.Helper()
	n, err := node.Start(context.Background(), cfg)
	mustOK(t, "start node (seal=pkcs11)", err)
	t.Cleanup(func() { n.Close() })
	return n, clientOf(n, cfg)
}

func clientOf(n *node.Node, cfg node.Config) *awskms.Client {
	return testnode.NewClient(n.URL(), cfg.Region, node.DevAccessKeyID, node.DevSecretAccessKey)
}

func TestPKCS11SealRestart(t *testing.T) {
	h := newSoftHSM(t)
	h.generateKey(t, "kms-root", 32)
	h.generateKey(t, "kms-other", 32)
	dir := t.TempDir()
	cfg := h.config(dir, "kms-root")

	n, c := startPKCS11(t, cfg)
	var cts []sealed
	for i := range 3 {
		id := newKey(t, c, &awskms.CreateKeyInput{Description: aws.String(fmt.Sprintf("pkcs11 %d", i))})
		cts = append(cts, encrypt(t, c, fmt.Sprintf("before restart %d", i), id, id, map[string]string{"i": fmt.Sprint(i)}))
	}
	seal := n.FSM().Seal()
	if seal == nil || len(seal.WrappedRoot) != 1 || seal.WrappedRoot["pkcs11"] == nil {
		t.Fatalf("wrapped root keys: want only pkcs11, got %v", seal)
	}
	wrapped := seal.WrappedRoot["pkcs11"]
	mustOK(t, "close", n.Close())

	// The stored form is iv ‖ AES-GCM(KEK, root, aad) and opens, in the
	// HSM, only with the key that made it and this region's aad.
	aad := crypto.RootAAD(cfg.Region, "pkcs11")
	root, err := h.gcmOpen(t, "kms-root", wrapped, aad)
	mustOK(t, "open the wrapped root with kms-root", err)
	if !crypto.VerifyRootCheck(root, seal.RootCheck) {
		t.Fatal("the HSM's plaintext of the wrapped root is not the region's root key")
	}
	if _, err := h.gcmOpen(t, "kms-other", wrapped, aad); err == nil {
		t.Fatal("the wrapped root opened with another AES key of the token")
	}
	if _, err := h.gcmOpen(t, "kms-root", wrapped, crypto.RootAAD("eu-west-1", "pkcs11")); err == nil {
		t.Fatal("the wrapped root opened with another region's aad")
	}
	tampered := bytes.Clone(wrapped)
	tampered[len(tampered)-1] ^= 1
	if _, err := h.gcmOpen(t, "kms-root", tampered, aad); err == nil {
		t.Fatal("a tampered wrapped root opened")
	}
	findSecrets(t, dataFiles(t, dir), []secret{{"root key", root}}, nil)
	crypto.Zero(root)

	// Restart: the same key unseals the region and every ciphertext opens.
	n, c = startPKCS11(t, cfg)
	for _, s := range cts {
		mustDecrypt(t, c, s)
	}
	id := newKey(t, c, nil)
	mustDecrypt(t, c, encrypt(t, c, "after restart", id, id, nil))
	mustOK(t, "close", n.Close())

	// Another key of the same token does not open the region.
	wantStartErr(t, h.config(dir, "kms-other"), "kms-other", "does not open the wrapped root key")
}

func TestPKCS11SealStartErrors(t *testing.T) {
	h := newSoftHSM(t)
	h.generateKey(t, "kms-root", 32)
	h.generateKey(t, "kms-aes128", 16)
	h.generateKey(t, "kms-twice", 32)
	h.generateKey(t, "kms-twice", 32)
	// An existing region, sealed by kms-root.
	dir := t.TempDir()
	n, _ := startPKCS11(t, h.config(dir, "kms-root"))
	mustOK(t, "close", n.Close())

	wrongPIN := filepath.Join(t.TempDir(), "pin")
	mustOK(t, "write PIN", os.WriteFile(wrongPIN, []byte("4321"), 0o600))
	emptyPIN := filepath.Join(t.TempDir(), "empty")
	mustOK(t, "write PIN", os.WriteFile(emptyPIN, []byte("\n"), 0o600))
	slot := uint(999999)
	for _, tc := range []struct {
		name   string
		change func(*node.PKCS11SealConfig)
		want   []string
	}{
		{"wrong key label", func(p *node.PKCS11SealConfig) { p.KeyLabel = "no-such-key" }, []string{`no AES key labelled "no-such-key"`, softhsmToken}},
		{"wrong PIN", func(p *node.PKCS11SealConfig) { p.PINFile = wrongPIN }, []string{"refused the PIN", "CKR_PIN_INCORRECT"}},
		{"empty PIN", func(p *node.PKCS11SealConfig) { p.PINFile = emptyPIN }, []string{"no PIN"}},
		{"missing PIN file", func(p *node.PKCS11SealConfig) { p.PINFile = wrongPIN + ".missing" }, []string{"read the PIN"}},
		{"wrong token", func(p *node.PKCS11SealConfig) { p.TokenLabel = "no-such-token" }, []string{`token "no-such-token"`, softhsmToken}},
		{"wrong slot", func(p *node.PKCS11SealConfig) { p.TokenLabel, p.Slot = "", &slot }, []string{"slot 999999"}},
		{"wrong module", func(p *node.PKCS11SealConfig) { p.Lib = "/nonexistent/libpkcs11.so" }, []string{"/nonexistent/libpkcs11.so"}},
		{"not a module", func(p *node.PKCS11SealConfig) { p.Lib = h.pinFile }, []string{"cannot be loaded as a PKCS#11 module"}},
		{"AES-128 key", func(p *node.PKCS11SealConfig) { p.KeyLabel = "kms-aes128" }, []string{"kms-aes128", "not an AES-256 key"}},
		{"ambiguous label", func(p *node.PKCS11SealConfig) { p.KeyLabel = "kms-twice" }, []string{"kms-twice", "must be unique"}},
		{"create on an existing region", func(p *node.PKCS11SealConfig) { p.KeyLabel, p.CreateKey = "kms-new", true }, []string{`no AES key labelled "kms-new"`, "not there"}},
		{"no key label", func(p *node.PKCS11SealConfig) { p.KeyLabel = "" }, []string{"--seal-pkcs11-key-label"}},
		{"token and slot", func(p *node.PKCS11SealConfig) { p.Slot = &slot }, []string{"exactly one of"}},
	} {
		cfg := h.config(dir, "kms-root")
		tc.change(&cfg.Seal.PKCS11)
		t.Run(tc.name, func(t *testing.T) { wantStartErr(t, cfg, tc.want...) })
	}
	if n := h.keys(t, "kms-new", func(pkcs11.SessionHandle, pkcs11.ObjectHandle) {}); n != 0 {
		t.Fatalf("a start on an existing region created %d keys", n)
	}
	// After all that, the right settings still open the region.
	n, _ = startPKCS11(t, h.config(dir, "kms-root"))
	mustOK(t, "close", n.Close())
}

// --seal-pkcs11-create-key makes the key when a new region starts: a
// sensitive, non-extractable AES-256 token object, used again on restart.
// The PIN comes from KMSNODE_PKCS11_PIN, cleared once read.
func TestPKCS11SealCreateKeyAndEnvPIN(t *testing.T) {
	h := newSoftHSM(t)
	dir := t.TempDir()
	cfg := h.config(dir, "kms-created")
	cfg.Seal.PKCS11.PINFile = ""
	cfg.Seal.PKCS11.CreateKey = true
	t.Setenv("KMSNODE_PKCS11_PIN", softhsmPIN)
	n, c := startPKCS11(t, cfg)
	if v, ok := os.LookupEnv("KMSNODE_PKCS11_PIN"); ok {
		t.Fatalf("KMSNODE_PKCS11_PIN is still set (%d bytes)", len(v))
	}
	id := newKey(t, c, nil)
	s := encrypt(t, c, "created key", id, id, nil)
	mustOK(t, "close", n.Close())

	found := h.keys(t, "kms-created", func(sh pkcs11.SessionHandle, key pkcs11.ObjectHandle) {
		attrs, err := h.mod.GetAttributeValue(sh, key, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil),
		})
		mustOK(t, "C_GetAttributeValue", err)
		want := [][]byte{{1}, {1}, {0}, pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32).Value}
		for i, a := range attrs {
			if !bytes.Equal(a.Value, want[i]) {
				t.Errorf("attribute %#x = %x, want %x", a.Type, a.Value, want[i])
			}
		}
		// Sensitive: the token will not hand out its value.
		if _, err := h.mod.GetAttributeValue(sh, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); err == nil {
			t.Error("the created key's CKA_VALUE is readable")
		}
	})
	if found != 1 {
		t.Fatalf("%d keys labelled kms-created, want 1", found)
	}

	t.Setenv("KMSNODE_PKCS11_PIN", softhsmPIN)
	n, c = startPKCS11(t, cfg)
	mustDecrypt(t, c, s)
	mustOK(t, "close", n.Close())
	if found := h.keys(t, "kms-created", func(pkcs11.SessionHandle, pkcs11.ObjectHandle) {}); found != 1 {
		t.Fatalf("%d keys labelled kms-created after the restart, want 1", found)
	}
	// Without a PIN the start says where to put one.
	wantStartErr(t, cfg, "no PIN", "KMSNODE_PKCS11_PIN")
}

// The stored wrapped root is outside input to Unwrap (a damaged bolt file,
// a hostile snapshot): nothing but the genuine blob with its aad opens, and
// nothing panics or hangs the token. Without -fuzz this runs the seeds.
func FuzzPKCS11Unwrap(f *testing.F) {
	h := newSoftHSM(f)
	h.generateKey(f, "kms-root", 32)
	cfg := h.config(f.TempDir(), "kms-root")
	u, err := node.NewPKCS11Unsealer(&cfg)
	mustOK(f, "pkcs11 unsealer", err)
	root, err := crypto.Random(crypto.KeySize)
	mustOK(f, "random", err)
	aad := crypto.RootAAD(cfg.Region, "pkcs11")
	good, err := u.Wrap(context.Background(), root, aad)
	mustOK(f, "Wrap", err)
	if len(good) != 12+crypto.KeySize+16 {
		f.Fatalf("wrapped root is %d bytes, want 60", len(good))
	}
	flipped := bytes.Clone(good)
	flipped[20] ^= 0x80
	f.Add(good, aad)
	f.Add(good, crypto.RootAAD("eu-west-1", "pkcs11"))
	f.Add(good, []byte{})
	f.Add(good[:59], aad)
	f.Add(append(bytes.Clone(good), 0), aad)
	f.Add(flipped, aad)
	f.Add(good[:28], aad)
	f.Add(good[:29], aad)
	f.Add([]byte{}, aad)
	f.Add(make([]byte, 60), aad)
	f.Add(make([]byte, 4096), aad)
	f.Fuzz(func(t *testing.T, wrapped, a []byte) {
		pt, err := u.Unwrap(context.Background(), wrapped, a)
		if bytes.Equal(wrapped, good) && bytes.Equal(a, aad) {
			if err != nil || !bytes.Equal(pt, root) {
				t.Fatalf("the genuine blob did not open: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("a blob other than the genuine one opened (%d bytes, aad %q)", len(wrapped), a)
		}
	})
}
