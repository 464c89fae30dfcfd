package kms

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
)

// TestUnsealSharesExpire: shares given to a sealed node short of the
// threshold are dropped after shareTTL, not kept in memory for ever.
func TestUnsealSharesExpire(t *testing.T) {
	defer func(d time.Duration) { shareTTL = d }(shareTTL)
	shareTTL = 50 * time.Millisecond
	ctx := context.Background()
	lc := &logCluster{f: fsm.New()}
	cfg := Config{Region: "us-east-1", AccountID: "111122223333"}
	kek := bytes.Repeat([]byte{9}, 32)
	if created, err := New(cfg, lc, lc.f).Initialise(ctx, NewKEKUnsealer(ShamirProvider, kek), &fsm.ShamirParams{Shares: 3, Threshold: 2}, func() error { return nil }); err != nil || !created {
		t.Fatalf("Initialise = %v, %v", created, err)
	}
	shares, err := crypto.Split(kek, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	sealed := New(cfg, lc, lc.f) // another node of the region, started sealed
	sealed.SetSealProvider(ShamirProvider)
	st, err := sealed.UnsealShare(ctx, shares[0], false)
	if err != nil || st.Progress != 1 {
		t.Fatalf("first share: %+v, %v", st, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sealed.SealStatus(ctx).Progress != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the share was not dropped after shareTTL")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	// The expiry reset the progress only: two shares still unseal.
	for _, s := range shares[1:] {
		if st, err = sealed.UnsealShare(ctx, s, false); err != nil {
			t.Fatal(err)
		}
	}
	if sealed.Sealed() {
		t.Fatalf("two shares after an expiry did not unseal: %+v", st)
	}
}
