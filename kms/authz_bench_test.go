package kms

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// BenchmarkAuthorizeKey is the authorization an Encrypt pays: the caller's
// identity and policies, the key policy (AWS's default, delegating to the
// account), the condition keys and the evaluation.
func BenchmarkAuthorizeKey(b *testing.B) {
	lc := &logCluster{f: fsm.New()}
	s := New(Config{Region: "us-east-1", AccountID: "111122223333", AdminAccessKeys: []string{"AKIAOPERATOR"}}, lc, lc.f)
	if err := s.Unseal(context.Background(), NewKEKUnsealer("file", bytes.Repeat([]byte{7}, 32))); err != nil {
		b.Fatal(err)
	}
	n := 0
	call := func(principal, akid string) context.Context {
		n++
		return WithRequest(context.Background(), &RequestInfo{ID: fmt.Sprintf("r%d", n), Principal: principal, AccessKeyID: akid, SourceIP: "10.0.0.1"})
	}
	admin := "arn:aws:iam::111122223333:user/op"
	created, err := s.CreateKey(call(admin, "AKIAOPERATOR"), &wire.CreateKeyRequest{})
	if err != nil {
		b.Fatal(err)
	}
	_, err = s.CreateIdentity(call(admin, "AKIAOPERATOR"), &CreateIdentityRequest{Identity: "app", PolicyName: "p",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`})
	if err != nil {
		b.Fatal(err)
	}
	k, _ := lc.f.Key(created.KeyMetadata.KeyId)
	ec := map[string]string{"app": "billing"}
	for _, c := range []struct{ name, principal, akid string }{
		{"identity", "arn:aws:iam::111122223333:user/app", "AKIAAPP"},
		{"operator", admin, "AKIAOPERATOR"},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := call(c.principal, c.akid)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.authorizeKey(ctx, "Encrypt", k, ec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
