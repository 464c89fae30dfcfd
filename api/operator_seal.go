package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"math"
	"strconv"

	"github.com/kmsnode/kmsnode/kms"
)

// The seal operations (design-notes §5.2). Unseal and SealStatus are served
// without SigV4, as Vault serves sys/unseal: a sealed node cannot open the
// identities' secrets to check a signature, and the shares are the
// authentication. Everything else here is a signed operator call, authorized
// as kmsnode:<Name> by the identity policies. No request or answer field
// here is ever logged or audited.

// maxShareBody bounds the unauthenticated requests: a share is 35 bytes.
const maxShareBody = 4 << 10

// sealRoutes are the seal operations, keyed with the operator prefix.
func sealRoutes(k *kms.Service) map[string]route {
	return map[string]route{
		operatorPrefix + "Unseal":        {maxBody: maxShareBody, unauthenticated: true, handle: sealHandler(k, unseal)},
		operatorPrefix + "SealStatus":    {maxBody: maxShareBody, unauthenticated: true, handle: sealHandler(k, sealStatus)},
		operatorPrefix + "RotateKeyring": {maxBody: smallBody, handle: sealHandler(k, rotateKeyring)},
		operatorPrefix + "RekeyInit":     {maxBody: smallBody, handle: sealHandler(k, rekeyInit)},
		operatorPrefix + "RekeyUpdate":   {maxBody: smallBody, handle: sealHandler(k, rekeyUpdate)},
		operatorPrefix + "RekeyStatus":   {maxBody: smallBody, handle: sealHandler(k, rekeyStatus)},
		operatorPrefix + "RekeyCancel":   {maxBody: smallBody, handle: sealHandler(k, rekeyCancel)},
		operatorPrefix + "RekeyKey":      {maxBody: smallBody, handle: sealHandler(k, rekeyKey)},
	}
}

// sealRequest is every seal operation's request; each uses its own members.
// Key and NewKey arrive base64-encoded and are zeroed after the call.
type sealRequest struct {
	Key       []byte `json:"Key,omitempty"`
	Reset     bool   `json:"Reset,omitempty"`
	Nonce     string `json:"Nonce,omitempty"`
	Shares    int    `json:"Shares,omitempty"`
	Threshold int    `json:"Threshold,omitempty"`
	Provider  string `json:"Provider,omitempty"`
	NewKey    []byte `json:"NewKey,omitempty"`
}

func (r *sealRequest) wipe() {
	clear(r.Key)
	clear(r.NewKey)
}

func sealHandler(k *kms.Service, fn func(context.Context, *kms.Service, *sealRequest) (any, error)) handler {
	return func(ctx context.Context, body []byte) (any, error) {
		var req sealRequest
		defer req.wipe()
		if len(bytes.TrimSpace(body)) > 0 {
			if err := decodeRequest(body, &req); err != nil {
				// The decoder's message could quote the share: say nothing
				// of the body.
				return nil, errSerialization
			}
		}
		if len(req.Nonce) > 64 || len(req.Provider) > 64 || len(req.Key) > 1024 || len(req.NewKey) > 1024 {
			return nil, &kms.Error{Kind: kms.ErrValidation, Msg: "1 validation error detected: a member of the request is too long."}
		}
		return fn(ctx, k, &req)
	}
}

// sealStatusResponse answers Unseal and SealStatus.
type sealStatusResponse struct {
	Sealed            bool
	Initialized       bool
	Provider          string `json:",omitempty"`
	Threshold         int    `json:",omitempty"`
	Shares            int    `json:",omitempty"`
	Progress          int
	KeyringTerm       uint32 `json:",omitempty"`
	RetryAfterSeconds int    `json:",omitempty"`
}

func statusResponse(st kms.SealStatus) *sealStatusResponse {
	return &sealStatusResponse{
		Sealed: st.Sealed, Initialized: st.Initialized, Provider: st.Provider,
		Threshold: st.Threshold, Shares: st.Shares, Progress: st.Progress, KeyringTerm: st.Term,
		RetryAfterSeconds: int(math.Ceil(st.RetryAfter.Seconds())),
	}
}

