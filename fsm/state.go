package fsm

// Key states, as AWS names them.
const (
	StateEnabled         = "Enabled"
	StateDisabled        = "Disabled"
	StatePendingDeletion = "PendingDeletion"
)

// Rotation types of a material version, as AWS names them.
const (
	RotationAutomatic = "AUTOMATIC"
	RotationOnDemand  = "ON_DEMAND"
)

// Limits enforced in Apply (AWS KMS quotas).
const (
	MaxTagsPerKey              = 50
	MaxOnDemandRotations       = 25
	requestTTLMillis     int64 = 15 * 60 * 1000 // how long a request ID is remembered
)

// Key is one KMS key. Times are Unix milliseconds chosen by the proposer.
// A *Key obtained from the FSM is immutable.
type Key struct {
	ID                string     `json:"id"`
	CreatedAt         int64      `json:"created_at"`
	Description       string     `json:"description,omitempty"`
	Usage             string     `json:"usage"`
	Spec              string     `json:"spec"`
	Origin            string     `json:"origin"`
	Manager           string     `json:"manager"`
	MultiRegion       bool       `json:"multi_region,omitempty"`
	State             string     `json:"state"`
	DeletionDate      int64      `json:"deletion_date,omitempty"`
	PendingWindowDays int32      `json:"pending_window_days,omitempty"`
	Policy            string     `json:"policy"`
	Tags              []Tag      `json:"tags,omitempty"` // sorted by Key
	Rotation          Rotation   `json:"rotation"`
	Materials         []Material `json:"materials"` // ascending Version; the last is current
	// Grants are sorted by ID (grant.go).
	Grants []Grant `json:"grants,omitzero"`
}

// Tag is a key tag.
type Tag struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// Rotation is a key's rotation setting and history counters.
type Rotation struct {
	Enabled       bool  `json:"enabled,omitempty"`
	PeriodDays    int32 `json:"period_days,omitempty"`
	NextAt        int64 `json:"next_at,omitempty"`         // next automatic rotation
	OnDemandCount int32 `json:"on_demand_count,omitempty"` // RotateKeyOnDemand calls so far
	OnDemandAt    int64 `json:"on_demand_at,omitempty"`    // start of the last on-demand rotation
}

// Material is one version of a key's material, sealed under the region
// keyring by the proposer. Sealed is opaque here.
type Material struct {
	Version      uint32 `json:"version"`
	Sealed       []byte `json:"sealed"`
	CreatedAt    int64  `json:"created_at"`
	RotationType string `json:"rotation_type,omitempty"` // "" for the key's first material
}

// Current returns the material new ciphertexts use.
func (k *Key) Current() *Material { return &k.Materials[len(k.Materials)-1] }

// MaterialVersion returns the material of version v, or nil.
func (k *Key) MaterialVersion(v uint32) *Material {
	// Versions are dense from 1, so index directly; fall back to a scan.
	if i := int(v) - 1; i >= 0 && i < len(k.Materials) && k.Materials[i].Version == v {
		return &k.Materials[i]
	}
	for i := range k.Materials {
		if k.Materials[i].Version == v {
			return &k.Materials[i]
		}
	}
	return nil
}

// Alias names a key.
type Alias struct {
	Name      string `json:"name"`
	KeyID     string `json:"key_id"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
}

// Seal is the region's sealed key hierarchy: the root key wrapped by each
// unseal provider, its check value, and the keyring terms sealed under it.
type Seal struct {
	WrappedRoot map[string][]byte `json:"wrapped_root"` // provider name → wrapped root key
	RootCheck   []byte            `json:"root_check"`
	Terms       []Term            `json:"terms"` // ascending; the last is active
	// Shamir is the share set of the "shamir" provider (seal_cmds.go).
	Shamir *ShamirParams `json:"shamir,omitempty"`
}

// Term is one region keyring term, sealed under the root key.
type Term struct {
	Number uint32 `json:"number"`
	Sealed []byte `json:"sealed"`
}

// clone returns a shallow copy of k whose slices may be replaced (not edited
// in place) by the caller.
func (k *Key) clone() *Key {
	c := *k
	return &c
}
