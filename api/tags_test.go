package api_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

func tagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.TagKey)] = aws.ToString(t.TagValue)
	}
	return m
}

func tags(kv ...string) []types.Tag {
	var out []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, types.Tag{TagKey: aws.String(kv[i]), TagValue: aws.String(kv[i+1])})
	}
	return out
}

func manyTags(prefix string, n int) []types.Tag {
	var out []types.Tag
	for i := range n {
		out = append(out, types.Tag{TagKey: aws.String(fmt.Sprintf("%s%02d", prefix, i)), TagValue: aws.String("v")})
	}
	return out
}

func listTags(t testing.TB, n *testnode.Node, keyID string) map[string]string {
	t.Helper()
	out, err := n.Client.ListResourceTags(ctx(t), &awskms.ListResourceTagsInput{KeyId: &keyID})
	mustOK(t, "ListResourceTags", err)
	if out.Truncated {
		t.Fatalf("ListResourceTags truncated without a limit")
	}
	return tagMap(out.Tags)
}

func TestTagResource(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id := *newKey(t, n, &awskms.CreateKeyInput{Tags: tags("created", "at-birth")}).KeyId

	_, err := c.TagResource(ctx(t), &awskms.TagResourceInput{KeyId: &id, Tags: tags("team", "a", "env", "prod")})
	mustOK(t, "TagResource", err)
	want := map[string]string{"created": "at-birth", "team": "a", "env": "prod"}
	if got := listTags(t, n, id); !maps.Equal(got, want) {
		t.Fatalf("tags %v, want %v", got, want)
	}

	// An existing tag key gets the new value; by key ARN too.
	_, err = c.TagResource(ctx(t), &awskms.TagResourceInput{KeyId: aws.String(keyARN(id)), Tags: tags("team", "b", "empty", "")})
	mustOK(t, "TagResource replace", err)
	want["team"], want["empty"] = "b", ""
	if got := listTags(t, n, id); !maps.Equal(got, want) {
		t.Fatalf("tags %v, want %v", got, want)
	}

	// UntagResource removes the named keys; unknown keys are ignored.
	_, err = c.UntagResource(ctx(t), &awskms.UntagResourceInput{KeyId: &id, TagKeys: []string{"team", "not-there"}})
	mustOK(t, "UntagResource", err)
	delete(want, "team")
	if got := listTags(t, n, id); !maps.Equal(got, want) {
		t.Fatalf("tags %v, want %v", got, want)
	}
	_, err = c.UntagResource(ctx(t), &awskms.UntagResourceInput{KeyId: aws.String(keyARN(id)), TagKeys: []string{"created", "env", "empty"}})
	mustOK(t, "UntagResource all", err)
	out, err := c.ListResourceTags(ctx(t), &awskms.ListResourceTagsInput{KeyId: &id})
	mustOK(t, "ListResourceTags", err)
	if len(out.Tags) != 0 || out.Truncated {
		t.Fatalf("tags after removing all: %v", tagMap(out.Tags))
	}

	// Another key's tags are its own.
	other := newKeyID(t, n)
	if got := listTags(t, n, other); len(got) != 0 {
		t.Fatalf("new key has tags %v", got)
	}
}

func TestTagLimit(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	// 50 tags is the limit, at creation or added later.
	id := *newKey(t, n, &awskms.CreateKeyInput{Tags: manyTags("t", 50)}).KeyId
	if got := listTags(t, n, id); len(got) != 50 {
		t.Fatalf("%d tags", len(got))
	}
	// Replacing values of existing keys does not count against it.
	_, err := c.TagResource(ctx(t), &awskms.TagResourceInput{KeyId: &id, Tags: manyTags("t", 50)})
	mustOK(t, "TagResource of 50 existing keys", err)
	// One more is refused and changes nothing.
	before := snapshot(t, n)
	_, err = c.TagResource(ctx(t), &awskms.TagResourceInput{KeyId: &id, Tags: tags("t00", "new value", "one-more", "x")})
	wantErr(t, err, "LimitExceededException")
	sameState(t, n, before)
}

func TestListResourceTagsPaging(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := *newKey(t, n, &awskms.CreateKeyInput{Tags: manyTags("k", 5)}).KeyId
	var got []string
	var pages []int
	var marker *string
	for {
		out, err := n.Client.ListResourceTags(ctx(t), &awskms.ListResourceTagsInput{KeyId: &id, Limit: i32(2), Marker: marker})
		mustOK(t, "ListResourceTags", err)
		pages = append(pages, len(out.Tags))
		for _, tg := range out.Tags {
			got = append(got, aws.ToString(tg.TagKey))
		}
		if !out.Truncated {
			break
		}
		if aws.ToString(out.NextMarker) == "" || len(pages) > 5 {
			t.Fatalf("bad paging: %v %v", pages, out.NextMarker)
		}
		marker = out.NextMarker
	}
	if !slices.Equal(pages, []int{2, 2, 1}) {
		t.Errorf("pages %v", pages)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"k00", "k01", "k02", "k03", "k04"}) {
		t.Errorf("listed %v", got)
	}
}
