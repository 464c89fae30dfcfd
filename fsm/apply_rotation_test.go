package fsm

import (
	"testing"
)

func enableRotation(id string, nextAt int64) *SetRotation {
	return &SetRotation{Req: at(t0), KeyID: id, Enabled: true, PeriodDays: 365, NextAt: nextAt}
}

// onDemandRotations returns n successful on-demand rotations of id (versions
// 2…n+1), one a minute from t0.
func onDemandRotations(id string, n int) []Command {
	out := make([]Command, n)
	for i := range out {
		out[i] = rotate(id, uint32(i+2), t0+int64(i)*minute, RotationOnDemand)
	}
	return out
}

func TestFSM_SetRotation(t *testing.T) {
	off := &SetRotation{Req: at(t0), KeyID: keyA}
	runApplyCases(t, []applyCase{
		{name: "enable", setup: []Command{createKey(keyA)}, cmd: enableRotation(keyA, t0+365*day), check: wantKey(keyA, func(t *testing.T, k *Key) {
			if want := (Rotation{Enabled: true, PeriodDays: 365, NextAt: t0 + 365*day}); k.Rotation != want {
				t.Errorf("rotation = %+v, want %+v", k.Rotation, want)
			}
		})},
		{name: "disable", setup: []Command{createKey(keyA), enableRotation(keyA, t0+day)}, cmd: off, check: wantKey(keyA, func(t *testing.T, k *Key) {
			if k.Rotation.Enabled || k.Rotation.NextAt != 0 || k.Rotation.PeriodDays != 365 {
				t.Errorf("rotation = %+v, want off, no next time, period kept", k.Rotation)
			}
		})},
		{name: "keeps on-demand history", setup: append([]Command{createKey(keyA)}, onDemandRotations(keyA, 2)...), cmd: enableRotation(keyA, t0+day),
			check: wantKey(keyA, func(t *testing.T, k *Key) {
				if k.Rotation.OnDemandCount != 2 || k.Rotation.OnDemandAt != t0+minute {
					t.Errorf("rotation = %+v", k.Rotation)
				}
			})},
		{name: "disabled key", setup: []Command{createKey(keyA), disable(keyA)}, cmd: enableRotation(keyA, t0+day), want: ErrDisabled, subject: keyA},
		{name: "disable on disabled key", setup: []Command{createKey(keyA), disable(keyA)}, cmd: off, want: ErrDisabled},
		{name: "pending deletion", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: enableRotation(keyA, t0+day), want: ErrInvalidState},
		{name: "missing key", cmd: off, want: ErrKeyNotFound},
	})
}

