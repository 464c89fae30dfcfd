package audit

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Fixed CloudTrail values for every record.
const (
	eventVersion = "1.08"
	eventSource  = "kms.amazonaws.com"
	eventType    = "AwsApiCall"
)

// AppendJSON appends r as one CloudTrail-shaped JSON object (no trailing
// newline) to dst and returns the extended slice. Field order is fixed and
// encryption-context keys are sorted, so equal records give equal bytes.
// Invalid UTF-8 in any string is replaced by U+FFFD.
//
// Shape (optional parts omitted when empty):
//
//	{"eventVersion":"1.08","eventTime":RFC3339Nano UTC,"eventSource":"kms.amazonaws.com",
//	 "eventName":Operation,"awsRegion":Region,"requestID":RequestID,"eventType":"AwsApiCall",
//	 "userIdentity":{"type","arn","accountId","accessKeyId"},"sourceIPAddress":SourceIP,
//	 "userAgent":UserAgent,"requestParameters":{"keyId","encryptionContext"}|null,
//	 "resources":[{"accountId","type","ARN"}],"errorCode","errorMessage",
//	 "durationMs":Duration in ms (µs precision),"kmsnodeNode":Node}
//
// userIdentity.type ("IAMUser", "AssumedRole", "Root", …) and the account
// IDs are derived from the ARNs. resources lists KeyID first when it is an
// ARN (CloudTrail names the key there), then Resources, without duplicates;
// type is "AWS::KMS::Key" or "AWS::KMS::Alias" for KMS ARNs. Hash chaining
// (issue 4) will add its fields after kmsnodeNode, in the sink's writer.
func (r Record) AppendJSON(dst []byte) []byte {
	b := append(dst, `{"eventVersion":"`+eventVersion+`","eventTime":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","eventSource":"`+eventSource+`","eventName":`...)
	b = appendString(b, r.Operation)
	b = append(b, `,"awsRegion":`...)
	b = appendString(b, r.Region)
	b = append(b, `,"requestID":`...)
	b = appendString(b, r.RequestID)
	b = append(b, `,"eventType":"`+eventType+`","userIdentity":{`...)
	b = r.appendIdentity(b)
	b = append(b, `},"sourceIPAddress":`...)
	b = appendString(b, r.SourceIP)
	b = append(b, `,"userAgent":`...)
	b = appendString(b, r.UserAgent)
	b = append(b, `,"requestParameters":`...)
	b = r.appendParameters(b)
	b = r.appendResources(b)
	if r.ErrorCode != "" {
		b = append(b, `,"errorCode":`...)
		b = appendString(b, r.ErrorCode)
	}
	if r.ErrorMessage != "" {
		b = append(b, `,"errorMessage":`...)
		b = appendString(b, r.ErrorMessage)
	}
	b = append(b, `,"durationMs":`...)
	b = strconv.AppendFloat(b, float64(r.Duration.Microseconds())/1000, 'f', -1, 64)
	if r.Node != "" {
		b = append(b, `,"kmsnodeNode":`...)
		b = appendString(b, r.Node)
	}
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler with the shape of [Record.AppendJSON].
func (r Record) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(make([]byte, 0, 512)), nil
}

func (r Record) appendIdentity(b []byte) []byte {
	sep := ""
	field := func(name, v string) {
		if v != "" {
			b = append(b, sep...)
			b = append(b, '"')
			b = append(b, name...)
			b = append(b, `":`...)
			b = appendString(b, v)
			sep = ","
		}
	}
	field("type", identityType(r.Principal))
	field("arn", r.Principal)
	field("accountId", arnAccount(r.Principal))
	field("accessKeyId", r.AccessKeyID)
	return b
}

func (r Record) appendParameters(b []byte) []byte {
	if r.KeyID == "" && len(r.EncryptionContext) == 0 {
		return append(b, "null"...)
	}
	b = append(b, '{')
	if r.KeyID != "" {
		b = append(b, `"keyId":`...)
		b = appendString(b, r.KeyID)
	}
	if len(r.EncryptionContext) > 0 {
		if r.KeyID != "" {
			b = append(b, ',')
		}
		b = append(b, `"encryptionContext":{`...)
		keys := make([]string, 0, len(r.EncryptionContext))
		for k := range r.EncryptionContext {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, r.EncryptionContext[k])
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func (r Record) appendResources(b []byte) []byte {
	n := 0
	add := func(arn string) {
		if n == 0 {
			b = append(b, `,"resources":[`...)
		} else {
			b = append(b, ',')
		}
		n++
		b = append(b, '{')
		if acct := arnAccount(arn); acct != "" {
			b = append(b, `"accountId":`...)
			b = appendString(b, acct)
			b = append(b, ',')
		}
		if t := resourceType(arn); t != "" {
			b = append(b, `"type":"`...)
			b = append(b, t...)
			b = append(b, `",`...)
		}
		b = append(b, `"ARN":`...)
		b = appendString(b, arn)
		b = append(b, '}')
	}
	keyIsARN := strings.HasPrefix(r.KeyID, "arn:")
	if keyIsARN {
		add(r.KeyID)
	}
	for i, arn := range r.Resources {
		if arn == "" || (keyIsARN && arn == r.KeyID) || slices.Contains(r.Resources[:i], arn) {
			continue
		}
		add(arn)
	}
	if n > 0 {
		b = append(b, ']')
	}
	return b
}

// identityType maps a caller ARN to CloudTrail's userIdentity.type.
func identityType(arn string) string {
	if arn == "" {
		return ""
	}
	res := arnField(arn, 5)
	switch {
	case res == "root":
		return "Root"
	case strings.HasPrefix(res, "user/"):
		return "IAMUser"
	case strings.HasPrefix(res, "assumed-role/"):
		return "AssumedRole"
	case strings.HasPrefix(res, "role/"):
		return "Role"
	case strings.HasPrefix(res, "federated-user/"):
		return "FederatedUser"
	}
	return "Unknown"
}

// resourceType maps a KMS ARN to CloudTrail's resources[].type.
func resourceType(arn string) string {
	if arnField(arn, 2) != "kms" {
		return ""
	}
	res := arnField(arn, 5)
	switch {
	case strings.HasPrefix(res, "key/"):
		return "AWS::KMS::Key"
	case strings.HasPrefix(res, "alias/"):
		return "AWS::KMS::Alias"
	}
	return ""
}

func arnAccount(arn string) string { return arnField(arn, 4) }

// arnField returns field i (0-based) of arn:partition:service:region:account:resource,
// or "" if arn is not an ARN.
func arnField(arn string, i int) string {
	if !strings.HasPrefix(arn, "arn:") {
		return ""
	}
	rest := arn
	for range i {
		_, after, ok := strings.Cut(rest, ":")
		if !ok {
			return ""
		}
		rest = after
	}
	if i == 5 {
		return rest
	}
	f, _, ok := strings.Cut(rest, ":")
	if !ok || strings.Count(rest, ":") < 5-i {
		return ""
	}
	return f
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. It escapes what JSON requires
// plus U+2028 and U+2029, and replaces invalid UTF-8 with U+FFFD, so every
// line is valid JSON and valid UTF-8.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			default:
				b = append(b, `\u202`...)
				b = append(b, hexDigits[r&0xF])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
