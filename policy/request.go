package policy

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Request is one authorization question: may Principal do Action on
// Resource, given the condition keys? The API layer builds one per call;
// nothing here is retained after the evaluation returns, so a Request can
// live on the caller's stack and be reused.
type Request struct {
	// Principal is the caller's ARN: arn:aws:iam::111122223333:user/alice,
	// …:role/app, an sts assumed-role session, or the account root
	// arn:aws:iam::111122223333:root.
	Principal string
	// Account is the caller's account ID. When empty it is taken from
	// Principal.
	Account string
	// Action is the IAM action, "kms:Encrypt".
	Action string
	// Resource is the key ARN, or "*" for an operation on no key
	// (CreateKey, ListKeys).
	Resource string

	// Time, when not zero, supplies aws:CurrentTime and aws:EpochTime.
	Time time.Time
	// EncryptionContext, when not nil, supplies kms:EncryptionContext:<key>
	// and kms:EncryptionContextKeys. It is read, never copied, so the API
	// layer passes the map it decoded: nothing is built unless a condition
	// asks for these keys.
	EncryptionContext map[string]string
	// Context holds every other condition key: kms:CallerAccount,
	// kms:ViaService, aws:SourceIp, aws:PrincipalTag/<k>… Names match
	// case-insensitively, as in IAM; the first entry with a name wins and
	// one with no values counts as absent. An entry here overrides the
	// keys derived from the fields above.
	Context []ContextEntry
}

// ContextEntry is one condition key and its values; multi-valued keys
// (kms:EncryptionContextKeys, kms:ResourceAliases) have several.
//
// A slice of entries rather than a map: a call carries a handful of keys, a
// linear strings.EqualFold scan over them is as fast as hashing, and
// building it costs no map allocation (BenchmarkContextSlice against
// BenchmarkContextMap).
type ContextEntry struct {
	Key    string
	Values []string
}

// Add appends a condition key to the request's context.
func (r *Request) Add(key string, values ...string) {
	r.Context = append(r.Context, ContextEntry{Key: key, Values: values})
}

// keyKind says where a condition key's value comes from when Context does
// not hold it. Classified once, at Parse time.
type keyKind uint8

const (
	keyPlain                 keyKind = iota // Context only
	keyEncryptionContext                    // kms:EncryptionContext:<k>
	keyEncryptionContextKeys                // kms:EncryptionContextKeys
	keyPrincipalArn                         // aws:PrincipalArn ← Principal
	keyPrincipalAccount                     // aws:PrincipalAccount ← account
	keyCallerAccount                        // kms:CallerAccount ← account
	keyUsername                             // aws:username ← user name of an IAM user
	keyCurrentTime                          // aws:CurrentTime ← Time
	keyEpochTime                            // aws:EpochTime ← Time
)

const ecPrefix = "kms:EncryptionContext:"

type condKey struct {
	name  string
	kind  keyKind
	ecKey string // keyEncryptionContext: the encryption context key
}

var derivedKeys = map[string]keyKind{
	"kms:encryptioncontextkeys": keyEncryptionContextKeys,
	"aws:principalarn":          keyPrincipalArn,
	"aws:principalaccount":      keyPrincipalAccount,
	"kms:calleraccount":         keyCallerAccount,
	"aws:username":              keyUsername,
	"aws:currenttime":           keyCurrentTime,
	"aws:epochtime":             keyEpochTime,
}

func classifyKey(name string) condKey {
	k := condKey{name: name}
	if len(name) >= len(ecPrefix) && strings.EqualFold(name[:len(ecPrefix)], ecPrefix) {
		// The whole condition key name is case-insensitive in IAM, the
		// encryption context key inside it too; kms:EncryptionContextKeys
		// with StringEquals is how a policy insists on the case.
		k.kind, k.ecKey = keyEncryptionContext, name[len(ecPrefix):]
		return k
	}
	k.kind = derivedKeys[strings.ToLower(name)]
	return k
}

// lookup returns the values of a condition key, nil when absent. A single
// derived value is returned in *buf so that the common case allocates
// nothing; the result must not outlive buf.
func (r *Request) lookup(k *condKey, c *caller, buf *[1]string) []string {
	for i := range r.Context {
		if strings.EqualFold(r.Context[i].Key, k.name) {
			return r.Context[i].Values
		}
	}
	switch k.kind {
	case keyEncryptionContext:
		var vals []string
		n := 0
		for ek, ev := range r.EncryptionContext {
			if strings.EqualFold(ek, k.ecKey) {
				if n++; n == 1 {
					buf[0] = ev
					vals = buf[:]
				} else {
					// Keys that differ only by case: all of them count,
					// sorted so the answer never depends on map order.
					vals = append(slices.Clip(vals), ev)
				}
			}
		}
		slices.Sort(vals)
		return vals
	case keyEncryptionContextKeys:
		if len(r.EncryptionContext) == 0 {
			return nil
		}
		keys := make([]string, 0, len(r.EncryptionContext))
		for ek := range r.EncryptionContext {
			keys = append(keys, ek)
		}
		slices.Sort(keys)
		return keys
	case keyPrincipalArn:
		return single(buf, r.Principal)
	case keyPrincipalAccount, keyCallerAccount:
		return single(buf, c.account)
	case keyUsername:
		return single(buf, c.user)
	case keyCurrentTime:
		if !r.Time.IsZero() {
			return single(buf, r.Time.UTC().Format(time.RFC3339))
		}
	case keyEpochTime:
		if !r.Time.IsZero() {
			return single(buf, strconv.FormatInt(r.Time.Unix(), 10))
		}
	}
	return nil
}

func single(buf *[1]string, s string) []string {
	if s == "" {
		return nil
	}
	buf[0] = s
	return buf[:]
}
