package crypto_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/kmsnode/kmsnode/crypto"
)

func ExampleEncrypt() {
	// In kmsnode the material comes from the in-memory cache, unsealed by
	// the region keyring; here it is random.
	material, _ := crypto.Random(crypto.KeySize)
	defer crypto.Zero(material)

	ref, _ := crypto.ParseKeyID("1234abcd-12ab-34cd-56ef-1234567890ab")
	ec := map[string]string{"tenant": "acme"}
	blob, err := crypto.Encrypt(material, crypto.Header{Ref: ref, Version: 1}, []byte("hello"), ec)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(blob) - len("hello"))

	// Decrypt: the header says which key and version to look up.
	h, _ := crypto.ParseHeader(blob)
	fmt.Println(h.Ref, h.Version)
	pt, err := crypto.Decrypt(material, blob, ec)
	fmt.Printf("%s %v\n", pt, err)

	// A different encryption context does not decrypt.
	_, err = crypto.Decrypt(material, blob, map[string]string{"tenant": "evil"})
	fmt.Println(errors.Is(err, crypto.ErrInvalidCiphertext))
	// Output:
	// 67
	// 1234abcd-12ab-34cd-56ef-1234567890ab 1
	// hello <nil>
	// true
}

func ExampleCanonicalContext() {
	a, _ := crypto.CanonicalContext(map[string]string{"ab": "c"})
	b, _ := crypto.CanonicalContext(map[string]string{"a": "bc"})
	// count=1, keyLen=2, "ab", valueLen=1, "c"
	fmt.Printf("% x\n", a)
	// count=1, keyLen=1, "a", valueLen=2, "bc"
	fmt.Printf("% x\n", b)
	// Output:
	// 00 01 00 02 61 62 00 01 63
	// 00 01 00 01 61 00 02 62 63
}

func ExampleParseKeyID() {
	for _, id := range []string{
		"1234ABCD-12AB-34CD-56EF-1234567890AB",
		"mrk-1234abcd12ab34cd56ef1234567890ab",
		"alias/my-key",
	} {
		ref, err := crypto.ParseKeyID(id)
		fmt.Println(ref.Type, ref, err)
	}
	// Output:
	// 1 1234abcd-12ab-34cd-56ef-1234567890ab <nil>
	// 2 mrk-1234abcd12ab34cd56ef1234567890ab <nil>
	// 0 !INVALID:00 crypto: invalid key ID
}

func ExampleKeyring_SealMaterial() {
	term1, _ := crypto.Random(crypto.KeySize)
	defer crypto.Zero(term1)
	k := crypto.NewKeyring()
	defer k.Wipe()
	k.Add(1, term1)
	k.SetActive(1)

	material, _ := crypto.Random(crypto.KeySize)
	aad := crypto.SealAAD{Region: "eu-west-1", KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab", Version: 1, Purpose: "material"}
	sealed, _ := k.SealMaterial(material, aad)
	fmt.Println(len(sealed), sealed[:4])

	opened, err := k.OpenMaterial(sealed, aad)
	fmt.Println(bytes.Equal(opened, material), err)
	crypto.Zero(opened)

	// Sealed material cannot be moved to another key version.
	aad.Version = 2
	_, err = k.OpenMaterial(sealed, aad)
	fmt.Println(err)
	// Output:
	// 64 [0 0 0 1]
	// true <nil>
	// crypto: unseal failed
}

func ExampleWrap() {
	kek, _ := crypto.Random(crypto.KeySize) // from the seal provider
	rrk, _ := crypto.Random(crypto.KeySize) // the Region Root Key
	aad := []byte("kmsnode/rrk/file")
	wrapped, _ := crypto.Wrap(kek, rrk, aad)
	check := crypto.RootCheck(rrk) // stored next to wrapped

	got, err := crypto.Unwrap(kek, wrapped, aad)
	fmt.Println(err, crypto.VerifyRootCheck(got, check))
	// Output:
	// <nil> true
}
