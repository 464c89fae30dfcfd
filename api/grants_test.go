package api_test

// Grants end to end: CreateGrant, ListGrants, ListRetirableGrants,
// RetireGrant and RevokeGrant over signed HTTP; a grant allows exactly its
// operations until it is retired or revoked, constraints admit only
// matching contexts, and a grant token makes a new grant usable at once on
// another node of a region.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/testcluster"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

const (
	granteeARN  = "arn:aws:iam::" + testAccount + ":user/grantee"
	retiringARN = "arn:aws:iam::" + testAccount + ":role/retirer"
)

// grant creates a grant through c and returns its ID and token.
func grant(t testing.TB, c *awskms.Client, in *awskms.CreateGrantInput) (id, token string) {
	t.Helper()
	out, err := c.CreateGrant(ctx(t), in)
	if err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	id, token = aws.ToString(out.GrantId), aws.ToString(out.GrantToken)
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("GrantId %q is not 64 lowercase hex digits", id)
	}
	if token == "" || strings.ContainsAny(token, "+/= ") {
		t.Fatalf("GrantToken %q is not URL-safe", token)
	}
	return id, token
}

func ops(o ...types.GrantOperation) []types.GrantOperation { return o }

// listGrants lists every grant of a key, page by page of size limit.
func listGrants(t testing.TB, c *awskms.Client, keyID string, limit int32, filter func(*awskms.ListGrantsInput)) []types.GrantListEntry {
	t.Helper()
	var all []types.GrantListEntry
	in := &awskms.ListGrantsInput{KeyId: &keyID, Limit: &limit}
	if filter != nil {
		filter(in)
	}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("ListGrants paging does not end")
		}
		out, err := c.ListGrants(ctx(t), in)
		if err != nil {
			t.Fatalf("ListGrants: %v", err)
		}
		if len(out.Grants) > int(limit) {
			t.Fatalf("page of %d grants for Limit %d", len(out.Grants), limit)
		}
		all = append(all, out.Grants...)
		if !out.Truncated {
			if out.NextMarker != nil {
				t.Fatal("NextMarker on the last page")
			}
			return all
		}
		in.Marker = out.NextMarker
	}
}

func grantIDsOf(gs []types.GrantListEntry) []string {
	var ids []string
	for _, g := range gs {
		ids = append(ids, aws.ToString(g.GrantId))
	}
	return ids
}

