package node

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kmsnode/kmsnode/crypto"
)

// loadUnsealKey returns the unseal key (KEK) of the configured provider. The
// caller zeroes it. With CreateKeyFile, a missing key file of a new region
// (fresh: no Raft state yet) is created with a random key (development
// mode); created reports that. An existing region never gets a new key: it
// would not open the region's root key.
func loadUnsealKey(c *Config, fresh bool) (kek []byte, created bool, err error) {
	switch c.Seal.Provider {
	case "env":
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
		return decodeKey(v)
	case "file":
		path := c.Seal.KeyFile
		if path == "" {
			path = filepath.Join(c.DataDir, "unseal.key")
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) && c.Seal.CreateKeyFile {
			if !fresh {
				return nil, false, fmt.Errorf("node: the unseal key file %s is missing, and %s holds an existing region that only its own unseal key opens", path, c.DataDir)
			}
			return createKeyFile(path)
		}
		if err != nil {
			return nil, false, fmt.Errorf("node: read unseal key: %w", err)
		}
		defer crypto.Zero(b)
		return decodeKey(b)
	}
	return nil, false, fmt.Errorf("node: unknown seal provider %q", c.Seal.Provider)
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