func unseal(ctx context.Context, k *kms.Service, r *sealRequest) (any, error) {
	st, err := k.UnsealShare(ctx, r.Key, r.Reset)
	if err != nil {
		return nil, err
	}
	return statusResponse(st), nil
}

func sealStatus(ctx context.Context, k *kms.Service, _ *sealRequest) (any, error) {
	return statusResponse(k.SealStatus(ctx)), nil
}

func rotateKeyring(ctx context.Context, k *kms.Service, _ *sealRequest) (any, error) {
	rot, err := k.RotateKeyring(ctx)
	if err != nil {
		return nil, err
	}
	return struct{ KeyringTerm, Terms int }{int(rot.Term), rot.Terms}, nil
}

// rekeyResponse answers the Rekey* operations. Keys, the new shares, is set
// once, by the RekeyUpdate that completes a rekey; it is written by
// encodeSecretTo and zeroed right after.
type rekeyResponse struct {
	Started      bool
	Nonce        string
	Threshold    int
	Progress     int
	NewShares    int
	NewThreshold int
	Complete     bool
	Keys         [][]byte
}

func rekeyAnswer(st kms.RekeyStatus) *rekeyResponse {
	return &rekeyResponse{
		Started: true, Nonce: st.Nonce, Threshold: st.Threshold, Progress: st.Progress,
		NewShares: st.NewShares, NewThreshold: st.NewThreshold, Complete: st.Complete, Keys: st.Shares,
	}
}

// encodeSecretTo writes r as JSON into the server's pooled buffer (zeroed
// after the write) and zeroes the shares: they are shown once.
func (r *rekeyResponse) encodeSecretTo(o *objectWriter) {
	o.open()
	o.key("Started")
	writeBool(o, r.Started)
	o.str("Nonce", r.Nonce)
	for _, f := range []struct {
		k string
		v int
	}{{"Threshold", r.Threshold}, {"Progress", r.Progress}, {"NewShares", r.NewShares}, {"NewThreshold", r.NewThreshold}} {
		o.key(f.k)
		o.b.WriteString(strconv.Itoa(f.v))
	}
	o.key("Complete")
	writeBool(o, r.Complete)
	if len(r.Keys) > 0 {
		o.key("Keys")
		o.b.WriteByte('[')
		for i, sh := range r.Keys {
			if i > 0 {
				o.b.WriteByte(',')
			}
			o.b.WriteByte('"')
			n := base64.StdEncoding.EncodedLen(len(sh))
			o.b.Grow(n)
			buf := o.b.AvailableBuffer()[:n]
			base64.StdEncoding.Encode(buf, sh)
			o.b.Write(buf)
			o.b.WriteByte('"')
			clear(sh)
		}
		o.b.WriteByte(']')
	}
}

func writeBool(o *objectWriter, v bool) {
	if v {
		o.b.WriteString("true")
	} else {
		o.b.WriteString("false")
	}
}

func rekeyInit(ctx context.Context, k *kms.Service, r *sealRequest) (any, error) {
	st, err := k.RekeyInit(ctx, r.Shares, r.Threshold)
	if err != nil {
		return nil, err
	}
	return rekeyAnswer(st), nil
}

func rekeyUpdate(ctx context.Context, k *kms.Service, r *sealRequest) (any, error) {
	if r.Nonce == "" {
		return nil, &kms.Error{Kind: kms.ErrValidation, Msg: "Nonce is required: the one RekeyInit returned."}
	}
	st, err := k.RekeyUpdate(ctx, r.Nonce, r.Key)
	if err != nil {
		return nil, err
	}
	return rekeyAnswer(st), nil
}

func rekeyStatus(ctx context.Context, k *kms.Service, _ *sealRequest) (any, error) {
	st, ok := k.RekeyStatus(ctx)
	if !ok {
		return &rekeyResponse{}, nil
	}
	return rekeyAnswer(st), nil
}

func rekeyCancel(ctx context.Context, k *kms.Service, _ *sealRequest) (any, error) {
	k.RekeyCancel(ctx)
	return struct{}{}, nil
}

func rekeyKey(ctx context.Context, k *kms.Service, r *sealRequest) (any, error) {
	p, err := k.RekeyKEK(ctx, r.Provider, r.NewKey)
	if err != nil {
		return nil, err
	}
	return struct{ Provider string }{p}, nil
}