func TestGrants_CreateListRetireRevoke(t *testing.T) {
	n := start(t)
	keyID := newKeyID(t, n)
	before := time.Now().Add(-time.Second)
	id1, tok1 := grant(t, n.Client, &awskms.CreateGrantInput{
		KeyId: &keyID, GranteePrincipal: aws.String(granteeARN), RetiringPrincipal: aws.String(retiringARN),
		Operations:  ops(types.GrantOperationEncrypt, types.GrantOperationDecrypt, types.GrantOperationEncrypt),
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"app": "billing"}},
		Name:        aws.String("billing-app"),
	})
	id2, tok2 := grant(t, n.Client, &awskms.CreateGrantInput{
		KeyId: aws.String(keyARN(keyID)), GranteePrincipal: aws.String(granteeARN), Operations: ops(types.GrantOperationDescribeKey),
	})
	id3, _ := grant(t, n.Client, &awskms.CreateGrantInput{
		KeyId: &keyID, GranteePrincipal: aws.String("arn:aws:iam::444455556666:root"), RetiringPrincipal: aws.String(retiringARN),
		Operations: ops(types.GrantOperationGenerateDataKey),
	})

	all := listGrants(t, n.Client, keyID, 100, nil)
	if len(all) != 3 {
		t.Fatalf("ListGrants = %d grants, want 3", len(all))
	}
	ids := grantIDsOf(all)
	if !slices.IsSorted(ids) || !slices.Contains(ids, id1) || !slices.Contains(ids, id2) || !slices.Contains(ids, id3) {
		t.Fatalf("ListGrants IDs %v, want %s %s %s in ID order", ids, id1, id2, id3)
	}
	g1 := all[slices.Index(ids, id1)]
	if aws.ToString(g1.KeyId) != keyARN(keyID) || aws.ToString(g1.Name) != "billing-app" ||
		aws.ToString(g1.GranteePrincipal) != granteeARN || aws.ToString(g1.RetiringPrincipal) != retiringARN ||
		aws.ToString(g1.IssuingAccount) != "arn:aws:iam::"+testAccount+":root" ||
		!slices.Equal(g1.Operations, ops(types.GrantOperationEncrypt, types.GrantOperationDecrypt)) ||
		g1.Constraints == nil || g1.Constraints.EncryptionContextSubset["app"] != "billing" || g1.Constraints.EncryptionContextEquals != nil {
		t.Fatalf("grant entry = %s", jsonOf(g1))
	}
	if g1.CreationDate == nil || g1.CreationDate.Before(before) || g1.CreationDate.After(time.Now().Add(time.Second)) {
		t.Fatalf("CreationDate = %v", g1.CreationDate)
	}
	if g2 := all[slices.Index(ids, id2)]; g2.Name != nil || g2.RetiringPrincipal != nil || g2.Constraints != nil {
		t.Fatalf("grant without name, retiring principal or constraints listed as %s", jsonOf(g2))
	}

	// Filters.
	if got := listGrants(t, n.Client, keyID, 100, func(in *awskms.ListGrantsInput) { in.GrantId = &id2 }); !slices.Equal(grantIDsOf(got), []string{id2}) {
		t.Fatalf("ListGrants GrantId filter = %v", grantIDsOf(got))
	}
	got := listGrants(t, n.Client, keyID, 100, func(in *awskms.ListGrantsInput) { in.GranteePrincipal = aws.String(granteeARN) })
	if ids := grantIDsOf(got); len(ids) != 2 || !slices.Contains(ids, id1) || !slices.Contains(ids, id2) {
		t.Fatalf("ListGrants GranteePrincipal filter = %v", ids)
	}
	rg, err := n.Client.ListRetirableGrants(ctx(t), &awskms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(retiringARN)})
	mustOK(t, "ListRetirableGrants", err)
	if ids := grantIDsOf(rg.Grants); len(ids) != 2 || !slices.Contains(ids, id1) || !slices.Contains(ids, id3) || rg.Truncated {
		t.Fatalf("ListRetirableGrants = %v", ids)
	}

	// RevokeGrant by key and grant ID, then again: InvalidGrantId.
	_, err = n.Client.RevokeGrant(ctx(t), &awskms.RevokeGrantInput{KeyId: &keyID, GrantId: &id3})
	mustOK(t, "RevokeGrant", err)
	_, err = n.Client.RevokeGrant(ctx(t), &awskms.RevokeGrantInput{KeyId: &keyID, GrantId: &id3})
	wantErr(t, err, "InvalidGrantIdException")
	if !isA[*types.InvalidGrantIdException](err) {
		t.Fatalf("SDK did not type InvalidGrantIdException: %T", err)
	}
	// RetireGrant by token alone, then by key and grant ID.
	_, err = n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: &tok2})
	mustOK(t, "RetireGrant by token", err)
	_, err = n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: &tok2})
	wantErr(t, err, "NotFoundException")
	_, err = n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{KeyId: aws.String(keyARN(keyID)), GrantId: &id1})
	mustOK(t, "RetireGrant by key and grant ID", err)
	_, err = n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: &tok1})
	wantErr(t, err, "NotFoundException")
	if left := listGrants(t, n.Client, keyID, 10, nil); len(left) != 0 {
		t.Fatalf("grants left: %v", grantIDsOf(left))
	}
	rg, err = n.Client.ListRetirableGrants(ctx(t), &awskms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(retiringARN)})
	mustOK(t, "ListRetirableGrants", err)
	if len(rg.Grants) != 0 {
		t.Fatalf("retirable grants left: %v", grantIDsOf(rg.Grants))
	}
}

func TestGrants_Paging(t *testing.T) {
	n := start(t)
	k1, k2 := newKeyID(t, n), newKeyID(t, n)
	var want1 []string
	for i := range 7 {
		id, _ := grant(t, n.Client, &awskms.CreateGrantInput{KeyId: &k1, GranteePrincipal: aws.String(granteeARN),
			RetiringPrincipal: aws.String(retiringARN), Operations: ops(types.GrantOperationEncrypt), Name: aws.String(fmt.Sprintf("g%d", i))})
		want1 = append(want1, id)
	}
	for range 4 {
		grant(t, n.Client, &awskms.CreateGrantInput{KeyId: &k2, GranteePrincipal: aws.String(granteeARN),
			RetiringPrincipal: aws.String(retiringARN), Operations: ops(types.GrantOperationDecrypt)})
	}
	slices.Sort(want1)
	for _, limit := range []int32{1, 3, 7, 50} {
		if got := grantIDsOf(listGrants(t, n.Client, k1, limit, nil)); !slices.Equal(got, want1) {
			t.Fatalf("Limit %d: %v, want %v", limit, got, want1)
		}
	}
	// Default page size is 50: one page here.
	out, err := n.Client.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: &k1})
	mustOK(t, "ListGrants", err)
	if len(out.Grants) != 7 || out.Truncated {
		t.Fatalf("default page: %d grants, truncated %v", len(out.Grants), out.Truncated)
	}
	// A marker of one key's listing is refused for another key's.
	out, err = n.Client.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: &k1, Limit: i32(2)})
	mustOK(t, "ListGrants", err)
	_, err = n.Client.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: &k2, Marker: out.NextMarker})
	wantErr(t, err, "InvalidMarkerException")
	_, err = n.Client.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: &k1, Marker: aws.String("bm90LWEtbWFya2Vy")})
	wantErr(t, err, "InvalidMarkerException")

	// ListRetirableGrants pages across keys.
	var all []string
	in := &awskms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(retiringARN), Limit: i32(4)}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ListRetirableGrants paging does not end")
		}
		out, err := n.Client.ListRetirableGrants(ctx(t), in)
		mustOK(t, "ListRetirableGrants", err)
		all = append(all, grantIDsOf(out.Grants)...)
		if !out.Truncated {
			break
		}
		in.Marker = out.NextMarker
	}
	if len(all) != 11 || len(slices.Compact(slices.Sorted(slices.Values(all)))) != 11 {
		t.Fatalf("ListRetirableGrants across keys: %d grants (%v)", len(all), all)
	}
	_, err = n.Client.ListRetirableGrants(ctx(t), &awskms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(retiringARN), Marker: out.NextMarker})
	wantErr(t, err, "InvalidMarkerException")
}

