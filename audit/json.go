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
	eventVersion  = "1.08"
	eventSource   = "kms.amazonaws.com"
	eventType     = "AwsApiCall"
	eventCategory = "Management"
)

// AppendJSON appends r as one CloudTrail-shaped JSON object (no trailing
// newline) to dst and returns the extended slice. Field order is fixed and
// map keys are sorted, so equal records give equal bytes. Invalid UTF-8 in
// any string is replaced by U+FFFD.
//
// Shape, in CloudTrail's order (optional parts omitted when empty):
//
//	{"eventVersion":"1.08",
//	 "userIdentity":{"type","principalId","arn","accountId","accessKeyId"},
//	 "eventTime":RFC3339 UTC (seconds, as CloudTrail),"eventSource":"kms.amazonaws.com","eventName":Operation,
//	 "awsRegion":Region,"sourceIPAddress":SourceIP,"userAgent":UserAgent,
//	 "errorCode","errorMessage",
//	 "requestParameters":{…}|null,"responseElements":{…}|null,
//	 "additionalEventData":{"node":Node,"region":Region,"durationMs":ms (µs precision)},
//	 "requestID":RequestID,"eventID":EventID,"readOnly":bool,
//	 "resources":[{"accountId","type","ARN"}],"eventType":"AwsApiCall",
//	 "managementEvent":true,"recipientAccountId":AccountID,"eventCategory":"Management"}
//
// userIdentity.type is "Root", "IAMUser", "AssumedRole" (kmsnode role
// identities too), "FederatedUser", or "Unknown" when the call was not
// authenticated (then only accessKeyId, the one the request named, may
// follow). kmsnode has no IAM unique IDs, so principalId is the account ID
// for the root user, the user name for a user and "role:session" for an
// assumed role. resources lists KeyARN first, then Resources, without
// duplicates; type is "AWS::KMS::Key" or "AWS::KMS::Alias" for KMS ARNs.
// A [FileSink] adds "seq" and "prev" at the end (see chain.go).
func (r Record) AppendJSON(dst []byte) []byte {
	return append(r.appendBody(dst), '}')
}

// appendBody is AppendJSON without the closing brace, so that the sink's
// writer can append the chain members to the same buffer.
func (r Record) appendBody(dst []byte) []byte {
	b := append(dst, `{"eventVersion":"`+eventVersion+`","userIdentity":{`...)
	b = r.appendIdentity(b)
	b = append(b, `},"eventTime":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339) // CloudTrail's precision: whole seconds
	b = append(b, `","eventSource":"`+eventSource+`","eventName":`...)
	b = appendString(b, r.Operation)
	b = append(b, `,"awsRegion":`...)
	b = appendString(b, r.Region)
	b = append(b, `,"sourceIPAddress":`...)
	b = appendString(b, r.SourceIP)
	b = append(b, `,"userAgent":`...)
	b = appendString(b, r.UserAgent)
	if r.ErrorCode != "" {
		b = append(b, `,"errorCode":`...)
		b = appendString(b, r.ErrorCode)
	}
	if r.ErrorMessage != "" {
		b = append(b, `,"errorMessage":`...)
		b = appendString(b, r.ErrorMessage)
	}
	b = append(b, `,"requestParameters":`...)
	b = append(b, r.RequestParameters.String()...)
	b = append(b, `,"responseElements":`...)
	b = append(b, r.ResponseElements.String()...)
	b = append(b, `,"additionalEventData":{"node":`...)
	b = appendString(b, r.Node)
	b = append(b, `,"region":`...)
	b = appendString(b, r.Region)
	b = append(b, `,"durationMs":`...)
	b = strconv.AppendFloat(b, float64(r.Duration.Microseconds())/1000, 'f', -1, 64)
	b = append(b, `},"requestID":`...)
	b = appendString(b, r.RequestID)
	if r.EventID != "" {
		b = append(b, `,"eventID":`...)
		b = appendString(b, r.EventID)
	}
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, r.ReadOnly)
	b = r.appendResources(b)
	b = append(b, `,"eventType":"`+eventType+`","managementEvent":true`...)
	if r.AccountID != "" {
		b = append(b, `,"recipientAccountId":`...)
		b = appendString(b, r.AccountID)
	}
	return append(b, `,"eventCategory":"`+eventCategory+`"`...)
}

// MarshalJSON implements json.Marshaler with the shape of [Record.AppendJSON].
func (r Record) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(make([]byte, 0, 1024)), nil
}

func (r Record) appendIdentity(b []byte) []byte {
	b = append(b, `"type":"`...)
	b = append(b, identityType(r.Principal)...)
	b = append(b, '"')
	field := func(name, v string) {
		if v != "" {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, `":`...)
			b = appendString(b, v)
		}
	}
	field("principalId", principalID(r.Principal))
	field("arn", r.Principal)
	field("accountId", arnAccount(r.Principal))
	field("accessKeyId", r.AccessKeyID)
	return b
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
	keyIsARN := strings.HasPrefix(r.KeyARN, "arn:")
	if keyIsARN {
		add(r.KeyARN)
	}
	for i, arn := range r.Resources {
		if arn == "" || (keyIsARN && arn == r.KeyARN) || slices.Contains(r.Resources[:i], arn) {
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
		return "Unknown"
	}
	res := arnField(arn, 5)
	switch {
	case res == "root":
		return "Root"
	case strings.HasPrefix(res, "user/"):
		return "IAMUser"
	case strings.HasPrefix(res, "assumed-role/"), strings.HasPrefix(res, "role/"):
		return "AssumedRole"
	case strings.HasPrefix(res, "federated-user/"):
		return "FederatedUser"
	}
	return "Unknown"
}

// principalID is kmsnode's userIdentity.principalId (see AppendJSON).
func principalID(arn string) string {
	res := arnField(arn, 5)
	switch {
	case res == "":
		return ""
	case res == "root":
		return arnAccount(arn)
	case strings.HasPrefix(res, "assumed-role/"):
		return strings.Replace(strings.TrimPrefix(res, "assumed-role/"), "/", ":", 1)
	}
	_, name, _ := strings.Cut(res, "/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:] // a user path: the name is the last element
	}
	return name
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

// sanitize replaces each invalid byte of s with U+FFFD, as appendString
// does, so that s reads back from the JSON exactly.
func sanitize(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}
