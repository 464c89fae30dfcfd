package api_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

func listAliases(t testing.TB, n *testnode.Node, in *awskms.ListAliasesInput) []types.AliasListEntry {
	t.Helper()
	var out []types.AliasListEntry
	for p := awskms.NewListAliasesPaginator(n.Client, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx(t))
		mustOK(t, "ListAliases", err)
		out = append(out, page.Aliases...)
	}
	return out
}

func aliasNames(as []types.AliasListEntry) []string {
	var out []string
	for _, a := range as {
		out = append(out, aws.ToString(a.AliasName))
	}
	return out
}

func TestAliasLifecycle(t *testing.T) {
	t.Parallel()
	clk := manualClock()
	n := start(t, testnode.WithClock(clk))
	c := n.Client
	k1, k2 := newKeyID(t, n), newKeyID(t, n)
	created := clk.Now()
	// TargetKeyId may be a key ARN.
	_, err := c.CreateAlias(ctx(t), &awskms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(keyARN(k1))})
	mustOK(t, "CreateAlias", err)

	as := listAliases(t, n, &awskms.ListAliasesInput{})
	if len(as) != 1 {
		t.Fatalf("aliases %s", jsonOf(as))
	}
	a := as[0]
	if aws.ToString(a.AliasName) != "alias/app" || aws.ToString(a.AliasArn) != aliasARN("alias/app") || aws.ToString(a.TargetKeyId) != k1 {
		t.Errorf("entry %s", jsonOf(a))
	}
	sameInstant(t, "CreationDate", a.CreationDate, created)
	sameInstant(t, "LastUpdatedDate", a.LastUpdatedDate, created)
	if got := aws.ToString(describe(t, n, "alias/app").KeyId); got != k1 {
		t.Errorf("alias resolves to %s", got)
	}
	blob1 := encrypt(t, n, "alias/app", []byte("one"), nil)

	// UpdateAlias moves it; the creation date stays.
	clk.Advance(time.Hour)
	_, err = c.UpdateAlias(ctx(t), &awskms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: &k2})
	mustOK(t, "UpdateAlias", err)
	a = listAliases(t, n, &awskms.ListAliasesInput{})[0]
	if aws.ToString(a.TargetKeyId) != k2 {
		t.Errorf("after UpdateAlias: target %s", aws.ToString(a.TargetKeyId))
	}
	sameInstant(t, "CreationDate after update", a.CreationDate, created)
	sameInstant(t, "LastUpdatedDate after update", a.LastUpdatedDate, created.Add(time.Hour))
	e, err := c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: aws.String("alias/app"), Plaintext: []byte("two")})
	mustOK(t, "Encrypt via alias", err)
	if aws.ToString(e.KeyId) != keyARN(k2) {
		t.Errorf("Encrypt via the moved alias used %s", aws.ToString(e.KeyId))
	}
	// A ciphertext names its key, not the alias.
	if got := decrypt(t, n, blob1, nil); aws.ToString(got.KeyId) != keyARN(k1) {
		t.Errorf("old ciphertext decrypts under %s", aws.ToString(got.KeyId))
	}
	_, err = c.UpdateAlias(ctx(t), &awskms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(keyARN(k1))})
	mustOK(t, "UpdateAlias by key ARN", err)

	// DeleteAlias removes the name, not the key.
	_, err = c.DeleteAlias(ctx(t), &awskms.DeleteAliasInput{AliasName: aws.String("alias/app")})
	mustOK(t, "DeleteAlias", err)
	if as := listAliases(t, n, &awskms.ListAliasesInput{}); len(as) != 0 {
		t.Errorf("aliases after delete: %s", jsonOf(as))
	}
	_, err = c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: aws.String("alias/app")})
	wantErr(t, err, "NotFoundException")
	_, err = c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: aws.String(aliasARN("alias/app")), Plaintext: []byte("x")})
	wantErr(t, err, "NotFoundException")
	if s := keyState(t, n, k1); s != types.KeyStateEnabled {
		t.Errorf("key state after DeleteAlias: %s", s)
	}
	// The name can be used again.
	createAlias(t, n, "alias/app", k2)
}

