// Package fsm is kmsnode's deterministic Raft state machine: key metadata,
// sealed key material, aliases, tags, policies, grants, rotation settings and the
// region's sealed keyring, plus the request-ID table that makes every write
// idempotent.
//
// Invariants (ARCHITECTURE.md decision 3, design-notes §1.3):
//
//   - Apply is deterministic. It never reads a clock, draws randomness or
//     emits anything in map order. Key IDs, sealed material and timestamps are
//     chosen by the proposer and carried in the command; state-dependent
//     checks (does the alias exist, does the key state allow this) happen in
//     Apply so every node reaches the same answer.
//   - Key material is opaque sealed bytes here. The package never imports
//     kmsnode's crypto package and never sees plaintext material.
//   - Records handed to readers (*Key, *Alias) are immutable: Apply replaces
//     a record with an updated copy instead of changing it in place, so a
//     reader may use a record after releasing the lock.
//   - Commands are a one-byte type (append-only list in commands.go; bit 0x80
//     marks a type older nodes may ignore) followed by a JSON body. Each type
//     has one row in the Apply table (table.go): how to decode it and how to
//     apply it. A type's
//     body only gains fields with a zero value meaning the old behaviour; a
//     change of meaning gets a new type. testdata/ golden files pin them.
//   - Snapshot captures a point-in-time copy; Restore builds fresh state and
//     swaps it in whole, so a failed restore leaves the old state untouched.
package fsm
