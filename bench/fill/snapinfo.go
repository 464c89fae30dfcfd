package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// snapshotMagic starts every kmsnode FSM snapshot (fsm/snapshot.go).
const snapshotMagic = "kmsnode-fsm-snapshot 1\n"

// snapInfo is what a snapshot file holds, by section. *Bytes are the bytes
// of the section's JSON records (without separators).
type snapInfo struct {
	Path          string `json:"path"`
	Bytes         int64  `json:"bytes"`
	Applied       uint64 `json:"applied"`
	SealBytes     int    `json:"seal_bytes"`
	Keys          int    `json:"keys"`
	KeysBytes     int64  `json:"keys_bytes"`
	Materials     int    `json:"materials"`
	PolicyBytes   int64  `json:"policy_bytes"` // encoded key policies, part of keys_bytes
	Aliases       int    `json:"aliases"`
	AliasesBytes  int64  `json:"aliases_bytes"`
	Requests      int    `json:"requests"` // remembered request IDs (idempotency, 15 min)
	RequestsBytes int64  `json:"requests_bytes"`
}

// readSnapInfo decodes the snapshot file at path record by record.
func readSnapInfo(path string) (*snapInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	info := &snapInfo{Path: path, Bytes: st.Size()}
	br := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return nil, fmt.Errorf("%s: not a kmsnode FSM snapshot", path)
	}
	var doc struct {
		Applied  uint64            `json:"applied"`
		Seal     json.RawMessage   `json:"seal"`
		Keys     []json.RawMessage `json:"keys"`
		Aliases  []json.RawMessage `json:"aliases"`
		Requests []json.RawMessage `json:"requests"`
	}
	if err := json.NewDecoder(br).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	info.Applied, info.SealBytes = doc.Applied, len(doc.Seal)
	info.Keys, info.Aliases, info.Requests = len(doc.Keys), len(doc.Aliases), len(doc.Requests)
	for _, k := range doc.Keys {
		info.KeysBytes += int64(len(k))
		var kr struct {
			Policy    json.RawMessage   `json:"policy"`
			Materials []json.RawMessage `json:"materials"`
		}
		if err := json.Unmarshal(k, &kr); err != nil {
			return nil, fmt.Errorf("%s: key record: %w", path, err)
		}
		info.PolicyBytes += int64(len(kr.Policy))
		info.Materials += len(kr.Materials)
	}
	for _, a := range doc.Aliases {
		info.AliasesBytes += int64(len(a))
	}
	for _, r := range doc.Requests {
		info.RequestsBytes += int64(len(r))
	}
	return info, nil
}