// With a Name, a repeated CreateGrant returns the first grant (with a new
// token, and every token works); other parameters make a new grant.
func TestGrants_IdempotentByName(t *testing.T) {
	n := start(t)
	keyID := newKeyID(t, n)
	in := func(o ...types.GrantOperation) *awskms.CreateGrantInput {
		return &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String(granteeARN), Operations: o, Name: aws.String("app/one:x_y-z")}
	}
	id1, tok1 := grant(t, n.Client, in(types.GrantOperationEncrypt, types.GrantOperationDecrypt))
	id2, tok2 := grant(t, n.Client, in(types.GrantOperationDecrypt, types.GrantOperationEncrypt))
	if id1 != id2 {
		t.Fatalf("same name and parameters: grant IDs %s and %s", id1, id2)
	}
	if tok1 == tok2 {
		t.Fatal("a repeated CreateGrant returned the same token")
	}
	id3, _ := grant(t, n.Client, in(types.GrantOperationEncrypt))
	if id3 == id1 {
		t.Fatal("same name, other operations returned the existing grant")
	}
	if got := listGrants(t, n.Client, keyID, 10, nil); len(got) != 2 {
		t.Fatalf("%d grants, want 2", len(got))
	}
	// Without a name, identical requests make distinct grants.
	noName := &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String(granteeARN), Operations: ops(types.GrantOperationDescribeKey)}
	a, _ := grant(t, n.Client, noName)
	b, _ := grant(t, n.Client, noName)
	if a == b {
		t.Fatal("two CreateGrant calls without a name returned one grant")
	}
	// Both tokens of the named grant name it: the second retires it.
	_, err := n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: &tok2})
	mustOK(t, "RetireGrant with the second token", err)
	_, err = n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: &tok1})
	wantErr(t, err, "NotFoundException")
}

func TestGrants_DryRun(t *testing.T) {
	n := start(t)
	keyID := newKeyID(t, n)
	id, tok := grant(t, n.Client, &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String(granteeARN), Operations: ops(types.GrantOperationEncrypt)})
	before := snapshot(t, n)
	_, err := n.Client.CreateGrant(ctx(t), &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String(granteeARN),
		Operations: ops(types.GrantOperationDecrypt), DryRun: aws.Bool(true)})
	wantErr(t, err, "DryRunOperationException")
	_, err = n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: &tok, DryRun: aws.Bool(true)})
	wantErr(t, err, "DryRunOperationException")
	_, err = n.Client.RevokeGrant(ctx(t), &awskms.RevokeGrantInput{KeyId: &keyID, GrantId: &id, DryRun: aws.Bool(true)})
	wantErr(t, err, "DryRunOperationException")
	sameState(t, n, before)
	// A DryRun that would fail answers the failure.
	_, err = n.Client.RevokeGrant(ctx(t), &awskms.RevokeGrantInput{KeyId: &keyID, GrantId: aws.String(strings.Repeat("0", 64)), DryRun: aws.Bool(true)})
	wantErr(t, err, "InvalidGrantIdException")
	_, err = n.Client.CreateGrant(ctx(t), &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String("nobody"),
		Operations: ops(types.GrantOperationDecrypt), DryRun: aws.Bool(true)})
	wantErr(t, err, "InvalidArnException")
	if got := listGrants(t, n.Client, keyID, 10, nil); len(got) != 1 {
		t.Fatalf("%d grants after dry runs, want 1", len(got))
	}
}

