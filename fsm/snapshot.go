package fsm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// snapshotMagic starts every snapshot; the version after it changes only
// when the layout does.
const snapshotMagic = "kmsnode-fsm-snapshot 1\n"

// snapshotDoc is the encoded layout: records in sorted order, so equal states
// give byte-identical snapshots.
type snapshotDoc struct {
	Applied uint64   `json:"applied"`
	Level   uint32   `json:"level,omitempty"`
	Seal    *Seal    `json:"seal,omitempty"`
	Keys    []*Key   `json:"keys"`
	Aliases []*Alias `json:"aliases"`
	// Identities is absent from snapshots of regions without any (and of
	// releases before identities), so their bytes are unchanged.
	Identities []*Identity       `json:"identities,omitempty"`
	Requests   []snapshotRequest `json:"requests"`
}

type snapshotRequest struct {
	reqEntry
	Result reqResult `json:"result"`
}

type snapshot struct{ st *state }

// Persist implements raft.FSMSnapshot.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.st.write(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *snapshot) Release() {}

func (st *state) doc() snapshotDoc {
	d := snapshotDoc{Applied: st.applied, Level: st.level, Seal: st.seal, Keys: make([]*Key, 0, len(st.keyIDs)), Aliases: make([]*Alias, 0, len(st.aliasNames))}
	for _, id := range st.keyIDs {
		d.Keys = append(d.Keys, st.keys[id])
	}
	for _, n := range st.aliasNames {
		d.Aliases = append(d.Aliases, st.aliases[n])
	}
	for _, a := range st.identityARNs {
		d.Identities = append(d.Identities, st.identities[a])
	}
	d.Requests = make([]snapshotRequest, 0, len(st.reqOrder))
	for _, e := range st.reqOrder {
		d.Requests = append(d.Requests, snapshotRequest{reqEntry: e, Result: st.reqs[e.ID]})
	}
	return d
}

// write encodes the snapshot record by record, so persisting a large state
// does not build the whole document in memory. The bytes are exactly those
// of json.Encoder.Encode(st.doc()).
func (st *state) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := &streamEncoder{w: bw}
	enc.raw(snapshotMagic)
	enc.raw(`{"applied":`)
	enc.value(st.applied)
	enc.raw(",")
	if st.level != 0 {
		enc.raw(`"level":`)
		enc.value(st.level)
		enc.raw(",")
	}
	if st.seal != nil {
		enc.raw(`"seal":`)
		enc.value(st.seal)
		enc.raw(",")
	}
	enc.raw(`"keys":[`)
	for i, id := range st.keyIDs {
		enc.sep(i)
		enc.value(st.keys[id])
	}
	enc.raw(`],"aliases":[`)
	for i, n := range st.aliasNames {
		enc.sep(i)
		enc.value(st.aliases[n])
	}
	enc.raw(`]`)
	if len(st.identityARNs) > 0 {
		enc.raw(`,"identities":[`)
		for i, a := range st.identityARNs {
			enc.sep(i)
			enc.value(st.identities[a])
		}
		enc.raw(`]`)
	}
	enc.raw(`,"requests":[`)
	for i, e := range st.reqOrder {
		enc.sep(i)
		enc.value(snapshotRequest{reqEntry: e, Result: st.reqs[e.ID]})
	}
	enc.raw("]}\n")
	if enc.err != nil {
		return fmt.Errorf("fsm: write snapshot: %w", enc.err)
	}
	return bw.Flush()
}

// streamEncoder writes JSON pieces and keeps the first error.
type streamEncoder struct {
	w   *bufio.Writer
	err error
}

func (e *streamEncoder) raw(s string) {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func (e *streamEncoder) sep(i int) {
	if i > 0 {
		e.raw(",")
	}
}

func (e *streamEncoder) value(v any) {
	if e.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.err = err
		return
	}
	_, e.err = e.w.Write(b)
}

func readSnapshot(r io.Reader) (*state, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return nil, fmt.Errorf("fsm: not a kmsnode snapshot")
	}
	var d snapshotDoc
	if err := json.NewDecoder(br).Decode(&d); err != nil {
		return nil, fmt.Errorf("fsm: read snapshot: %w", err)
	}
	st := newState()
	st.applied = d.Applied
	st.level = d.Level
	st.seal = d.Seal
	for _, k := range d.Keys {
		if k == nil || k.ID == "" || len(k.Materials) == 0 {
			return nil, fmt.Errorf("fsm: read snapshot: invalid key record")
		}
		k.intern()
		st.keys[k.ID] = k
		st.keyIDs = insertSorted(st.keyIDs, k.ID)
	}
	for _, a := range d.Aliases {
		if a == nil || a.Name == "" {
			return nil, fmt.Errorf("fsm: read snapshot: invalid alias record")
		}
		st.aliases[a.Name] = a
		st.aliasNames = insertSorted(st.aliasNames, a.Name)
	}
	for _, id := range d.Identities {
		if id == nil || id.ARN == "" {
			return nil, fmt.Errorf("fsm: read snapshot: invalid identity record")
		}
		if _, dup := st.identities[id.ARN]; dup {
			return nil, fmt.Errorf("fsm: read snapshot: duplicate identity %s", id.ARN)
		}
		for i := range id.Policies {
			id.Policies[i].Document = intern(id.Policies[i].Document)
		}
		st.putIdentity(id)
	}
	for _, r := range d.Requests {
		st.reqs[r.ID] = r.Result
		st.reqOrder = append(st.reqOrder, r.reqEntry)
	}
	return st, nil
}
