package sigv4

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// botocoreSigner signs the cases given as JSON on stdin with botocore (the
// signer of the aws CLI and boto3) and prints the prepared requests.
const botocoreSigner = `
import json, sys
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

out = []
for c in json.load(sys.stdin):
    creds = Credentials(c["akid"], c["secret"], c.get("token") or None)
    req = AWSRequest(method=c["method"], url=c["url"], data=c["body"].encode(), headers=c["headers"])
    if c["presign"]:
        SigV4QueryAuth(creds, "kms", "us-east-1", expires=300).add_auth(req)
    else:
        SigV4Auth(creds, "kms", "us-east-1").add_auth(req)
    p = req.prepare()
    body = p.body or b""
    if isinstance(body, str):
        body = body.encode()
    out.append({"method": p.method, "url": p.url, "headers": [[k, v] for k, v in p.headers.items()],
                "body": body.decode()})
json.dump(out, sys.stdout)
`

// TestBotocoreInterop verifies requests signed by botocore, i.e. by the aws
// CLI. It is skipped when python3 with botocore is not installed.
func TestBotocoreInterop(t *testing.T) {
	if err := exec.Command("python3", "-c", "import botocore.auth").Run(); err != nil {
		t.Skip("python3 with botocore not available:", err)
	}
	type bcCase struct {
		Name    string            `json:"name"`
		AKID    string            `json:"akid"`
		Secret  string            `json:"secret"`
		Token   string            `json:"token"`
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Body    string            `json:"body"`
		Headers map[string]string `json:"headers"`
		Presign bool              `json:"presign"`
	}
	kmsHeaders := func(extra ...string) map[string]string {
		h := map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return h
	}
	base := "http://" + testHost
	cases := []bcCase{
		{Name: "encrypt", URL: base + "/", Body: encryptBody, Headers: kmsHeaders()},
		{Name: "https", URL: "https://" + testHost + "/", Body: encryptBody, Headers: kmsHeaders()},
		{Name: "session token", AKID: tempAKID, Secret: tempSecret, Token: tempToken, URL: base + "/", Body: encryptBody, Headers: kmsHeaders()},
		{Name: "encoded path", URL: base + "/a%20b/%E1%88%B4/x+y", Body: encryptBody, Headers: kmsHeaders()},
		{Name: "dot segments", URL: base + "/a/./b/../c//d/", Body: encryptBody, Headers: kmsHeaders()},
		{Name: "query", URL: base + "/?b=2&a=1&a=0&sp=a%20b&uni=%E1%88%B4&empty=", Body: encryptBody, Headers: kmsHeaders()},
		{Name: "whitespace headers", URL: base + "/", Body: encryptBody,
			Headers: kmsHeaders("X-Custom", "  a   b    c  ", "X-Quoted", `"a   b"`)},
		{Name: "tab in header value", URL: base + "/", Body: encryptBody, Headers: kmsHeaders("X-Custom", "a\t\tb  c")},
		{Name: "presign", Method: "GET", URL: base + "/?Action=ListKeys", Headers: map[string]string{}, Presign: true},
		{Name: "presign session token", AKID: tempAKID, Secret: tempSecret, Token: tempToken, Method: "GET",
			URL: base + "/", Headers: map[string]string{}, Presign: true},
	}
	for i := range cases {
		if cases[i].AKID == "" {
			cases[i].AKID, cases[i].Secret = testAKID, testSecret
		}
		if cases[i].Method == "" {
			cases[i].Method = http.MethodPost
		}
	}
	in, _ := json.Marshal(cases)
	cmd := exec.Command("python3", "-c", botocoreSigner)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outJSON, err := cmd.Output()
	if err != nil {
		t.Fatalf("botocore: %v\n%s", err, stderr.String())
	}
	var out []struct {
		Method  string      `json:"method"`
		URL     string      `json:"url"`
		Headers [][2]string `json:"headers"`
		Body    string      `json:"body"`
	}
	if err := json.Unmarshal(outJSON, &out); err != nil || len(out) != len(cases) {
		t.Fatalf("botocore output: %v %s", err, outJSON)
	}
	v := NewVerifier(testStore, Options{Service: testService, Region: testRegion})
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			o := out[i]
			_, rest, _ := strings.Cut(o.URL, "://")
			host, target, _ := strings.Cut(rest, "/")
			r, err := http.NewRequest(o.Method, o.URL, strings.NewReader(o.Body))
			if err != nil {
				t.Fatal(err)
			}
			r.RequestURI = "/" + target // the raw request-target a server would see
			r.Host = host
			for _, h := range o.Headers {
				r.Header.Add(h[0], h[1])
			}
			res, err := v.Verify(r, []byte(o.Body))
			if err != nil {
				t.Fatalf("Verify: %v\nURL %s\nheaders %q", err, o.URL, o.Headers)
			}
			if res.AccessKeyID != c.AKID {
				t.Fatalf("Result = %+v", res)
			}
		})
	}
}