func TestGrants_Validation(t *testing.T) {
	n := start(t)
	keyID := newKeyID(t, n)
	eight := map[string]string{}
	for i := range 9 {
		eight[fmt.Sprintf("k%d", i)] = "v"
	}
	base := func(edit func(*awskms.CreateGrantInput)) *awskms.CreateGrantInput {
		in := &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String(granteeARN), Operations: ops(types.GrantOperationEncrypt)}
		edit(in)
		return in
	}
	before := snapshot(t, n)
	for _, tc := range []struct {
		name string
		in   *awskms.CreateGrantInput
		want string
	}{
		{"no operations", base(func(in *awskms.CreateGrantInput) { in.Operations = []types.GrantOperation{} }), "ValidationException"},
		{"unknown operation", base(func(in *awskms.CreateGrantInput) { in.Operations = ops("EnableKey") }), "ValidationException"},
		{"operation the key cannot do", base(func(in *awskms.CreateGrantInput) { in.Operations = ops(types.GrantOperationSign) }), "ValidationException"},
		{"MAC operation on an encryption key", base(func(in *awskms.CreateGrantInput) { in.Operations = ops(types.GrantOperationGenerateMac) }), "ValidationException"},
		{"nine constraint pairs", base(func(in *awskms.CreateGrantInput) {
			in.Constraints = &types.GrantConstraints{EncryptionContextSubset: eight}
		}), "ValidationException"},
		{"empty Equals constraint", base(func(in *awskms.CreateGrantInput) {
			in.Constraints = &types.GrantConstraints{EncryptionContextEquals: map[string]string{}}
		}), "ValidationException"},
		{"constraint value too long", base(func(in *awskms.CreateGrantInput) {
			in.Constraints = &types.GrantConstraints{EncryptionContextEquals: map[string]string{"k": strings.Repeat("v", 385)}}
		}), "ValidationException"},
		{"constraint with a non-context operation", base(func(in *awskms.CreateGrantInput) {
			in.Operations = ops(types.GrantOperationEncrypt, types.GrantOperationGetPublicKey)
			in.Constraints = &types.GrantConstraints{EncryptionContextSubset: map[string]string{"a": "b"}}
		}), "ValidationException"},
		{"grantee not an ARN", base(func(in *awskms.CreateGrantInput) { in.GranteePrincipal = aws.String("alice") }), "InvalidArnException"},
		{"grantee a key ARN", base(func(in *awskms.CreateGrantInput) { in.GranteePrincipal = aws.String(keyARN(keyID)) }), "InvalidArnException"},
		{"grantee in another partition", base(func(in *awskms.CreateGrantInput) {
			in.GranteePrincipal = aws.String("arn:aws-cn:iam::111122223333:user/alice")
		}), "InvalidArnException"},
		{"retiring principal not an ARN", base(func(in *awskms.CreateGrantInput) { in.RetiringPrincipal = aws.String("ops") }), "InvalidArnException"},
		{"grantee with a space", base(func(in *awskms.CreateGrantInput) {
			in.GranteePrincipal = aws.String("arn:aws:iam::111122223333:user/a b")
		}), "ValidationException"},
		{"name pattern", base(func(in *awskms.CreateGrantInput) { in.Name = aws.String("no spaces") }), "ValidationException"},
		{"name too long", base(func(in *awskms.CreateGrantInput) { in.Name = aws.String(strings.Repeat("n", 257)) }), "ValidationException"},
		{"eleven grant tokens", base(func(in *awskms.CreateGrantInput) { in.GrantTokens = make([]string, 11) }), "ValidationException"},
		{"alias is not a key ID here", base(func(in *awskms.CreateGrantInput) { in.KeyId = aws.String("alias/anything") }), "NotFoundException"},
		{"unknown key", base(func(in *awskms.CreateGrantInput) { in.KeyId = aws.String("5678abcd-12ab-34cd-56ef-1234567890ab") }), "NotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.Client.CreateGrant(ctx(t), tc.in)
			wantErr(t, err, tc.want)
		})
	}
	sameState(t, n, before)

	// Key states: a disabled key takes grants, a key pending deletion not.
	_, err := n.Client.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &keyID})
	mustOK(t, "DisableKey", err)
	grant(t, n.Client, base(func(*awskms.CreateGrantInput) {}))
	_, err = n.Client.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &keyID, PendingWindowInDays: i32(7)})
	mustOK(t, "ScheduleKeyDeletion", err)
	_, err = n.Client.CreateGrant(ctx(t), base(func(*awskms.CreateGrantInput) {}))
	wantErr(t, err, "KMSInvalidStateException")
	// Its grants are still listed, and can be removed.
	gs := listGrants(t, n.Client, keyID, 10, nil)
	if len(gs) != 1 {
		t.Fatalf("%d grants on the key pending deletion", len(gs))
	}
	_, err = n.Client.RevokeGrant(ctx(t), &awskms.RevokeGrantInput{KeyId: &keyID, GrantId: gs[0].GrantId})
	mustOK(t, "RevokeGrant on a key pending deletion", err)

	// The other operations.
	other := newKeyID(t, n)
	otherID, otherTok := grant(t, n.Client, &awskms.CreateGrantInput{KeyId: &other, GranteePrincipal: aws.String(granteeARN), Operations: ops(types.GrantOperationEncrypt)})
	_, err = n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{})
	wantErr(t, err, "ValidationException")
	_, err = n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantId: &otherID})
	wantErr(t, err, "ValidationException")
	_, err = n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: aws.String("not-a-grant-token")})
	wantErr(t, err, "InvalidGrantTokenException")
	if !isA[*types.InvalidGrantTokenException](err) {
		t.Fatalf("SDK did not type InvalidGrantTokenException: %T", err)
	}
	_, err = n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: &otherTok, KeyId: &keyID})
	wantErr(t, err, "ValidationException") // the token names another key
	_, err = n.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{KeyId: &keyID, GrantId: &otherID})
	wantErr(t, err, "InvalidGrantIdException") // a grant of another key
	_, err = n.Client.RevokeGrant(ctx(t), &awskms.RevokeGrantInput{KeyId: &keyID, GrantId: &otherID})
	wantErr(t, err, "InvalidGrantIdException")
	_, err = n.Client.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: &other, Limit: i32(101)})
	wantErr(t, err, "ValidationException")
	_, err = n.Client.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: &other, GrantId: aws.String(strings.Repeat("a", 64))})
	wantErr(t, err, "InvalidGrantIdException")
	_, err = n.Client.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: aws.String("alias/nope")})
	wantErr(t, err, "NotFoundException")
	_, err = n.Client.ListRetirableGrants(ctx(t), &awskms.ListRetirableGrantsInput{RetiringPrincipal: aws.String("nobody")})
	wantErr(t, err, "InvalidArnException")
	_, err = n.Client.ListRetirableGrants(ctx(t), &awskms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(retiringARN), Limit: i32(101)})
	wantErr(t, err, "ValidationException")
	// A malformed grant token in a crypto call is refused even when no
	// grant is needed … or ignored when policy allows: either way, never a
	// crash, and well-formed tokens of unknown grants change nothing.
	_, err = n.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &other, Plaintext: []byte("x"), GrantTokens: []string{otherTok, strings.Repeat("A", len(otherTok))}})
	if err != nil {
		wantErr(t, err, "InvalidGrantTokenException")
	}

	// Raw bodies the SDK would not send: garbage constraints and principals.
	for _, body := range []string{
		`{"KeyId":"` + other + `","GranteePrincipal":"` + granteeARN + `","Operations":["Encrypt"],"Constraints":{"EncryptionContextEquals":{"a":"1","a":"2"}}}`,
		`{"KeyId":"` + other + `","GranteePrincipal":"` + granteeARN + `","Operations":["Encrypt"],"Constraints":{"EncryptionContextSubset":["a"]}}`,
		`{"KeyId":"` + other + `","GranteePrincipal":"` + granteeARN + `","Operations":"Encrypt"}`,
		`{"KeyId":"` + other + `","GranteePrincipal":"` + granteeARN + `"}`,
		`{"KeyId":"` + other + `","GranteePrincipal":"` + granteeARN + `","Operations":[null]}`,
		`{"KeyId":"` + other + `","Operations":["Encrypt"]}`,
	} {
		r := rawCall(t, n, "CreateGrant", []byte(body), rawOpts{})
		if r.Status != 400 || (r.errType() != "SerializationException" && r.errType() != "ValidationException") {
			t.Errorf("CreateGrant %s: %s", body, r)
		}
		checkErrorShape(t, r)
	}
}

