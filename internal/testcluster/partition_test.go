package testcluster

import (
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

// A follower cut off from its peers stops serving within Δ; a key disabled
// through the majority meanwhile is never used on it after DisableKey
// returned; after healing it catches up and serves again.
func TestRegion_PartitionedFollower(t *testing.T) {
	const lease = time.Second
	r := Start(t, 3)
	leader := r.Leader()
	cut := r.Followers()[0]
	key := createKey(t, leader)
	other := createKey(t, leader)
	testnode.Eventually(t, 10*time.Second, "the follower serves the key", func() bool { return encrypt(cut, key) == nil })

	type attempt struct {
		start time.Time
		err   error
	}
	var (
		mu       sync.Mutex
		attempts []attempt
		stop     = make(chan struct{})
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := time.Now()
			err := encrypt(cut, key)
			mu.Lock()
			attempts = append(attempts, attempt{s, err})
			mu.Unlock()
			time.Sleep(5 * time.Millisecond) // request pacing
		}
	}()

	cutAt := time.Now()
	cut.Isolate(true)
	if _, err := leader.Client.DisableKey(testnode.Ctx(t), &awskms.DisableKeyInput{KeyId: aws.String(key)}); err != nil {
		t.Fatalf("DisableKey through the majority: %v", err)
	}
	disabledAt := time.Now()
	if took := disabledAt.Sub(cutAt); took < lease {
		t.Errorf("DisableKey returned after %v, before the revocation hold Δ=%v", took, lease)
	}
	// Let the poller run past the end of any lease the follower held.
	testnode.Eventually(t, 10*time.Second, "the cut-off follower fails readyz", func() bool {
		return cut.Ready() != nil
	})
	close(stop)
	<-done

	var lastOK time.Time
	for _, a := range attempts {
		if a.err == nil {
			if a.start.After(disabledAt) {
				t.Fatalf("the cut-off follower served the key %v after DisableKey returned", a.start.Sub(disabledAt))
			}
			lastOK = a.start
		} else if c := errCode(a.err); c != "DependencyTimeoutException" && c != "DisabledException" {
			t.Fatalf("the cut-off follower answered %v; want a retryable DependencyTimeoutException", a.err)
		}
	}
	if !lastOK.IsZero() && lastOK.Sub(cutAt) > lease+100*time.Millisecond {
		t.Errorf("the cut-off follower served %v after it was cut off (Δ=%v)", lastOK.Sub(cutAt), lease)
	}
	t.Logf("last success on the cut-off follower %v after the cut; DisableKey took %v", lastOK.Sub(cutAt), disabledAt.Sub(cutAt))

	cut.Isolate(false)
	testnode.Eventually(t, 20*time.Second, "the healed follower serves again", func() bool { return encrypt(cut, other) == nil })
	if err := encrypt(cut, key); errCode(err) != "DisabledException" {
		t.Fatalf("Encrypt with the disabled key on the healed follower = %v, want DisabledException", err)
	}
	waitDigests(t, r)
}
