package web

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "correct horse") {
		t.Errorf("hash = %q", h)
	}
	if !checkPassword(h, "correct horse") || checkPassword(h, "correct horsE") || checkPassword(h, "") {
		t.Error("checkPassword accepts a wrong password or refuses the right one")
	}
	h2, _ := hashPassword("correct horse")
	if h2 == h {
		t.Error("two hashes of one password are equal: no salt?")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", h + "$"} {
		if checkPassword(bad, "x") {
			t.Errorf("checkPassword(%q) accepted", bad)
		}
	}
}

// The stored hash's parser refuses what it cannot use, and never asks
// argon2 for absurd memory or time.
func FuzzParseHash(f *testing.F) {
	h, _ := hashPassword("pw")
	f.Add(h)
	f.Add("$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5")
	f.Fuzz(func(t *testing.T, s string) {
		salt, key, m, tm, p, err := parseHash(s)
		if err != nil {
			return
		}
		if m == 0 || m > 1<<22 || tm == 0 || tm > 100 || p == 0 || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
			t.Fatalf("parseHash(%q) accepted m=%d t=%d p=%d salt %d key %d", s, m, tm, p, len(salt), len(key))
		}
	})
}
