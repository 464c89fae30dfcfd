package api

import (
	"fmt"
	"mime"
	"net/http"

	"github.com/kmsnode/kmsnode/api/sigv4"
)

// checkHeaders refuses requests whose headers could mean two things to two
// readers, before any work: a proxy, the rate limiter and the signature
// check must all see the same operation and the same credentials. Go joins
// repeated headers into one canonical header when computing a signature,
// but everything else reads the first value, so a repeated Authorization,
// X-Amz-Target or X-Amz-Date is refused outright rather than interpreted.
func checkHeaders(r *http.Request) error {
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		if len(r.Header[h]) > 1 {
			return fmt.Errorf("%w: %s appears %d times", sigv4.ErrIncompleteSignature, h, len(r.Header[h]))
		}
	}
	if len(r.Header["X-Amz-Target"]) > 1 {
		return errUnknownOperation
	}
	return checkContentType(r.Header["Content-Type"])
}

// checkContentType accepts the AWS JSON 1.1 media type the SDKs send, AWS
// JSON 1.0 and plain JSON (hand-written clients), with or without
// parameters, and a request without one. Anything else (a form, text,
// XML) is not a request of this protocol.
func checkContentType(vs []string) error {
	switch len(vs) {
	case 0:
		return nil
	case 1:
	default:
		return errContentType
	}
	mt, _, err := mime.ParseMediaType(vs[0])
	if err != nil {
		return errContentType
	}
	switch mt {
	case "application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json":
		return nil
	}
	return errContentType
}
