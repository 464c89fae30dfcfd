//go:build pkcs11 && cgo

package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/kms"
)

// The pkcs11 provider (design-notes §5.2) keeps the unseal key in an HSM: a
// non-extractable AES-256 secret key object found by its label. The root
// key is wrapped inside the token with CKM_AES_GCM (SoftHSM2 2.6 lists
// AES-GCM for encrypt and decrypt), a random 12-byte IV and the provider's
// aad (crypto.RootAAD) as GCM additional data, so the binding to region and
// provider is the HSM's own tag check. Stored form: iv(12) ‖ ciphertext ‖
// tag(16). CKM_AES_KEY_WRAP_PAD would need an outer MAC for the aad, and
// wraps keys rather than data: GCM is the simpler and stronger choice.
//
// Each Wrap or Unwrap opens the module, a session and a login, and closes
// them again: the provider is used a few times per process (start,
// rekey), so it holds no HSM resources in between, and one token's
// sessions never outlive the operation.

const (
	pkcs11Name    = "pkcs11"
	gcmIVSize     = 12
	gcmTagSize    = 16
	pkcs11PINEnv  = "KMSNODE_PKCS11_PIN"
	maxPINFileLen = 4 << 10
)

func init() { unsealProviders[pkcs11Name] = pkcs11UnsealerFor }

// p11 serialises every PKCS#11 call of the process and keeps one handle per
// module path. PKCS#11 login state belongs to the application (all its
// sessions with a token), so two operations must not interleave a login
// and a session close. Modules are loaded once and never unloaded:
// dlclose of a module linked with OpenSSL (SoftHSM among others) can crash
// the process at exit, and a loaded library costs nothing.
var p11 struct {
	sync.Mutex
	mods map[string]*pkcs11.Ctx
}

// pkcs11Unsealer wraps and unwraps the root key with an AES key in a token.
type pkcs11Unsealer struct {
	cfg PKCS11SealConfig
	pin []byte
	log *slog.Logger
}

func pkcs11UnsealerFor(c *Config, _ bool) (kms.Unsealer, bool, error) {
	pin, err := readPKCS11PIN(c.Seal.PKCS11.PINFile)
	if err != nil {
		return nil, false, err
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &pkcs11Unsealer{cfg: c.Seal.PKCS11, pin: pin, log: log}
	// Find the token, log in and find the key now, so that a wrong module,
	// token, PIN or label fails the start with its own message. With
	// CreateKey a missing key is made by Wrap, which runs only when a new
	// root key is wrapped (a new region): an existing region's root opens
	// only with the key that wrapped it.
	err = u.withSession(false, func(mod *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
		_, found, err := u.findKey(mod, sh)
		if err == nil && !found && !u.cfg.CreateKey {
			err = fmt.Errorf("node: seal pkcs11: %s has no AES key labelled %q (create one, or let a new region create it with --seal-pkcs11-create-key)", u.token(), u.cfg.KeyLabel)
		}
		return err
	})
	if err != nil {
		u.Wipe()
		return nil, false, err
	}
	return u, false, nil
}

// readPKCS11PIN reads the user PIN from file (trailing line break dropped)
// or from KMSNODE_PKCS11_PIN, which it clears.
func readPKCS11PIN(file string) ([]byte, error) {
	var pin []byte
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("node: seal pkcs11: read the PIN: %w", err)
		}
		defer crypto.Zero(b)
		if len(b) > maxPINFileLen {
			return nil, fmt.Errorf("node: seal pkcs11: the PIN file %s is larger than %d bytes", file, maxPINFileLen)
		}
		pin = append([]byte(nil), bytes.TrimRight(b, "\r\n")...)
	} else {
		pin = []byte(os.Getenv(pkcs11PINEnv)) // the environment's own copy cannot be zeroed
		os.Unsetenv(pkcs11PINEnv)
	}
	if len(pin) == 0 {
		return nil, fmt.Errorf("node: seal pkcs11: no PIN: give --seal-pkcs11-pin-file or set %s", pkcs11PINEnv)
	}
	return pin, nil
}

