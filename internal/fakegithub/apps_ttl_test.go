package fakegithub_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/dkgo/datakit/internal/fakegithub"
)

// Options.InstallationTokenTTL shortens the life of installation tokens,
// so that tests can see them refreshed; the server refuses them once
// expired.
func TestInstallationTokenTTL(t *testing.T) {
	key, _ := keys(t)
	clk := newClock()
	w := newWorld(t, fakegithub.Options{Now: clk.Now, InstallationTokenTTL: 90 * time.Second})
	check(t, w.s.AddApp(fakegithub.App{ID: 7, Slug: "app7", PublicKey: &key.PublicKey}))
	id := must(w.s.Install(7, fakegithub.Installation{Account: "alice"}))
	now := clk.Now().Unix()
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/app/installations/%d/access_tokens", w.s.URL(), id), nil)
	req.Header.Set("Authorization", "Bearer "+jwt(key, map[string]any{"iat": now - 30, "exp": now + 540, "iss": "7"}))
	resp, err := w.s.Client().Do(req)
	check(t, err)
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	if want := clk.Now().Add(90 * time.Second).Format("2006-01-02T15:04:05Z"); resp.StatusCode != 201 || m["expires_at"] != want {
		t.Fatalf("POST access_tokens = %d %v, want expires_at %s", resp.StatusCode, m, want)
	}
	c := w.client(m["token"].(string))
	if _, _, err := c.Repositories.Get(ctx(t), "alice", "hello"); err != nil {
		t.Errorf("with the new token: %v", err)
	}
	clk.Add(91 * time.Second)
	if _, _, err := c.Repositories.Get(ctx(t), "alice", "hello"); statusOf(err) != 401 {
		t.Errorf("with the expired token: %v, want 401", err)
	}
}
