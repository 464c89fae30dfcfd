package kms

import "context"

// ListIdentitiesRequest pages through identities.
type ListIdentitiesRequest struct {
	Limit  *int32 `json:"Limit,omitempty"`
	Marker string `json:"Marker,omitempty"`
}

// ListIdentitiesResponse is one page, in ARN order.
type ListIdentitiesResponse struct {
	Identities []IdentityInfo `json:"Identities"`
	NextMarker string         `json:"NextMarker,omitempty"`
	Truncated  bool           `json:"Truncated"`
}

// ListIdentities is KmsNodeOperator.ListIdentities.
func (s *Service) ListIdentities(ctx context.Context, req *ListIdentitiesRequest) (*ListIdentitiesResponse, error) {
	if err := s.authorizeAccount(ctx, "kmsnode:ListIdentities"); err != nil {
		return nil, err
	}
	if err := pageLimit("limit", req.Limit, 1000); err != nil {
		return nil, err
	}
	after, err := decodeMarker("identities", req.Marker)
	if err != nil {
		return nil, err
	}
	ids, more := s.fsm.ListIdentities(after, limit(req.Limit, 100))
	resp := &ListIdentitiesResponse{Identities: make([]IdentityInfo, 0, len(ids)), Truncated: more}
	for _, id := range ids {
		resp.Identities = append(resp.Identities, s.identityInfo(id))
	}
	if more {
		resp.NextMarker = encodeMarker("identities", ids[len(ids)-1].ARN)
	}
	return resp, nil
}