// Name implements kms.Unsealer.
func (u *pkcs11Unsealer) Name() string { return pkcs11Name }

// Wrap implements kms.Unsealer: AES-GCM encryption of root inside the HSM.
func (u *pkcs11Unsealer) Wrap(ctx context.Context, root, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	iv, err := crypto.Random(gcmIVSize)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = u.withSession(u.cfg.CreateKey, func(mod *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
		key, found, err := u.findKey(mod, sh)
		switch {
		case err != nil:
			return err
		case !found && !u.cfg.CreateKey:
			return fmt.Errorf("node: seal pkcs11: %s has no AES key labelled %q", u.token(), u.cfg.KeyLabel)
		case !found:
			if key, err = u.generateKey(mod, sh); err != nil {
				return err
			}
		}
		params := pkcs11.NewGCMParams(iv, aad, gcmTagSize*8)
		defer params.Free()
		if err := mod.EncryptInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, key); err != nil {
			return u.opErr("C_EncryptInit (CKM_AES_GCM)", err)
		}
		ct, err := mod.Encrypt(sh, root)
		if err != nil {
			return u.opErr("C_Encrypt", err)
		}
		// Some HSMs choose the IV themselves and write it back into the
		// parameters; store the one that was used.
		used := params.IV()
		if len(used) != gcmIVSize || len(ct) != len(root)+gcmTagSize {
			return fmt.Errorf("node: seal pkcs11: the HSM returned a %d-byte IV and %d-byte ciphertext for a %d-byte key; want %d and %d", len(used), len(ct), len(root), gcmIVSize, len(root)+gcmTagSize)
		}
		out = append(used, ct...)
		return nil
	})
	return out, err
}

// splitPKCS11Wrapped splits a stored iv ‖ ciphertext ‖ tag.
func splitPKCS11Wrapped(wrapped []byte) (iv, ct []byte, err error) {
	if len(wrapped) < gcmIVSize+gcmTagSize+1 {
		return nil, nil, fmt.Errorf("node: seal pkcs11: the wrapped root key is %d bytes, too short for iv‖ciphertext‖tag", len(wrapped))
	}
	return wrapped[:gcmIVSize:gcmIVSize], wrapped[gcmIVSize:], nil
}

// Unwrap implements kms.Unsealer: AES-GCM decryption inside the HSM, which
// checks the tag over the ciphertext and aad.
func (u *pkcs11Unsealer) Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	iv, ct, err := splitPKCS11Wrapped(wrapped)
	if err != nil {
		return nil, err
	}
	var root []byte
	err = u.withSession(false, func(mod *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
		key, found, err := u.findKey(mod, sh)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("node: seal pkcs11: %s has no AES key labelled %q: the key that wrapped this region's root key is not there", u.token(), u.cfg.KeyLabel)
		}
		params := pkcs11.NewGCMParams(append([]byte(nil), iv...), aad, gcmTagSize*8)
		defer params.Free()
		if err := mod.DecryptInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, key); err != nil {
			return u.opErr("C_DecryptInit (CKM_AES_GCM)", err)
		}
		pt, err := mod.Decrypt(sh, ct)
		// A failed tag check is CKR_ENCRYPTED_DATA_INVALID in the
		// standard; SoftHSM2 2.6 reports it as CKR_GENERAL_ERROR.
		if isCKR(err, pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE, pkcs11.CKR_DATA_INVALID, pkcs11.CKR_DATA_LEN_RANGE, pkcs11.CKR_GENERAL_ERROR) {
			return fmt.Errorf("node: seal pkcs11: key %q does not open the wrapped root key (another key, another region, or a damaged blob): %v", u.cfg.KeyLabel, err)
		}
		if err != nil {
			return u.opErr("C_Decrypt", err)
		}
		root = pt
		return nil
	})
	return root, err
}

// Wipe zeroes the PIN. (The module's own copies, and the string Login
// takes, are outside this process's control.)
func (u *pkcs11Unsealer) Wipe() { crypto.Zero(u.pin) }

