package fsm

import "unique"

// Interning: 100 k keys decoded from Raft entries or a snapshot would each
// carry their own copies of the same few strings (state, spec, usage,
// origin, manager, rotation type) and, usually, of the same key policy text
// (~300 bytes for AWS's default policy). unique.Make keeps one copy of each
// distinct value, held weakly, so a policy no key uses any more is freed.
// Interning changes no value, only where it is stored, so it cannot affect
// determinism.

func intern(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

// intern replaces k's strings with their canonical copies. k must be a
// record not yet shared with readers.
func (k *Key) intern() {
	k.Usage = intern(k.Usage)
	k.Spec = intern(k.Spec)
	k.Origin = intern(k.Origin)
	k.Manager = intern(k.Manager)
	k.State = intern(k.State)
	k.Policy = intern(k.Policy)
	for i := range k.Materials {
		k.Materials[i].RotationType = intern(k.Materials[i].RotationType)
	}
}