// ---- permissions (identities) ----

// grantsPolicyKey creates a key whose policy gives the account root (and so
// the developer credential) full access and nobody else anything: what
// identities without identity policies may do on it comes from grants.
func grantsPolicyKey(t *testing.T, n *testnode.Node, extra string) string {
	t.Helper()
	p := `{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:root"},"Action":"kms:*","Resource":"*"}` + extra + `]}`
	return *newKey(t, n, &awskms.CreateKeyInput{Policy: aws.String(p)}).KeyId
}

// tryOps runs every operation a grant may allow on a symmetric key and
// reports which succeeded.
func tryOps(t *testing.T, c *awskms.Client, keyID string, blob []byte, ec map[string]string) map[string]bool {
	t.Helper()
	res := map[string]bool{}
	record := func(op string, err error) {
		if err == nil {
			res[op] = true
			return
		}
		wantErr(t, err, "AccessDeniedException")
	}
	_, err := c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte("p"), EncryptionContext: ec})
	record("Encrypt", err)
	_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
	record("Decrypt", err)
	_, err = c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &keyID, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	record("GenerateDataKey", err)
	_, err = c.GenerateDataKeyWithoutPlaintext(ctx(t), &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: &keyID, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	record("GenerateDataKeyWithoutPlaintext", err)
	_, err = c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: &keyID, SourceEncryptionContext: ec, DestinationEncryptionContext: ec})
	record("ReEncrypt", err)
	_, err = c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &keyID})
	record("DescribeKey", err)
	_, err = c.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: &keyID})
	record("ListGrants", err)
	_, err = c.DisableKeyRotation(ctx(t), &awskms.DisableKeyRotationInput{KeyId: &keyID})
	record("DisableKeyRotation", err)
	return res
}

