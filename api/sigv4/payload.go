package sigv4

import (
	"net/http"
)

// VerifyPayloadHash checks the signature of a request whose body is too
// large to hold in memory and is streamed after authentication (a snapshot
// restore). The client declares the body's hex SHA-256 in
// X-Amz-Content-Sha256, as S3 clients do, and signs over it; the signature
// is checked against that declared digest. The body itself is not read:
// the caller must hash it while streaming and act on it only if the digest
// matches (otherwise the body is not the one that was signed).
//
// A missing or malformed header (anything but 64 lowercase hex digits, so
// never UNSIGNED-PAYLOAD) fails as an incomplete signature.
func (v *Verifier) VerifyPayloadHash(r *http.Request) (Result, error) {
	if r == nil {
		return Result{}, errMissingAuth
	}
	h, _ := firstValue(r.Header, paramContentSHA256)
	if !isHexSHA256(h) {
		return Result{}, newError(ErrIncompleteSignature,
			"X-Amz-Content-Sha256 must carry the hex SHA-256 of the streamed request body.")
	}
	return v.verify(r, nil, []byte(h))
}

// DeclaredPayloadHash returns the body digest a request declared in
// X-Amz-Content-Sha256, for the caller of VerifyPayloadHash to compare with
// the body it streams.
func DeclaredPayloadHash(r *http.Request) string {
	h, _ := firstValue(r.Header, paramContentSHA256)
	return h
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
