package api

import (
	"github.com/kmsnode/kmsnode/api/wire"
)

// wipeRequest zeroes plaintext a client sent once the operation is done.
func wipeRequest(req any) {
	if r, ok := req.(*wire.EncryptRequest); ok {
		clear(r.Plaintext)
	}
}

// wipeResponse zeroes plaintexts and data keys of a response once written.
func wipeResponse(resp any) {
	switch r := resp.(type) {
	case *wire.DecryptResponse:
		clear(r.Plaintext)
	case *wire.GenerateDataKeyResponse:
		clear(r.Plaintext)
	case *wire.GenerateRandomResponse:
		clear(r.Plaintext)
	}
}
