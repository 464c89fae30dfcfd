package kms

import (
	"context"
	"sort"

	"github.com/kmsnode/kmsnode/api/wire"
)

// ListResourceTags pages through a key's tags in tag key order.
func (s *Service) ListResourceTags(ctx context.Context, req *wire.ListResourceTagsRequest) (*wire.ListResourceTagsResponse, error) {
	if err := pageLimit("limit", req.Limit, 50); err != nil {
		return nil, err
	}
	after, err := decodeMarker("tags", req.Marker)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveKey(ctx, "ListResourceTags", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	tags := k.Tags
	i := sort.Search(len(tags), func(i int) bool { return tags[i].Key > after })
	if after == "" {
		i = 0
	}
	n := limit(req.Limit, 50)
	resp := &wire.ListResourceTagsResponse{Tags: []wire.Tag{}}
	for ; i < len(tags) && len(resp.Tags) < n; i++ {
		resp.Tags = append(resp.Tags, wire.Tag{TagKey: tags[i].Key, TagValue: tags[i].Value})
	}
	if i < len(tags) {
		resp.Truncated = true
		resp.NextMarker = encodeMarker("tags", tags[i-1].Key)
	}
	return resp, nil
}