func allowed(ops ...string) map[string]bool {
	m := map[string]bool{}
	for _, op := range ops {
		m[op] = true
	}
	return m
}

func TestGrants_AllowExactlyTheirOperationsUntilRemoved(t *testing.T) {
	n := start(t)
	user := testnode.CreateIdentity(t, n, "grantee", "")
	retirer := testnode.CreateIdentity(t, n, "retirer", "")
	keyID := grantsPolicyKey(t, n, "")
	blob := encrypt(t, n, keyID, []byte("secret"), nil)

	if got := tryOps(t, user.Client, keyID, blob, nil); len(got) != 0 {
		t.Fatalf("without a grant the identity may %v", got)
	}
	// One grant: Encrypt and DescribeKey, retired by the retiring principal.
	_, tok := grant(t, n.Client, &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: &user.ARN, RetiringPrincipal: &retirer.ARN,
		Operations: ops(types.GrantOperationEncrypt, types.GrantOperationDescribeKey)})
	if got, want := tryOps(t, user.Client, keyID, blob, nil), allowed("Encrypt", "DescribeKey"); !mapsEqual(got, want) {
		t.Fatalf("with an Encrypt+DescribeKey grant: %v, want %v", got, want)
	}
	// The grantee cannot retire it (no RetireGrant operation), nor revoke it.
	_, err := user.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: &tok})
	wantErr(t, err, "AccessDeniedException")
	gs := listGrants(t, n.Client, keyID, 10, nil)
	_, err = user.Client.RevokeGrant(ctx(t), &awskms.RevokeGrantInput{KeyId: &keyID, GrantId: gs[0].GrantId})
	wantErr(t, err, "AccessDeniedException")
	_, err = retirer.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: &tok})
	mustOK(t, "RetireGrant by the retiring principal", err)
	if got := tryOps(t, user.Client, keyID, blob, nil); len(got) != 0 {
		t.Fatalf("after RetireGrant the identity may %v", got)
	}

	// Another: the data-key and decrypt family, revoked by the key's owner.
	id, _ := grant(t, n.Client, &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: &user.ARN,
		Operations: ops(types.GrantOperationDecrypt, types.GrantOperationGenerateDataKey, types.GrantOperationReEncryptFrom, types.GrantOperationReEncryptTo)})
	if got, want := tryOps(t, user.Client, keyID, blob, nil), allowed("Decrypt", "GenerateDataKey", "ReEncrypt"); !mapsEqual(got, want) {
		t.Fatalf("with a Decrypt+GenerateDataKey+ReEncrypt grant: %v, want %v", got, want)
	}
	_, err = n.Client.RevokeGrant(ctx(t), &awskms.RevokeGrantInput{KeyId: &keyID, GrantId: &id})
	mustOK(t, "RevokeGrant", err)
	if got := tryOps(t, user.Client, keyID, blob, nil); len(got) != 0 {
		t.Fatalf("after RevokeGrant the identity may %v", got)
	}

	// A grantee whose grant lists RetireGrant retires it itself; another
	// identity, neither grantee nor retiring principal, cannot.
	_, tok = grant(t, n.Client, &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: &user.ARN,
		Operations: ops(types.GrantOperationGenerateDataKeyWithoutPlaintext, types.GrantOperationRetireGrant)})
	if got, want := tryOps(t, user.Client, keyID, blob, nil), allowed("GenerateDataKeyWithoutPlaintext"); !mapsEqual(got, want) {
		t.Fatalf("with a GenerateDataKeyWithoutPlaintext grant: %v, want %v", got, want)
	}
	_, err = retirer.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: &tok})
	wantErr(t, err, "AccessDeniedException")
	_, err = user.Client.RetireGrant(ctx(t), &awskms.RetireGrantInput{GrantToken: &tok})
	mustOK(t, "RetireGrant by a grantee with RetireGrant", err)
	if got := tryOps(t, user.Client, keyID, blob, nil); len(got) != 0 {
		t.Fatalf("after retiring its own grant the identity may %v", got)
	}
	// The grants of one key say nothing about another.
	other := grantsPolicyKey(t, n, "")
	grant(t, n.Client, &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: &user.ARN, Operations: ops(types.GrantOperationEncrypt)})
	_, err = user.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &other, Plaintext: []byte("x")})
	wantErr(t, err, "AccessDeniedException")
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func TestGrants_ConstraintsAdmitOnlyMatchingContexts(t *testing.T) {
	n := start(t)
	user := testnode.CreateIdentity(t, n, "grantee", "")
	keyID := grantsPolicyKey(t, n, "")
	grant(t, n.Client, &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: &user.ARN,
		Operations:  ops(types.GrantOperationEncrypt, types.GrantOperationDescribeKey),
		Constraints: &types.GrantConstraints{EncryptionContextEquals: map[string]string{"tenant": "acme"}}})
	grant(t, n.Client, &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: &user.ARN,
		Operations:  ops(types.GrantOperationDecrypt),
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "acme", "app": "billing"}}})
	enc := func(ec map[string]string) error {
		_, err := user.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x"), EncryptionContext: ec})
		return err
	}
	mustOK(t, "Encrypt with the exact context", enc(map[string]string{"tenant": "acme"}))
	for _, ec := range []map[string]string{nil, {"tenant": "ACME"}, {"Tenant": "acme"}, {"tenant": "acme", "app": "billing"}, {"app": "billing"}} {
		wantErr(t, enc(ec), "AccessDeniedException")
	}
	// The constraint does not apply to DescribeKey.
	_, err := user.Client.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &keyID})
	mustOK(t, "DescribeKey under a constrained grant", err)
	dec := func(ec map[string]string) error {
		blob := encrypt(t, n, keyID, []byte("secret"), ec)
		_, err := user.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
		return err
	}
	mustOK(t, "Decrypt with the subset", dec(map[string]string{"tenant": "acme", "app": "billing"}))
	mustOK(t, "Decrypt with more pairs", dec(map[string]string{"tenant": "acme", "app": "billing", "region": "eu"}))
	for _, ec := range []map[string]string{nil, {"tenant": "acme"}, {"tenant": "acme", "app": "payroll"}} {
		wantErr(t, dec(ec), "AccessDeniedException")
	}
}

