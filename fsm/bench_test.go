package fsm

import (
	"bytes"
	"io"
	"math/rand"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// benchPolicy is about the size of the default key policy.
const benchPolicy = `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`

// benchKeyID spreads n over the ID space (n * odd constant mod 2^48 is a
// bijection), so inserts land anywhere in the sorted index, as UUIDs do.
func benchKeyID(n uint64) string {
	const hex = "0123456789abcdef"
	v := (n * 0x9E3779B97F4B) & (1<<48 - 1)
	b := []byte("00000000-0000-4000-8000-000000000000")
	for i := len(b) - 1; i >= 24; i-- {
		b[i] = hex[v&15]
		v >>= 4
	}
	w := n & 0xffffffff
	for i := 7; i >= 0; i-- {
		b[i] = hex[w&15]
		w >>= 4
	}
	return string(b)
}

func BenchmarkApplyCreateKey(b *testing.B) {
	b.ReportAllocs()
	placeholder := benchKeyID(0)
	k := fixtureKey(placeholder)
	k.Policy = benchPolicy
	k.Materials[0].Sealed = bytes.Repeat([]byte{0xa5}, 76)
	data := makeLog(b, 1, &CreateKey{Req: at(t0), Key: k}).Data
	pos := bytes.Index(data, []byte(placeholder))
	f := New()
	l := &raft.Log{Type: raft.LogCommand, Data: data}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(data[pos:], benchKeyID(uint64(i+1)))
		l.Index = uint64(i + 1)
		if res := f.Apply(l); res != nil {
			b.Fatal(res)
		}
	}
	b.StopTimer()
	if f.KeyCount() != b.N {
		b.Fatalf("%d keys after %d creates", f.KeyCount(), b.N)
	}
}

func BenchmarkKeyLookup(b *testing.B) {
	const n = 10_000
	f := New()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = benchKeyID(uint64(i + 1))
		mustApply(b, f, createKey(ids[i]))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.Intn(n)
		for pb.Next() {
			k, ok := f.Key(ids[i%n])
			if !ok || k.Current().Version != 1 {
				b.Error("lookup failed")
				return
			}
			i++
		}
	})
}

// big100k is 100 000 keys with three material versions each; a sealed blob
// is 76 bytes (32-byte material + 28-byte AEAD nonce and tag + 16-byte
// header). Built once for the snapshot and restore benchmarks.
var big100k struct {
	once sync.Once
	f    *FSM
	snap []byte
}

func bigFSM(b *testing.B) (*FSM, []byte) {
	b.Helper()
	big100k.once.Do(func() {
		const n = 100_000
		r := rand.New(rand.NewSource(1))
		st := newState()
		ids := make([]string, n)
		for i := range ids {
			ids[i] = benchKeyID(uint64(i + 1))
		}
		sort.Strings(ids) // appends to the sorted index: keeps setup O(n)
		for _, id := range ids {
			k := fixtureKey(id, func(k *Key) {
				k.Policy = benchPolicy
				k.Description = "benchmark key"
				k.Tags = []Tag{{"team", "bench"}}
			})
			k.Materials = make([]Material, 3)
			for v := range k.Materials {
				sealed := make([]byte, 32+28+16)
				r.Read(sealed)
				k.Materials[v] = Material{Version: uint32(v + 1), Sealed: sealed, CreatedAt: t0 + int64(v)*day}
				if v > 0 {
					k.Materials[v].RotationType = RotationAutomatic
				}
			}
			// Through the apply rule (not Raft decoding) to keep setup short.
			if _, err := st.apply(&CreateKey{Req: at(t0), Key: k}); err != nil {
				b.Fatal(err)
			}
		}
		big100k.f = &FSM{st: st}
		var buf bytes.Buffer
		if err := st.write(&buf); err != nil {
			b.Fatal(err)
		}
		big100k.snap = buf.Bytes()
	})
	if big100k.f == nil {
		b.Fatal("setup failed")
	}
	return big100k.f, big100k.snap
}

// countSink discards a snapshot, counting its bytes.
type countSink struct{ n int64 }

func (s *countSink) Write(p []byte) (int, error) { s.n += int64(len(p)); return len(p), nil }
func (s *countSink) Close() error                { return nil }
func (s *countSink) ID() string                  { return "count" }
func (s *countSink) Cancel() error               { return nil }

// BenchmarkSnapshot100k times Snapshot (which blocks Apply) plus Persist,
// and reports the snapshot size and the Snapshot (capture) time alone.
func BenchmarkSnapshot100k(b *testing.B) {
	f, _ := bigFSM(b)
	b.ReportAllocs()
	b.ResetTimer()
	var capture time.Duration
	var sink countSink
	for i := 0; i < b.N; i++ {
		sink.n = 0
		start := time.Now()
		snap, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		capture += time.Since(start)
		if err := snap.Persist(&sink); err != nil {
			b.Fatal(err)
		}
		snap.Release()
	}
	b.ReportMetric(float64(sink.n), "snapshot-bytes")
	b.ReportMetric(float64(capture.Milliseconds())/float64(b.N), "capture-ms/op")
}

func BenchmarkRestore100k(b *testing.B) {
	_, data := bigFSM(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := New()
		if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			b.Fatal(err)
		}
		if f.KeyCount() != 100_000 {
			b.Fatalf("%d keys", f.KeyCount())
		}
	}
}

// BenchmarkHeapPerKey100k reports the live heap a restored state of 100 000
// keys (three material versions each, the default-size policy) costs per
// key, measured after a GC: the FSM's per-key footprint.
func BenchmarkHeapPerKey100k(b *testing.B) {
	_, data := bigFSM(b)
	var keep *FSM
	var perKey float64
	for i := 0; i < b.N; i++ {
		keep = nil
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		keep = New()
		if err := keep.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perKey = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / 100_000
	}
	runtime.KeepAlive(keep)
	b.ReportMetric(perKey, "heap-B/key")
}

// BenchmarkDueWork100k is the leader scheduler's once-a-second question on
// a state of 100 000 keys with nothing due: answered from the hint without
// a scan (the first call, which scans, is outside the timer).
func BenchmarkDueWork100k(b *testing.B) {
	f, _ := bigFSM(b)
	f.DueWork(t0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d, r := f.DueWork(t0); len(d)+len(r) != 0 {
			b.Fatalf("work due: %d deletions, %d rotations", len(d), len(r))
		}
	}
}
