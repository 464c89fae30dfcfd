package main

import (
	"os"
	"testing"
)

// TestMain keeps the developer's AWS credentials out of the tests: with
// them, `kmsctl status` against the fake nodes of the parallel status tests
// would also make a signed call. Tests that need credentials set them
// (devEnv).
func TestMain(m *testing.M) {
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		os.Unsetenv(v)
	}
	os.Exit(m.Run())
}
