package api

import (
	jsonv2 "github.com/go-json-experiment/json"
)

// Request bodies are decoded with github.com/go-json-experiment/json, the
// implementation that is becoming Go's encoding/json/v2 (it is in the
// standard library behind GOEXPERIMENT=jsonv2 in Go 1.25–1.26; the import
// path changes when it graduates). It was picked by measurement
// (BenchmarkDecodeRequest in codec_test.go; DESIGN.md 18): it decodes an
// Encrypt request of 4 KiB about four times faster than encoding/json and a
// 32-byte one about three times, with fewer allocations, because it
// validates, unquotes and base64-decodes a string in one pass instead of
// three.
//
// Its defaults are also AWS's rules, which encoding/json needed help with:
//   - member names match case-sensitively, at every depth ({"keyid": …} is an
//     unknown member, ignored, not KeyId);
//   - a member name that appears twice in one object is an error, so a
//     request cannot mean two things to two readers;
//   - invalid UTF-8 is an error, not silently replaced with U+FFFD.
//
// Responses are still written by encoding/json (and by secret_json.go for
// those that carry secrets): there the two measured the same.

// decodeRequest decodes one JSON request body into v.
func decodeRequest(body []byte, v any) error {
	return jsonv2.Unmarshal(body, v)
}
