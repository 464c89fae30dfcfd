package fsm

import (
	"math/rand"
	"reflect"
	"testing"
)

// dueWorkScan is DueWork without the hint: the reference.
func dueWorkScan(f *FSM, now int64) (deletions, rotations []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, id := range f.st.keyIDs {
		if due := f.st.keys[id].dueAt(); due <= now {
			if f.st.keys[id].State == StatePendingDeletion {
				deletions = append(deletions, id)
			} else {
				rotations = append(rotations, id)
			}
		}
	}
	return deletions, rotations
}

// DueWork's skip (the due-time hint) never hides work: over random command
// sequences, asked at random times between commands and after a restore,
// it answers exactly what a full scan does.
func TestDueWorkHintNeverHidesWork(t *testing.T) {
	for _, seed := range []int64{1, 7, 99} {
		rng := rand.New(rand.NewSource(seed))
		f := New()
		g := newGen(randChooser{rng}, f)
		scans := 0
		for i := 1; i <= 1500; i++ {
			f.Apply(makeLog(t, uint64(i), g.next()))
			if i == 700 {
				snap, err := f.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				g2 := New()
				if err := restore(g2, persist(t, snap)); err != nil {
					t.Fatal(err)
				}
				f, g.state = g2, g2
			}
			now := g.at + int64(rng.Intn(4))*day - 2*day
			hint := f.dueHint.Load()
			del, rot := f.DueWork(now)
			wantDel, wantRot := dueWorkScan(f, now)
			if !reflect.DeepEqual(del, wantDel) || !reflect.DeepEqual(rot, wantRot) {
				t.Fatalf("seed %d, command %d, now %d (hint %d): DueWork = %v, %v; a full scan finds %v, %v",
					seed, i, now, hint, del, rot, wantDel, wantRot)
			}
			if now >= hint {
				scans++
			}
		}
		if scans == 0 || scans == 1500 {
			t.Errorf("seed %d: %d of 1500 calls scanned; the test does not exercise the hint", seed, scans)
		}
	}
}
