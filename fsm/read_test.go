package fsm

import (
	"reflect"
	"testing"
)

func keyIDsOf(ks []*Key) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.ID
	}
	return out
}

func TestFSM_ListKeys_Paging(t *testing.T) {
	f := newFSM(t, createKey(keyC), createKey(keyA), createKey(keyB))
	tests := []struct {
		after    string
		limit    int
		want     []string
		wantMore bool
	}{
		{"", 10, []string{keyA, keyB, keyC}, false},
		{"", 2, []string{keyA, keyB}, true},
		{keyB, 2, []string{keyC}, false},
		{keyA, 1, []string{keyB}, true},
		{"0", 1, []string{keyA}, true},        // a marker between IDs
		{"2", 5, []string{keyB, keyC}, false}, // ditto
		{keyC, 5, []string{}, false},
		{"", 0, []string{}, true},
	}
	for _, tt := range tests {
		ks, more := f.ListKeys(tt.after, tt.limit)
		if got := keyIDsOf(ks); !reflect.DeepEqual(got, tt.want) || more != tt.wantMore {
			t.Errorf("ListKeys(%q, %d) = %v, %v; want %v, %v", tt.after, tt.limit, got, more, tt.want, tt.wantMore)
		}
	}
}

func TestFSM_ListAliases_Paging(t *testing.T) {
	alias := func(name, id string) *CreateAlias { return &CreateAlias{Req: at(t0), Name: name, KeyID: id} }
	f := newFSM(t, createKey(keyA), createKey(keyB),
		alias("alias/d", keyA), alias("alias/a", keyA), alias("alias/c", keyB), alias("alias/b", keyA))
	names := func(as []*Alias) []string {
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = a.Name
		}
		return out
	}
	tests := []struct {
		keyID, after string
		limit        int
		want         []string
		wantMore     bool
	}{
		{"", "", 10, []string{"alias/a", "alias/b", "alias/c", "alias/d"}, false},
		{"", "", 2, []string{"alias/a", "alias/b"}, true},
		{"", "alias/b", 2, []string{"alias/c", "alias/d"}, false},
		{keyA, "", 2, []string{"alias/a", "alias/b"}, true},
		{keyA, "alias/b", 1, []string{"alias/d"}, false},
		{keyB, "", 1, []string{"alias/c"}, false},
		{keyC, "", 5, []string{}, false},
	}
	for _, tt := range tests {
		as, more := f.ListAliases(tt.keyID, tt.after, tt.limit)
		if got := names(as); !reflect.DeepEqual(got, tt.want) || more != tt.wantMore {
			t.Errorf("ListAliases(%q, %q, %d) = %v, %v; want %v, %v", tt.keyID, tt.after, tt.limit, got, more, tt.want, tt.wantMore)
		}
	}
	if got := f.AliasesOf(keyA); !reflect.DeepEqual(got, []string{"alias/a", "alias/b", "alias/d"}) {
		t.Errorf("AliasesOf = %v", got)
	}
	if got := f.AliasesOf(keyC); len(got) != 0 {
		t.Errorf("AliasesOf(no aliases) = %v", got)
	}
}

func TestFSM_DueWork(t *testing.T) {
	f := newFSM(t, createKey(keyA), createKey(keyB), createKey(keyC),
		schedule(keyA), enableRotation(keyB, t0+day), enableRotation(keyC, t0+2*day))
	del, rot := f.DueWork(t0)
	if len(del) != 0 || len(rot) != 0 {
		t.Errorf("DueWork(t0) = %v, %v", del, rot)
	}
	del, rot = f.DueWork(t0 + 7*day)
	if !reflect.DeepEqual(del, []string{keyA}) || !reflect.DeepEqual(rot, []string{keyB, keyC}) {
		t.Errorf("DueWork(t0+7d) = %v, %v", del, rot)
	}
	mustApply(t, f, disable(keyC))
	if _, rot = f.DueWork(t0 + 7*day); !reflect.DeepEqual(rot, []string{keyB}) {
		t.Errorf("disabled key due for rotation: %v", rot)
	}
}

func TestKey_MaterialVersion(t *testing.T) {
	f := newFSM(t, createKey(keyA), rotate(keyA, 2, t0, RotationOnDemand), rotate(keyA, 3, t0, RotationOnDemand))
	k := mustKey(t, f, keyA)
	for v := uint32(1); v <= 3; v++ {
		if m := k.MaterialVersion(v); m == nil || m.Version != v {
			t.Errorf("MaterialVersion(%d) = %v", v, m)
		}
	}
	if k.MaterialVersion(0) != nil || k.MaterialVersion(4) != nil {
		t.Error("MaterialVersion of an absent version is not nil")
	}
	if k.Current().Version != 3 {
		t.Errorf("Current = %d", k.Current().Version)
	}
	// Sparse versions (not produced by Apply) fall back to a scan.
	sparse := &Key{Materials: []Material{{Version: 2}, {Version: 5}}}
	if m := sparse.MaterialVersion(5); m == nil || m.Version != 5 {
		t.Errorf("sparse MaterialVersion(5) = %v", m)
	}
}
