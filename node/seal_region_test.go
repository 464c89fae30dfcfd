package node_test

// A 3-node shamir region through a full restart, a keyring rotation and a
// rekey: every node is unsealed on its own with a threshold of shares; a
// sealed node keeps replicating; keys made before the restart decrypt after
// it; new material is sealed under the newest term on every node; after a
// rekey only the new shares open a node.

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testcluster"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

func TestShamir_Region(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node region and restarts it")
	}
	out := &testnode.Buffer{}
	r := testcluster.Start(t, 3, func(c *node.Config) {
		c.Seal = node.SealConfig{Provider: "shamir", Output: out} // 5 shares, threshold 3
	})
	shares := waitShares(t, out, 5)
	var first *testcluster.Node
	testnode.Eventually(t, 30*time.Second, "the initialising node unsealed", func() bool {
		for _, n := range r.Nodes {
			if !n.Sealed() {
				first = n
				return true
			}
		}
		return false
	})
	// The others started sealed and open with shares: different subsets.
	subsets := [][]int{{0, 1, 2}, {2, 3, 4}, {4, 0, 2}}
	for i, n := range r.Nodes {
		if n != first {
			unsealNode(t, n.URL(), pick(shares, subsets[i])...)
		}
	}
	if c := strings.Count(out.String(), "Unseal share 1:"); c != 1 {
		t.Fatalf("shares printed %d times:\n%s", c, out)
	}
	a, b, c := r.Nodes[0], r.Nodes[1], r.Nodes[2]
	id := newKey(t, a.Client, nil)
	var cts []sealed
	testnode.Eventually(t, 10*time.Second, "the key visible on every node", func() bool {
		_, err := c.Client.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &id})
		return err == nil
	})
	cts = append(cts, encrypt(t, b.Client, "by b", id, id, nil))
	mustDecrypt(t, c.Client, cts[0])

	// Full restart: every node sealed; Raft runs anyway.
	for _, n := range r.Nodes {
		n.Stop()
	}
	for _, n := range r.Nodes {
		n.Restart() // returns at once: sealed
		if !n.Sealed() {
			t.Fatalf("%s restarted unsealed", n.ID)
		}
	}
	_ = r.Leader() // elected among sealed nodes
	_, err := b.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: cts[0].blob})
	testnode.WantErr(t, err, "KMSInternalException")

	// Unseal a alone; a key made through it replicates to sealed c.
	unsealNode(t, a.URL(), pick(shares, []int{1, 3, 4})...)
	id2 := newKey(t, a.Client, nil)
	testnode.Eventually(t, 10*time.Second, "a sealed node replicating", func() bool {
		_, ok := c.FSM().Key(id2)
		return ok
	})
	if !c.Sealed() {
		t.Fatal("c unsealed itself")
	}
	unsealNode(t, b.URL(), pick(shares, []int{0, 1, 2})...)
	unsealNode(t, c.URL(), pick(shares, []int{3, 4, 0})...)
	for _, n := range r.Nodes {
		mustDecrypt(t, n.Client, cts[0])
	}

	// Keyring rotation through a, then a key created through b: sealed
	// under term 2, opened by c (which loads the term it has not used).
	var rot struct{ KeyringTerm, Terms int }
	mustOK(t, "RotateKeyring", signed(a.Node).Call(ctx(t), "RotateKeyring", struct{}{}, &rot))
	if rot.KeyringTerm != 2 || rot.Terms != 2 {
		t.Fatalf("RotateKeyring = %+v, want term 2 of 2", rot)
	}
	testnode.Eventually(t, 10*time.Second, "the new term on b", func() bool {
		s := b.FSM().Seal()
		return s != nil && len(s.Terms) == 2
	})
	id3 := newKey(t, b.Client, nil)
	k, ok := b.FSM().Key(id3)
	if !ok {
		t.Fatal("the new key is not in b's FSM")
	}
	if term := binary.BigEndian.Uint32(k.Materials[0].Sealed); term != 2 {
		t.Fatalf("material created after the rotation is sealed under term %d, want 2", term)
	}
	cts = append(cts, encrypt(t, b.Client, "term 2 key", id3, id3, nil))
	testnode.Eventually(t, 10*time.Second, "the term-2 key on c", func() bool {
		_, ok := c.FSM().Key(id3)
		return ok
	})
	for _, n := range r.Nodes {
		for _, ct := range cts {
			mustDecrypt(t, n.Client, ct)
		}
	}

	// Rekey through a to a 4-share, threshold-2 set with 3 current shares.
	var rk struct {
		Nonce                   string
		Threshold, Progress     int
		NewShares, NewThreshold int
		Complete                bool
		Keys                    [][]byte
	}
	mustOK(t, "RekeyInit", signed(a.Node).Call(ctx(t), "RekeyInit", map[string]int{"Shares": 4, "Threshold": 2}, &rk))
	if rk.Threshold != 3 || rk.NewShares != 4 || rk.NewThreshold != 2 || rk.Nonce == "" {
		t.Fatalf("RekeyInit = %+v", rk)
	}
	wantOpErr(t, "a second RekeyInit", signed(a.Node).Call(ctx(t), "RekeyInit", map[string]int{"Shares": 3, "Threshold": 2}, nil), "ConflictException")
	nonce := rk.Nonce
	wantOpErr(t, "RekeyUpdate with a wrong nonce", signed(a.Node).Call(ctx(t), "RekeyUpdate", map[string]any{"Nonce": "nope", "Key": shares[0]}, nil), "NotFoundException")
	for i, s := range pick(shares, []int{4, 2, 1}) {
		mustOK(t, "RekeyUpdate", signed(a.Node).Call(ctx(t), "RekeyUpdate", map[string]any{"Nonce": nonce, "Key": s}, &rk))
		if done := i == 2; rk.Complete != done || (done && len(rk.Keys) != 4) || (!done && len(rk.Keys) != 0) {
			t.Fatalf("after current share %d: %+v", i+1, rk)
		}
	}
	var rs struct{ Started bool }
	mustOK(t, "RekeyStatus", signed(a.Node).Call(ctx(t), "RekeyStatus", struct{}{}, &rs))
	if rs.Started {
		t.Fatal("the rekey is still in progress after it completed")
	}
	testnode.Eventually(t, 10*time.Second, "the rekey on c", func() bool {
		s := c.FSM().Seal()
		return s != nil && s.Shamir != nil && s.Shamir.Threshold == 2
	})
	c.Stop()
	c.Restart()
	var st sealStatus
	testnode.Eventually(t, 30*time.Second, "c knows its seal", func() bool {
		st = getSealStatus(t, c.URL())
		return st.Initialized
	})
	if !st.Sealed || st.Threshold != 2 || st.Shares != 4 {
		t.Fatalf("c after the rekey and a restart: %+v", st)
	}
	_, err = giveShare(t, c.URL(), shares[0])
	wantOpErr(t, "an old share after the rekey", err, "ValidationException")
	unsealNode(t, c.URL(), rk.Keys[3], rk.Keys[1])
	for _, ct := range cts {
		mustDecrypt(t, c.Client, ct)
	}
}

func pick(all [][]byte, idx []int) [][]byte {
	out := make([][]byte, len(idx))
	for i, j := range idx {
		out[i] = all[j]
	}
	return out
}
