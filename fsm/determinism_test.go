package fsm

import (
	"bytes"
	"errors"
	"math/rand"
	"reflect"
	"testing"
)

// TestFSM_Deterministic applies one random sequence of commands (all types,
// many rejected, duplicate request IDs, expiring IDs, deletions coming due)
// to three FSMs: every result and the final snapshots must be identical. A
// fourth FSM is restored from a snapshot half-way and must end up the same.
func TestFSM_Deterministic(t *testing.T) {
	const n = 500
	types, outcomes := map[CommandType]int{}, map[string]int{}
	for _, seed := range []int64{1, 2, 42} {
		oracle := New()
		g := newGen(randChooser{rand.New(rand.NewSource(seed))}, oracle)
		cmds := make([]Command, n)
		for i := range cmds {
			cmds[i] = g.next()
			oracle.Apply(makeLog(t, uint64(i+1), cmds[i]))
		}

		fsms := []*FSM{New(), New(), New()}
		results := make([][]interface{}, len(fsms))
		for i, f := range fsms {
			results[i] = apply(t, f, cmds...)
		}
		for i := 1; i < len(fsms); i++ {
			for j := range cmds {
				if !reflect.DeepEqual(results[0][j], results[i][j]) {
					t.Fatalf("seed %d: command %d (%T): FSM 0 returned %v, FSM %d %v", seed, j, cmds[j], results[0][j], i, results[i][j])
				}
			}
		}
		want := snapBytes(t, fsms[0])
		for i, f := range append(fsms[1:], oracle) {
			if got := snapBytes(t, f); !bytes.Equal(got, want) {
				t.Fatalf("seed %d: FSM %d snapshot differs", seed, i+1)
			}
		}

		half := New()
		apply(t, half, cmds[:n/2]...)
		resumed := New()
		if err := restore(resumed, snapBytes(t, half)); err != nil {
			t.Fatal(err)
		}
		for j, c := range cmds[n/2:] {
			if res := resumed.Apply(makeLog(t, uint64(n/2+j+1), c)); !reflect.DeepEqual(res, results[0][n/2+j]) {
				t.Fatalf("seed %d: after restore, command %d returned %v, want %v", seed, n/2+j, res, results[0][n/2+j])
			}
		}
		if !bytes.Equal(snapBytes(t, resumed), want) {
			t.Fatalf("seed %d: snapshot → restore → rest of the log differs", seed)
		}
		checkIndex(t, oracle)
		checkIndex(t, resumed)
		if resumed.AppliedIndex() != n || fsms[0].AppliedIndex() != n {
			t.Errorf("AppliedIndex = %d / %d, want %d", resumed.AppliedIndex(), fsms[0].AppliedIndex(), n)
		}
		tally(cmds, results[0], types, outcomes)
	}
	checkMix(t, types, outcomes)
}

// tally counts command types and outcomes.
func tally(cmds []Command, results []interface{}, types map[CommandType]int, outcomes map[string]int) {
	for i, c := range cmds {
		types[c.Type()]++
		err, _ := results[i].(error)
		if err == nil {
			outcomes["ok"]++
			continue
		}
		for _, ec := range errorCodes {
			if errors.Is(err, ec.err) {
				outcomes[ec.code]++
			}
		}
	}
}

// checkMix makes sure the sequences were a real workout: every command type
// appears, and successes and every rejection happen.
func checkMix(t *testing.T, types map[CommandType]int, outcomes map[string]int) {
	t.Helper()
	if len(types) != len(table) {
		t.Errorf("only %d command types generated: %v", len(types), types)
	}
	for _, o := range append([]string{"ok"}, codesOf(errorCodes)...) {
		if outcomes[o] == 0 {
			t.Errorf("no %s outcome in the sequences: %v", o, outcomes)
		}
	}
	t.Logf("types %v\noutcomes %v", types, outcomes)
}

func codesOf(ecs []struct {
	code string
	err  error
}) []string {
	out := make([]string, len(ecs))
	for i, ec := range ecs {
		out[i] = ec.code
	}
	return out
}