// withSession runs fn with a logged-in session on the token, read-write
// when rw (to create the key).
func (u *pkcs11Unsealer) withSession(rw bool, fn func(*pkcs11.Ctx, pkcs11.SessionHandle) error) error {
	p11.Lock()
	defer p11.Unlock()
	mod, err := loadPKCS11Module(u.cfg.Lib)
	if err != nil {
		return err
	}
	err = mod.Initialize()
	switch {
	case err == nil:
		// Finalizing ends every session and the login, and lets the
		// next operation re-read the module's configuration.
		defer mod.Finalize()
	case isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED):
		// Another part of the process initialised it: leave it so.
	default:
		return fmt.Errorf("node: seal pkcs11: C_Initialize of %s: %v", u.cfg.Lib, err)
	}
	slot, err := u.findSlot(mod)
	if err != nil {
		return err
	}
	flags := uint(pkcs11.CKF_SERIAL_SESSION)
	if rw {
		flags |= pkcs11.CKF_RW_SESSION
	}
	sh, err := mod.OpenSession(slot, flags)
	if err != nil {
		return fmt.Errorf("node: seal pkcs11: C_OpenSession on %s: %v", u.token(), err)
	}
	// Closing the application's last session with the token logs it out.
	defer mod.CloseSession(sh)
	if err := mod.Login(sh, pkcs11.CKU_USER, string(u.pin)); err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		switch {
		case isCKR(err, pkcs11.CKR_PIN_INCORRECT):
			return fmt.Errorf("node: seal pkcs11: %s refused the PIN (CKR_PIN_INCORRECT)", u.token())
		case isCKR(err, pkcs11.CKR_PIN_LOCKED):
			return fmt.Errorf("node: seal pkcs11: the user PIN of %s is locked (CKR_PIN_LOCKED)", u.token())
		}
		return fmt.Errorf("node: seal pkcs11: C_Login to %s: %v", u.token(), err)
	}
	return fn(mod, sh)
}

func loadPKCS11Module(lib string) (*pkcs11.Ctx, error) {
	if mod := p11.mods[lib]; mod != nil {
		return mod, nil
	}
	if strings.ContainsRune(lib, os.PathSeparator) {
		// dlopen's own failure is not reported by the binding: say why here.
		if _, err := os.Stat(lib); err != nil {
			return nil, fmt.Errorf("node: seal pkcs11: PKCS#11 module: %w", err)
		}
	}
	mod := pkcs11.New(lib)
	if mod == nil {
		return nil, fmt.Errorf("node: seal pkcs11: %s cannot be loaded as a PKCS#11 module (not a shared library for this platform, or a missing dependency)", lib)
	}
	if p11.mods == nil {
		p11.mods = map[string]*pkcs11.Ctx{}
	}
	p11.mods[lib] = mod
	return mod, nil
}

// token names the configured token for messages.
func (u *pkcs11Unsealer) token() string {
	if u.cfg.TokenLabel != "" {
		return fmt.Sprintf("token %q", u.cfg.TokenLabel)
	}
	return fmt.Sprintf("the token in slot %d", *u.cfg.Slot)
}

// findSlot returns the slot of the configured token: by slot ID, or by
// label (which must be unique: HSMs renumber slots, labels stay).
func (u *pkcs11Unsealer) findSlot(mod *pkcs11.Ctx) (uint, error) {
	slots, err := mod.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("node: seal pkcs11: C_GetSlotList: %v", err)
	}
	var found []uint
	var labels []string
	for _, s := range slots {
		ti, err := mod.GetTokenInfo(s)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		labels = append(labels, ti.Label)
		if (u.cfg.Slot != nil && s == *u.cfg.Slot) || (u.cfg.Slot == nil && ti.Label == u.cfg.TokenLabel) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return 0, fmt.Errorf("node: seal pkcs11: no initialised %s in %s (initialised tokens: %q)", strings.TrimPrefix(u.token(), "the "), u.cfg.Lib, labels)
	}
	return 0, fmt.Errorf("node: seal pkcs11: %d tokens are labelled %q; choose one with --seal-pkcs11-slot", len(found), u.cfg.TokenLabel)
}

