package node

import (
	"regexp"
	"strings"
	"testing"
)

func TestParseSharedCredentials(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in                 string
		akid, secret, token, err string
	}{
		{name: "default profile", in: "[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\n", akid: "AKIA1", secret: "s1"},
		{name: "keys before any section", in: "aws_access_key_id=AKIA2\r\naws_secret_access_key=s/2+x=\r\n", akid: "AKIA2", secret: "s/2+x="},
		{name: "other profiles ignored", in: "[prod]\naws_access_key_id = P\naws_secret_access_key = p\n[ default ]\n; c\n# c\nAWS_ACCESS_KEY_ID = D\naws_secret_access_key = d\naws_session_token = tok\nregion = eu-west-1\n", akid: "D", secret: "d", token: "tok"},
		{name: "only another profile", in: "[prod]\naws_access_key_id = P\naws_secret_access_key = p\n", err: "[default]"},
		{name: "no secret", in: "aws_access_key_id = A\n", err: "aws_secret_access_key"},
		{name: "empty", in: "", err: "[default]"},
		{name: "garbage line", in: "[default]\naws_access_key_id A\n", err: "line 2"},
		{name: "unterminated section", in: "[default\n", err: "line 1"},
		{name: "repeated key", in: "aws_access_key_id = A\naws_secret_access_key = s\naws_access_key_id = B\n", err: "line 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			akid, secret, token, err := parseSharedCredentials([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil || akid != tc.akid || secret != tc.secret || token != tc.token {
				t.Fatalf("got (%q, %q, %q, %v), want (%q, %q, %q)", akid, secret, token, err, tc.akid, tc.secret, tc.token)
			}
		})
	}
}

var credErrRE = regexp.MustCompile(`^(line [0-9]+: (an unterminated section header|want key = value|aws_(access_key_id|secret_access_key|session_token) is given twice)|no aws_access_key_id and aws_secret_access_key in the \[default\] profile)$`)

// The credentials file is outside input: parsing never panics, a success
// always has both keys, trimmed and on one line, and an error never quotes
// the file (it may hold a secret).
func FuzzParseSharedCredentials(f *testing.F) {
	for _, s := range []string{
		"[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\n",
		"aws_access_key_id=A\naws_secret_access_key=B\naws_session_token=C",
		"[x]\n[default]\n#\n;\n aws_access_key_id = A \n aws_secret_access_key = =B= \n",
		"[default\n", "=\n", "[]\naws_access_key_id=\n", "\x00[default]\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		akid, secret, token, err := parseSharedCredentials(b)
		if err != nil {
			if akid != "" || secret != "" || token != "" {
				t.Fatal("values returned with an error")
			}
			if !credErrRE.MatchString(err.Error()) {
				t.Fatalf("error %q is not one of the fixed messages (it may quote the input)", err)
			}
			return
		}
		for _, v := range []string{akid, secret} {
			if v == "" || v != strings.TrimSpace(v) || strings.ContainsAny(v, "\n") {
				t.Fatalf("bad value %q", v)
			}
		}
		if strings.ContainsAny(token, "\n") || token != strings.TrimSpace(token) {
			t.Fatalf("bad token %q", token)
		}
	})
}

func TestCheckKMSAPIEndpoint(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"https://kms.us-east-1.amazonaws.com", "https://10.0.0.1:8443", "https://kms.example/prefix", "http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:8080"} {
		if err := checkKMSAPIEndpoint(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "kms.example", "http://10.0.0.1:8080", "http://kms.example", "ftp://kms.example", "https://u:p@kms.example", "https://kms.example?x=1", "https://kms.example#f", "https://%zz", "http://127.0.0.1.example.com"} {
		if err := checkKMSAPIEndpoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