// A grant with CreateGrant lets its grantee pass on its operations (or
// fewer) with constraints as strict or stricter, nothing more.
func TestGrants_CreateGrantThroughAGrant(t *testing.T) {
	n := start(t)
	user := testnode.CreateIdentity(t, n, "grantee", "")
	third := testnode.CreateIdentity(t, n, "third", "")
	keyID := grantsPolicyKey(t, n, "")
	grant(t, n.Client, &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: &user.ARN,
		Operations:  ops(types.GrantOperationCreateGrant, types.GrantOperationDecrypt, types.GrantOperationEncrypt),
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "acme"}}})
	sub := func(in *awskms.CreateGrantInput) error {
		in.KeyId, in.GranteePrincipal = &keyID, &third.ARN
		_, err := user.Client.CreateGrant(ctx(t), in)
		return err
	}
	acme := &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "acme", "app": "x"}}
	wantErr(t, sub(&awskms.CreateGrantInput{Operations: ops(types.GrantOperationEncrypt)}), "AccessDeniedException") // looser: no constraint
	wantErr(t, sub(&awskms.CreateGrantInput{Operations: ops(types.GrantOperationGenerateDataKey), Constraints: acme}), "AccessDeniedException")
	wantErr(t, sub(&awskms.CreateGrantInput{Operations: ops(types.GrantOperationEncrypt),
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "other"}}}), "AccessDeniedException")
	mustOK(t, "pass on Encrypt, stricter", sub(&awskms.CreateGrantInput{Operations: ops(types.GrantOperationEncrypt), Constraints: acme}))
	_, err := third.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "acme", "app": "x"}})
	mustOK(t, "third party Encrypt through the passed-on grant", err)
	_, err = third.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: encrypt(t, n, keyID, []byte("x"), map[string]string{"tenant": "acme", "app": "x"}),
		EncryptionContext: map[string]string{"tenant": "acme", "app": "x"}})
	wantErr(t, err, "AccessDeniedException")
	// The third party got no CreateGrant.
	_, err = third.Client.CreateGrant(ctx(t), &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: &third.ARN, Operations: ops(types.GrantOperationEncrypt), Constraints: acme})
	wantErr(t, err, "AccessDeniedException")
}