func TestAliasNames(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	longest := "alias/" + strings.Repeat("x", 250) // 256 characters, the model's maximum
	for _, name := range []string{"alias/a", "alias/With-Upper_and:colon/slash", "alias/0", longest, "alias/awsome"} {
		createAlias(t, n, name, id)
		if got := aws.ToString(describe(t, n, name).KeyId); got != id {
			t.Errorf("%s resolves to %s", name, got)
		}
	}
	// Alias names are case-sensitive.
	_, err := n.Client.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: aws.String("alias/A")})
	wantErr(t, err, "NotFoundException")
}

func TestListAliasesFilterAndPaging(t *testing.T) {
	t.Parallel()
	n := start(t)
	a, b := newKeyID(t, n), newKeyID(t, n)
	var all, ofA []string
	for i := range 7 {
		name := fmt.Sprintf("alias/p%d", i)
		target := b
		if i%2 == 0 {
			target, ofA = a, append(ofA, name)
		}
		createAlias(t, n, name, target)
		all = append(all, name)
	}

	// 7 aliases with Limit 3: pages of 3, 3 and 1.
	var got []string
	var pages []int
	var marker *string
	for {
		out, err := n.Client.ListAliases(ctx(t), &awskms.ListAliasesInput{Limit: i32(3), Marker: marker})
		mustOK(t, "ListAliases", err)
		pages = append(pages, len(out.Aliases))
		got = append(got, aliasNames(out.Aliases)...)
		if !out.Truncated {
			if out.NextMarker != nil {
				t.Errorf("last page has a NextMarker")
			}
			break
		}
		if aws.ToString(out.NextMarker) == "" || len(pages) > 5 {
			t.Fatalf("bad paging %v", pages)
		}
		marker = out.NextMarker
	}
	if !slices.Equal(pages, []int{3, 3, 1}) {
		t.Errorf("pages %v, want [3 3 1]", pages)
	}
	slices.Sort(got)
	if !slices.Equal(got, all) {
		t.Errorf("listed %v, want %v", got, all)
	}

	// KeyId filter, by key ID and by key ARN, paged one at a time too.
	for _, ref := range []string{a, keyARN(a)} {
		for _, limit := range []*int32{nil, i32(1)} {
			as := listAliases(t, n, &awskms.ListAliasesInput{KeyId: aws.String(ref), Limit: limit})
			names := aliasNames(as)
			slices.Sort(names)
			if !slices.Equal(names, ofA) {
				t.Errorf("ListAliases KeyId %s limit %v: %v, want %v", ref, limit, names, ofA)
			}
			for _, e := range as {
				if aws.ToString(e.TargetKeyId) != a {
					t.Errorf("filtered entry targets %s", aws.ToString(e.TargetKeyId))
				}
			}
		}
	}
	// A key with no aliases lists none.
	if as := listAliases(t, n, &awskms.ListAliasesInput{KeyId: aws.String(newKeyID(t, n))}); len(as) != 0 {
		t.Errorf("aliases of a new key: %v", aliasNames(as))
	}
}

// TestCreateAliasRace: of concurrent CreateAlias calls for one name,
// exactly one wins; the others are AlreadyExistsException.
func TestCreateAliasRace(t *testing.T) {
	t.Parallel()
	n := start(t)
	var keys []string
	for range 6 {
		keys = append(keys, newKeyID(t, n))
	}
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = n.Client.CreateAlias(ctx(t), &awskms.CreateAliasInput{AliasName: aws.String("alias/contested"), TargetKeyId: aws.String(k)})
		}()
	}
	wg.Wait()
	winner := ""
	for i, err := range errs {
		if err == nil {
			if winner != "" {
				t.Fatalf("two CreateAlias calls won")
			}
			winner = keys[i]
			continue
		}
		wantErr(t, err, "AlreadyExistsException")
	}
	if winner == "" {
		t.Fatal("no CreateAlias call won")
	}
	if got := aws.ToString(describe(t, n, "alias/contested").KeyId); got != winner {
		t.Fatalf("alias points at %s, the winner was %s", got, winner)
	}
}