func TestFSM_RotateKey(t *testing.T) {
	base := []Command{createKey(keyA)}
	withAuto := func(nextAt int64) []Command { return []Command{createKey(keyA), enableRotation(keyA, nextAt)} }
	auto := func(ms int64) *RotateKey {
		c := rotate(keyA, 2, ms, RotationAutomatic)
		c.NextAt = ms + 365*day
		return c
	}
	onDemand := func(v uint32, ms int64) *RotateKey { return rotate(keyA, v, ms, RotationOnDemand) }
	runApplyCases(t, []applyCase{
		{name: "on demand", setup: base, cmd: onDemand(2, t0+3), check: wantKey(keyA, func(t *testing.T, k *Key) {
			if len(k.Materials) != 2 || k.Current().Version != 2 || k.Current().RotationType != RotationOnDemand {
				t.Fatalf("materials = %+v", k.Materials)
			}
			if string(k.Current().Sealed) != string(sealedBlob(keyA, 2)) || k.MaterialVersion(1).Version != 1 {
				t.Error("wrong material kept")
			}
			if k.Rotation.OnDemandCount != 1 || k.Rotation.OnDemandAt != t0+3 || k.Rotation.Enabled {
				t.Errorf("rotation = %+v", k.Rotation)
			}
		})},
		{name: "automatic when due", setup: withAuto(t0 + day), cmd: auto(t0 + day), check: wantKey(keyA, func(t *testing.T, k *Key) {
			if k.Current().Version != 2 || k.Current().RotationType != RotationAutomatic {
				t.Fatalf("materials = %+v", k.Materials)
			}
			if k.Rotation.NextAt != t0+366*day || k.Rotation.OnDemandCount != 0 {
				t.Errorf("rotation = %+v", k.Rotation)
			}
		})},
		{name: "automatic overdue", setup: withAuto(t0 + day), cmd: auto(t0 + 2*day)},
		{name: "automatic not due", setup: withAuto(t0 + day), cmd: auto(t0 + day - 1), want: ErrConflict, subject: keyA},
		{name: "automatic when rotation off", setup: base, cmd: auto(t0 + day), want: ErrConflict},
		{name: "same version", setup: base, cmd: onDemand(1, t0), want: ErrConflict, subject: keyA},
		{name: "skipped version", setup: base, cmd: onDemand(3, t0), want: ErrConflict},
		{name: "concurrent rotations", setup: append(base[:1:1], onDemand(2, t0)), cmd: onDemand(2, t0+1), want: ErrConflict},
		{name: "empty sealed material", setup: base, cmd: &RotateKey{Req: at(t0), KeyID: keyA, Material: Material{Version: 2, RotationType: RotationOnDemand}}, want: ErrConflict},
		{name: "unknown rotation type", setup: base, cmd: rotate(keyA, 2, t0, "MANUAL"), want: ErrBadCommand},
		{name: "no rotation type", setup: base, cmd: rotate(keyA, 2, t0, ""), want: ErrBadCommand},
		{name: "disabled key", setup: []Command{createKey(keyA), disable(keyA)}, cmd: onDemand(2, t0), want: ErrDisabled, subject: keyA},
		{name: "disabled key automatic", setup: append(withAuto(t0), disable(keyA)), cmd: auto(t0 + day), want: ErrDisabled},
		{name: "pending deletion", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: onDemand(2, t0), want: ErrInvalidState},
		{name: "missing key", cmd: onDemand(2, t0), want: ErrKeyNotFound},
		{name: "25th on demand", setup: append([]Command{createKey(keyA)}, onDemandRotations(keyA, MaxOnDemandRotations-1)...),
			cmd: onDemand(MaxOnDemandRotations+1, t0+day), check: wantKey(keyA, func(t *testing.T, k *Key) {
				if k.Rotation.OnDemandCount != MaxOnDemandRotations {
					t.Errorf("on-demand count = %d", k.Rotation.OnDemandCount)
				}
			})},
		{name: "26th on demand", setup: append([]Command{createKey(keyA)}, onDemandRotations(keyA, MaxOnDemandRotations)...),
			cmd: onDemand(MaxOnDemandRotations+2, t0+day), want: ErrLimitExceeded, subject: keyA},
		{name: "automatic after 25 on demand", setup: append(append([]Command{createKey(keyA)}, onDemandRotations(keyA, MaxOnDemandRotations)...), enableRotation(keyA, t0+day)),
			cmd: func() Command { c := auto(t0 + day); c.Material.Version = MaxOnDemandRotations + 2; return c }()},
		{name: "on demand 20 min before automatic", setup: withAuto(t0 + 20*minute), cmd: onDemand(2, t0)},
		{name: "on demand within 20 min of automatic", setup: withAuto(t0 + 20*minute), cmd: onDemand(2, t0+1), want: ErrConflict, subject: keyA},
		{name: "on demand while automatic overdue", setup: withAuto(t0), cmd: onDemand(2, t0+day), want: ErrConflict},
		{name: "on demand, rotation off, stale next time", setup: []Command{createKey(keyA), enableRotation(keyA, t0), &SetRotation{Req: at(t0), KeyID: keyA}},
			cmd: onDemand(2, t0+1)},
	})
}
