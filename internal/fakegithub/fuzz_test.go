package fakegithub

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
)

// FuzzVerifyJWT feeds the JWT decoder arbitrary tokens: it must not
// panic, and it may accept only tokens whose claims are those the app
// signed (a mutation that decodes to the same bytes is the same token).
func FuzzVerifyJWT(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	s := &Server{now: func() time.Time { return now }}
	s.st.init()
	s.st.apps[7] = &app{id: 7, slug: "app", key: &key.PublicKey}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	claims := map[string]any{"iat": now.Unix(), "exp": now.Unix() + 60, "iss": "7"}
	head := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(head))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		f.Fatal(err)
	}
	valid := head + "." + base64.RawURLEncoding.EncodeToString(sig)
	if _, aerr := s.verifyJWT(valid); aerr != nil {
		f.Fatalf("the valid token is refused: %s", aerr.message)
	}
	f.Add(valid)
	f.Add("a.b.c")
	f.Add("..")
	f.Add(enc(map[string]string{"alg": "none"}) + "." + enc(claims) + ".")
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Fuzz(func(t *testing.T, tok string) {
		a, aerr := s.verifyJWT(tok)
		if aerr == nil {
			parts := strings.Split(tok, ".")
			b, err := base64.RawURLEncoding.DecodeString(parts[1])
			want, _ := base64.RawURLEncoding.DecodeString(strings.Split(valid, ".")[1])
			if a.id != 7 || err != nil || string(b) != string(want) {
				t.Fatalf("accepted %q with claims %q", tok, b)
			}
		} else if aerr.status != 401 {
			t.Fatalf("refused with %d, want 401", aerr.status)
		}
	})
}

// FuzzETagMatch: If-None-Match lists never panic, and an ETag (no
// commas, no white space) always matches itself.
func FuzzETagMatch(f *testing.F) {
	f.Add(`W/"abc", "def"`, `W/"abc"`)
	f.Add(`*`, `"x"`)
	f.Fuzz(func(t *testing.T, header, etag string) {
		etagMatch(header, etag)
		if etag != "" && !strings.Contains(etag, ",") && !strings.ContainsFunc(etag, unicode.IsSpace) && !etagMatch(etag, etag) {
			t.Fatalf("etagMatch(%q, itself) = false", etag)
		}
	})
}
