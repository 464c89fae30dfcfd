// Package wire holds the AWS KMS JSON 1.1 request and response shapes shared
// by the server (package api) and clients, the exception type names, and the
// model-derived validation of every operation input.
//
// model_gen.go is generated from the AWS KMS API model that ships with
// botocore (api/wire/gen/gen.py, `make wire`); hand-written code lives in the
// other files. Conventions of the generated shapes:
//
//   - input strings are plain (empty means absent) except required strings
//     whose minimum length is 0, which are pointers;
//   - integers are pointers, so absent and zero differ;
//   - input booleans are pointers, output booleans are plain and always sent;
//   - timestamps are [Timestamp], epoch seconds as a JSON number;
//   - blobs are []byte, which encoding/json carries as base64, as AWS does.
//
// The package imports only the standard library.
package wire

//go:generate python3 gen/gen.py model_gen.go