// An explicit Deny in the key policy wins over any grant, and a condition
// on the grant parameters (kms:GrantOperations) limits CreateGrant.
func TestGrants_PolicyDenyAndGrantConditions(t *testing.T) {
	n := start(t)
	user := testnode.CreateIdentity(t, n, "grantee", "")
	granter := testnode.CreateIdentity(t, n, "granter", "")
	keyID := grantsPolicyKey(t, n, `,
 {"Sid":"NoDecrypt","Effect":"Deny","Principal":{"AWS":"`+user.ARN+`"},"Action":"kms:Decrypt","Resource":"*"},
 {"Sid":"granter","Effect":"Allow","Principal":{"AWS":"`+granter.ARN+`"},"Action":"kms:CreateGrant","Resource":"*",
  "Condition":{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]},"StringLike":{"kms:GranteePrincipal":"arn:aws:iam::`+testAccount+`:user/*"}}}`)
	_, err := granter.Client.CreateGrant(ctx(t), &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: &user.ARN,
		Operations: ops(types.GrantOperationEncrypt, types.GrantOperationDescribeKey)})
	wantErr(t, err, "AccessDeniedException") // DescribeKey is not among the allowed kms:GrantOperations
	_, err = granter.Client.CreateGrant(ctx(t), &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String("arn:aws:iam::" + testAccount + ":role/r"),
		Operations: ops(types.GrantOperationEncrypt)})
	wantErr(t, err, "AccessDeniedException") // the grantee condition
	grant(t, granter.Client, &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: &user.ARN,
		Operations: ops(types.GrantOperationEncrypt, types.GrantOperationDecrypt)})
	blob := encrypt(t, n, keyID, []byte("x"), nil)
	if got, want := tryOps(t, user.Client, keyID, blob, nil), allowed("Encrypt"); !mapsEqual(got, want) {
		t.Fatalf("grant of Encrypt+Decrypt under a policy denying Decrypt: %v, want %v", got, want)
	}
}

// A grant token makes a grant usable at once through any node of a region:
// each round creates a grant through the leader and uses it immediately,
// with its token, through each follower.
func TestGrants_TokenUsableAtOnceOnAnotherNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node region")
	}
	r := testcluster.Start(t, 3)
	leader := r.Leader()
	var user struct {
		Identity  struct{ Arn string }
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	if err := testnode.OperatorCall(testnode.Ctx(t), leader.URL(), leader.Config.Region, node.DevAccessKeyID, node.DevSecretAccessKey,
		"CreateIdentity", map[string]any{"Identity": "grantee"}, &user); err != nil {
		t.Fatalf("CreateIdentity: %v", err)
	}
	out, err := leader.Client.CreateKey(testnode.Ctx(t), &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(out.KeyMetadata.KeyId)
	followers := r.Followers()
	clients := make([]*awskms.Client, len(followers))
	for i, f := range followers {
		clients[i] = testnode.NewClient(f.URL(), f.Config.Region, user.AccessKey.AccessKeyId, user.AccessKey.SecretAccessKey)
		// The identity itself reaches every node first: until then a
		// follower does not know its access key.
		testnode.Eventually(t, 20*time.Second, "identity known on "+f.ID, func() bool {
			_, err := clients[i].Encrypt(testnode.Ctx(t), &awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
			return testnode.ErrCode(err) == "AccessDeniedException"
		})
	}
	for round := range 10 {
		g, err := leader.Client.CreateGrant(testnode.Ctx(t), &awskms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: &user.Identity.Arn,
			Operations: ops(types.GrantOperationEncrypt, types.GrantOperationRetireGrant)})
		if err != nil {
			t.Fatalf("round %d: CreateGrant: %v", round, err)
		}
		for i, c := range clients {
			_, err := c.Encrypt(testnode.Ctx(t), &awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x"), GrantTokens: []string{aws.ToString(g.GrantToken)}})
			if err != nil {
				t.Fatalf("round %d: Encrypt with the new grant's token through %s: %v", round, followers[i].ID, err)
			}
		}
		// Retired through a follower, by token: gone at once everywhere.
		if _, err := clients[round%len(clients)].RetireGrant(testnode.Ctx(t), &awskms.RetireGrantInput{GrantToken: g.GrantToken}); err != nil {
			t.Fatalf("round %d: RetireGrant: %v", round, err)
		}
		for _, nd := range r.Running() {
			c := testnode.NewClient(nd.URL(), nd.Config.Region, user.AccessKey.AccessKeyId, user.AccessKey.SecretAccessKey)
			_, err := c.Encrypt(testnode.Ctx(t), &awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x"), GrantTokens: []string{aws.ToString(g.GrantToken)}})
			if code := testnode.ErrCode(err); code != "AccessDeniedException" {
				t.Fatalf("round %d: Encrypt through %s after RetireGrant returned: %s (%v)", round, nd.ID, code, err)
			}
		}
	}
}
