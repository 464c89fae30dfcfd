package fsm

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The streaming snapshot writer must produce exactly the bytes of encoding
// the whole document at once, which is what earlier snapshots contain.
func TestSnapshot_StreamMatchesDocument(t *testing.T) {
	f := newFSM(t,
		&InitSeal{Req: at(t0), Seal: testSeal()},
		createKey(keyA), createKey(keyB),
		&CreateAlias{Req: Req{ID: "r1", At: t0}, Name: "alias/a", KeyID: keyA},
		&TagResource{Req: Req{ID: "r2", At: t0}, KeyID: keyB, Tags: []Tag{{Key: "<k>", Value: "&v"}}},
	)
	var streamed, whole bytes.Buffer
	if err := f.st.write(&streamed); err != nil {
		t.Fatal(err)
	}
	whole.WriteString(snapshotMagic)
	if err := json.NewEncoder(&whole).Encode(f.st.doc()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(streamed.Bytes(), whole.Bytes()) {
		t.Fatalf("streamed snapshot differs:\n%s\nvs\n%s", streamed.Bytes(), whole.Bytes())
	}
	empty := New()
	streamed.Reset()
	whole.Reset()
	_ = empty.st.write(&streamed)
	whole.WriteString(snapshotMagic)
	_ = json.NewEncoder(&whole).Encode(empty.st.doc())
	if !bytes.Equal(streamed.Bytes(), whole.Bytes()) {
		t.Fatalf("empty snapshot differs:\n%s\nvs\n%s", streamed.Bytes(), whole.Bytes())
	}
}
