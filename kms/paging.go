package kms

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Markers are opaque to clients: the last item of a page, base64url with a
// prefix naming the listing, so a marker from one listing is refused by
// another.

func encodeMarker(kind, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + last))
}

func decodeMarker(kind, marker string) (string, error) {
	if marker == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(marker)
	if err != nil {
		return "", errorf(ErrInvalidMarker, "Invalid marker.")
	}
	last, ok := strings.CutPrefix(string(b), kind+":")
	if !ok || last == "" {
		return "", errorf(ErrInvalidMarker, "Invalid marker.")
	}
	return last, nil
}

// limit returns the page size: the caller's Limit or the default.
func limit(l *int32, def int) int {
	if l == nil {
		return def
	}
	return int(*l)
}

// pageLimit enforces a page size limit that AWS documents below the model's
// 1–1000 (ListAliases and ListGrants 1–100, ListResourceTags 1–50).
func pageLimit(member string, l *int32, max int32) error {
	if l != nil && *l > max {
		return validation(member, strconv.Itoa(int(*l)), "Member must have value less than or equal to "+strconv.Itoa(int(max)))
	}
	return nil
}
