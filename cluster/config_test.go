package cluster_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmsnode/kmsnode/cluster"
	"github.com/kmsnode/kmsnode/fsm"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := func() cluster.Config {
		return cluster.Config{NodeID: "n1", DataDir: "/nonexistent/kmsnode-test", Lease: time.Second}
	}
	for _, tc := range []struct {
		name    string
		edit    func(*cluster.Config)
		wantErr string // substring; "" = valid
	}{
		{"valid", func(*cluster.Config) {}, ""},
		{"default lease", func(c *cluster.Config) { c.Lease = 0 }, ""},
		{"lease at minimum", func(c *cluster.Config) { c.Lease = 250 * time.Millisecond }, ""},
		{"lease at maximum", func(c *cluster.Config) { c.Lease = 10 * time.Second }, ""},
		{"empty node ID", func(c *cluster.Config) { c.NodeID = "" }, "node ID"},
		{"empty data dir", func(c *cluster.Config) { c.DataDir = "" }, "data directory"},
		{"lease 100ms", func(c *cluster.Config) { c.Lease = 100 * time.Millisecond }, "lease"},
		{"lease just below minimum", func(c *cluster.Config) { c.Lease = 250*time.Millisecond - 1 }, "lease"},
		{"lease 11s", func(c *cluster.Config) { c.Lease = 11 * time.Second }, "lease"},
		{"lease just above maximum", func(c *cluster.Config) { c.Lease = 10*time.Second + 1 }, "lease"},
		{"negative lease", func(c *cluster.Config) { c.Lease = -time.Second }, "lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.edit(&cfg)
			err := cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("Validate() = nil, want an error about %s", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("Validate() = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

// Open refuses an invalid configuration before touching the disk.
func TestOpenRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	for _, lease := range []time.Duration{100 * time.Millisecond, 11 * time.Second} {
		cfg := testConfig(t, dir)
		cfg.Lease = lease
		c, err := cluster.Open(cfg, fsm.New())
		if err == nil {
			c.Close()
			t.Fatalf("Open with lease %v succeeded", lease)
		}
	}
	cfg := testConfig(t, dir)
	cfg.NodeID = ""
	if c, err := cluster.Open(cfg, fsm.New()); err == nil {
		c.Close()
		t.Fatal("Open without a node ID succeeded")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Open with an invalid config created %s (stat: %v)", dir, err)
	}
}
