package fsm

import (
	"fmt"
	"math/rand"
)

// chooser supplies the choices of a command generator: a seeded math/rand
// for the determinism test, fuzz input bytes for FuzzApplySequence.
type chooser interface {
	pick(n int) int // in [0, n)
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) pick(n int) int { return c.r.Intn(n) }

// byteChooser reads one byte per choice and returns 0 once data runs out.
type byteChooser struct {
	data []byte
	i    int
}

func (c *byteChooser) pick(n int) int {
	if c.i >= len(c.data) {
		return 0
	}
	v := int(c.data[c.i])
	c.i++
	return v % n
}

func (c *byteChooser) done() bool { return c.i >= len(c.data) }

// Small pools, so commands collide: duplicates, limits, wrong states.
var (
	genKeys    = []string{fixtureUUID(1), fixtureUUID(2), fixtureUUID(3), fixtureUUID(4)}
	genAliases = []string{"alias/a", "alias/b", "alias/c", "alias/d", "alias/e"}
)

// gen produces valid command encodings covering every type, many of which
// the FSM rejects. With state set, it reads the FSM (before the command is
// applied) to propose plausible rotation versions, as the leader would.
type gen struct {
	c      chooser
	at     int64
	seq    int
	recent []string // request IDs to reuse
	state  *FSM
}

func newGen(c chooser, state *FSM) *gen { return &gen{c: c, at: t0, state: state} }

func (g *gen) tick() {
	switch {
	case g.c.pick(60) == 0:
		g.at += 8 * day // deletion dates pass
	case g.c.pick(15) == 0:
		g.at += 16 * minute // request IDs expire
	default:
		g.at += int64(g.c.pick(4)) * minute
	}
}

func (g *gen) req() Req {
	g.seq++
	switch p := g.c.pick(10); {
	case p == 0:
		return at(g.at)
	case p == 1 && len(g.recent) > 0:
		return rid(g.recent[g.c.pick(len(g.recent))], g.at)
	}
	id := fmt.Sprintf("req-%06d", g.seq)
	g.recent = append(g.recent, id)
	if len(g.recent) > 16 {
		g.recent = g.recent[1:]
	}
	return rid(id, g.at)
}

func (g *gen) tags(n int) []Tag {
	out := make([]Tag, n)
	for i := range out {
		out[i] = Tag{Key: fmt.Sprintf("tag-%02d", g.c.pick(80)), Value: fmt.Sprintf("v%d", g.c.pick(4))}
	}
	return out
}

func (g *gen) version(key string) uint32 {
	if g.state != nil && g.c.pick(5) != 0 {
		if k, ok := g.state.Key(key); ok {
			return k.Current().Version + 1
		}
	}
	return uint32(g.c.pick(4) + 1)
}

// next returns the next command.
func (g *gen) next() Command {
	g.tick()
	r := g.req()
	key := genKeys[g.c.pick(len(genKeys))]
	alias := genAliases[g.c.pick(len(genAliases))]
	if g.c.pick(8) == 0 {
		return g.identityCommand(r)
	}
	if g.c.pick(8) == 0 {
		return g.grantCommand(r, key)
	}
	if g.c.pick(12) == 0 {
		return g.sealCommand(r)
	}
	switch g.c.pick(22) {
	case 0:
		s := testSeal()
		if g.c.pick(2) == 0 {
			s.Terms = nil
		}
		return &InitSeal{Req: r, Seal: s}
	case 1, 2:
		k := fixtureKey(key, withTags(g.tags(g.c.pick(4))...))
		k.CreatedAt = g.at
		return &CreateKey{Req: r, Key: k}
	case 3:
		return &UpdateDescription{Req: r, KeyID: key, Description: fmt.Sprintf("d%d", g.c.pick(100))}
	case 4:
		return &EnableKey{Req: r, KeyID: key}
	case 5:
		return &DisableKey{Req: r, KeyID: key}
	case 6:
		if g.c.pick(2) == 0 {
			return &CancelDeletion{Req: r, KeyID: key}
		}
		w := int32(7 + g.c.pick(24))
		return &ScheduleDeletion{Req: r, KeyID: key, WindowDays: w, DeletionDate: g.at + int64(g.c.pick(3))*day}
	case 7:
		return &CancelDeletion{Req: r, KeyID: key}
	case 8:
		return &DeleteKey{Req: r, KeyID: key}
	case 9:
		return &CreateAlias{Req: r, Name: alias, KeyID: key}
	case 10:
		return &UpdateAlias{Req: r, Name: alias, KeyID: key}
	case 11:
		return &DeleteAlias{Req: r, Name: alias}
	case 12, 13:
		return &TagResource{Req: r, KeyID: key, Tags: g.tags(1 + g.c.pick(40))}
	case 14:
		keys := make([]string, 1+g.c.pick(5))
		for i := range keys {
			keys[i] = fmt.Sprintf("tag-%02d", g.c.pick(64))
		}
		return &UntagResource{Req: r, KeyID: key, Keys: keys}
	case 15:
		return &PutKeyPolicy{Req: r, KeyID: key, Policy: fmt.Sprintf(`{"Version":"2012-10-17","Id":"%d"}`, g.c.pick(10))}
	case 16:
		return &SetRotation{Req: r, KeyID: key, Enabled: g.c.pick(3) != 0, PeriodDays: 90, NextAt: g.at + int64(g.c.pick(4))*10*minute}
	default:
		v := g.version(key)
		typ := []string{RotationOnDemand, RotationOnDemand, RotationAutomatic, ""}[g.c.pick(4)]
		return &RotateKey{Req: r, KeyID: key, NextAt: g.at + 90*day,
			Material: Material{Version: v, Sealed: sealedBlob(key, v), CreatedAt: g.at, RotationType: typ}}
	}
}
