package policy

import (
	"errors"
	"slices"
	"testing"
)

func TestDefaultKeyPolicy(t *testing.T) {
	// The exact text GetKeyPolicy returns for a key created without a policy.
	const want = `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
	if got := DefaultKeyPolicy("aws", "111122223333"); got != want {
		t.Errorf("DefaultKeyPolicy =\n%s\nwant\n%s", got, want)
	}
	for _, tc := range []struct{ partition, account, root string }{
		{"aws", "111122223333", "arn:aws:iam::111122223333:root"},
		{"aws-cn", "444455556666", "arn:aws-cn:iam::444455556666:root"},
		{"aws-us-gov", "000000000000", "arn:aws-us-gov:iam::000000000000:root"},
	} {
		d, err := Parse(DefaultKeyPolicy(tc.partition, tc.account))
		if err != nil {
			t.Fatalf("%s: Parse: %v", tc.partition, err)
		}
		st := d.Statements[0]
		if st.Principal == nil || !slices.Equal(st.Principal.AWS, []string{tc.root}) {
			t.Errorf("%s: principal = %+v, want %s", tc.partition, st.Principal, tc.root)
		}
	}
}

func TestErrTooLargeWrapsErrMalformed(t *testing.T) {
	if !errors.Is(ErrTooLarge, ErrMalformed) {
		t.Fatal("ErrTooLarge does not wrap ErrMalformed")
	}
}

// FuzzParse checks that Parse never panics, that every error wraps
// ErrMalformed, and that every accepted document keeps the invariants.
func FuzzParse(f *testing.F) {
	for _, tc := range validDocs {
		f.Add(tc.doc)
	}
	for _, tc := range malformedDocs {
		if len(tc.doc) < 4096 {
			f.Add(tc.doc)
		}
	}
	f.Fuzz(func(t *testing.T, doc string) {
		d, err := Parse(doc)
		if err != nil {
			if d != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = %v, %v", doc, d, err)
			}
			return
		}
		checkInvariants(t, d)
	})
}
