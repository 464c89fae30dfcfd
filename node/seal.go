package node

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/kms"
)

// unsealProvider builds the Unsealer of one seal provider from the node's
// configuration. fresh says the data directory holds no region yet (only
// then may a development key be created); created reports that it was.
type unsealProvider func(c *Config, fresh bool) (u kms.Unsealer, created bool, err error)

// unsealProviders maps --seal names to their constructors. Providers in
// their own files (shamir, pkcs11, kmsapi) add themselves from init.
var unsealProviders = map[string]unsealProvider{
	"file": fileUnsealer,
	"env":  envUnsealer,
}

// providerNames lists the registered providers, sorted, for messages.
func providerNames() string {
	names := make([]string, 0, len(unsealProviders))
	for n := range unsealProviders {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// loadUnsealer returns the configured provider's Unsealer. The caller wipes
// it (if it is a *kms.KEKUnsealer) once the node is unsealed.
func loadUnsealer(c *Config, fresh bool) (kms.Unsealer, bool, error) {
	p, ok := unsealProviders[c.Seal.Provider]
	if !ok {
		return nil, false, fmt.Errorf("node: unknown seal provider %q (%s)", c.Seal.Provider, providerNames())
	}
	return p(c, fresh)
}

// kekUnsealer wraps a KEK held in memory; it zeroes kek.
func kekUnsealer(name string, kek []byte, created bool, err error) (kms.Unsealer, bool, error) {
	if err != nil {
		return nil, false, err
	}
	defer crypto.Zero(kek)
	return kms.NewKEKUnsealer(name, kek), created, nil
}

// envUnsealer reads the base64 KEK from an environment variable and clears
// the variable.
func envUnsealer(c *Config, _ bool) (kms.Unsealer, bool, error) {
	name := c.Seal.EnvVar
	if name == "" {
		name = "KMSNODE_SEAL_KEY"
	}
	v := []byte(os.Getenv(name)) // the environment's own copy cannot be zeroed
	os.Unsetenv(name)
	defer crypto.Zero(v)
	if len(v) == 0 {
		return nil, false, fmt.Errorf("node: unseal key variable %s is empty", name)
	}
	kek, _, err := decodeKey(v)
	return kekUnsealer("env", kek, false, err)
}

// fileUnsealer reads the KEK from a file. With CreateKeyFile, a missing key
// file of a new region (fresh: no Raft state yet) is created with a random
// key (development mode). An existing region never gets a new key: it would
// not open the region's root key.
func fileUnsealer(c *Config, fresh bool) (kms.Unsealer, bool, error) {
	path := c.Seal.KeyFile
	if path == "" {
		path = filepath.Join(c.DataDir, "unseal.key")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && c.Seal.CreateKeyFile {
		if !fresh {
			return nil, false, fmt.Errorf("node: the unseal key file %s is missing, and %s holds an existing region that only its own unseal key opens", path, c.DataDir)
		}
		kek, created, err := createKeyFile(path)
		return kekUnsealer("file", kek, created, err)
	}
	if err != nil {
		return nil, false, fmt.Errorf("node: read unseal key: %w", err)
	}
	defer crypto.Zero(b)
	kek, _, err := decodeKey(b)
	return kekUnsealer("file", kek, false, err)
}

// decodeKey accepts 32 raw bytes or their standard base64 text. It works on
// the caller's bytes (no string copies that could not be zeroed).
func decodeKey(b []byte) ([]byte, bool, error) {
	if len(b) == crypto.KeySize {
		return append([]byte(nil), b...), false, nil
	}
	t := bytes.TrimSpace(b)
	k := make([]byte, base64.StdEncoding.DecodedLen(len(t)))
	n, err := base64.StdEncoding.Decode(k, t)
	if err != nil || n != crypto.KeySize {
		crypto.Zero(k)
		return nil, false, errors.New("node: the unseal key must be 32 bytes, raw or base64")
	}
	return k[:n], false, nil
}

func createKeyFile(path string) ([]byte, bool, error) {
	k, err := crypto.Random(crypto.KeySize)
	if err != nil {
		return nil, false, err
	}
	text := make([]byte, base64.StdEncoding.EncodedLen(len(k))+1)
	base64.StdEncoding.Encode(text, k)
	text[len(text)-1] = '\n'
	defer crypto.Zero(text)
	if err := writeDurable(path, text, 0o400); err != nil {
		crypto.Zero(k)
		return nil, false, fmt.Errorf("node: write unseal key: %w", err)
	}
	return k, true, nil
}

// writeDurable writes a new file atomically and durably: a temporary file,
// fsync, rename, fsync of the directory. The region is sealed under this key
// right after, so the key must not be lost to a power cut.
func writeDurable(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".unseal-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