// findKey returns the token's AES key labelled KeyLabel, if there is one.
// It must be unique and 256 bits long.
func (u *pkcs11Unsealer) findKey(mod *pkcs11.Ctx, sh pkcs11.SessionHandle) (pkcs11.ObjectHandle, bool, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.cfg.KeyLabel),
	}
	if err := mod.FindObjectsInit(sh, tmpl); err != nil {
		return 0, false, fmt.Errorf("node: seal pkcs11: C_FindObjectsInit: %v", err)
	}
	objs, _, err := mod.FindObjects(sh, 2)
	if ferr := mod.FindObjectsFinal(sh); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		return 0, false, fmt.Errorf("node: seal pkcs11: C_FindObjects: %v", err)
	}
	switch len(objs) {
	case 0:
		return 0, false, nil
	case 1:
	default:
		return 0, false, fmt.Errorf("node: seal pkcs11: several AES keys on %s are labelled %q; the unseal key's label must be unique", u.token(), u.cfg.KeyLabel)
	}
	key := objs[0]
	attrs, err := mod.GetAttributeValue(sh, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil)})
	if err != nil {
		return 0, false, fmt.Errorf("node: seal pkcs11: reading CKA_VALUE_LEN of key %q: %v", u.cfg.KeyLabel, err)
	}
	if !bytes.Equal(attrs[0].Value, pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, crypto.KeySize).Value) {
		return 0, false, fmt.Errorf("node: seal pkcs11: key %q on %s is not an AES-256 key", u.cfg.KeyLabel, u.token())
	}
	// An extractable key works, but then the unseal key can leave the HSM
	// (some operators want that for HSM-to-HSM backup): say so.
	if a, err := mod.GetAttributeValue(sh, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil)}); err == nil && len(a[0].Value) == 1 && a[0].Value[0] != 0 {
		u.log.Warn("the PKCS#11 unseal key is extractable: it can be exported from the HSM", "token", u.token(), "key_label", u.cfg.KeyLabel)
	}
	return key, true, nil
}

// generateKey creates the unseal key: a token object that never leaves the
// HSM in clear (sensitive, not extractable) and only encrypts and decrypts.
func (u *pkcs11Unsealer) generateKey(mod *pkcs11.Ctx, sh pkcs11.SessionHandle) (pkcs11.ObjectHandle, error) {
	key, err := mod.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, crypto.KeySize),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.cfg.KeyLabel),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
	})
	if err != nil {
		return 0, fmt.Errorf("node: seal pkcs11: generating AES-256 key %q on %s: %v", u.cfg.KeyLabel, u.token(), err)
	}
	u.log.Info("created the PKCS#11 unseal key", "token", u.token(), "key_label", u.cfg.KeyLabel)
	return key, nil
}

// opErr describes a failed cryptographic call on the key.
func (u *pkcs11Unsealer) opErr(op string, err error) error {
	if isCKR(err, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED) {
		return fmt.Errorf("node: seal pkcs11: key %q on %s may not encrypt and decrypt (CKA_ENCRYPT and CKA_DECRYPT must be true): %v", u.cfg.KeyLabel, u.token(), err)
	}
	if isCKR(err, pkcs11.CKR_MECHANISM_INVALID, pkcs11.CKR_MECHANISM_PARAM_INVALID) {
		return fmt.Errorf("node: seal pkcs11: %s does not support CKM_AES_GCM with a 12-byte IV and 128-bit tag (%s: %v)", u.token(), op, err)
	}
	return fmt.Errorf("node: seal pkcs11: %s with key %q on %s: %v", op, u.cfg.KeyLabel, u.token(), err)
}

// isCKR reports whether err is one of the PKCS#11 return values codes.
func isCKR(err error, codes ...uint) bool {
	var e pkcs11.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if uint(e) == c {
			return true
		}
	}
	return false
}
