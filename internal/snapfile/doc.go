// Package snapfile is the archive format of a region backup (kmsctl
// snapshot save, inspect, restore): a Raft snapshot of the region's state
// machine wrapped with what an operator and a restore need to know about it,
// and a checksum that makes any damage visible.
//
// Layout (all integers big-endian):
//
//	"kmsnode snapshot\n"        magic, 17 bytes
//	uint32                     length of the header, at most MaxHeaderSize
//	header                     JSON: Header (format version, region, account,
//	                           node, Raft index and term, created time, the
//	                           SHA-256 and size of the payload, a summary)
//	payload                    Header.Size bytes: the Raft snapshot as the
//	                           state machine wrote it (fsm's encoding)
//	"kmsnode snapshot end\n"    trailer magic, 21 bytes
//	uint64                     number of bytes before the trailer
//	[32]byte                   SHA-256 of every byte before it
//
// The payload holds key material, access-key secrets and the region's root
// key only as the state machine holds them: sealed under the region keyring,
// itself under the root key that only the region's unseal provider opens. A
// snapshot file is therefore no more secret than the Raft data directory,
// and restoring it needs the unseal key (or shares) of the region that made
// it.
//
// A [Reader] checks everything while the payload streams through it: the
// payload's length and SHA-256 against the header, then the trailer's size
// and checksum. It reports [ErrCorrupt] (or [ErrTruncated]) instead of
// io.EOF when anything differs, so a consumer that reads to EOF before it
// acts (a restore spools and decodes first) never acts on damaged bytes.
//
// The parser reads bytes from outside (a file, an HTTP body): the header is
// bounded, its length is checked before it is read, and no allocation
// depends on a size the file claims.
package snapfile
