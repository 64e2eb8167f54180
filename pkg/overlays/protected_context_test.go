package overlays

import "testing"

func TestProtectedContext(t *testing.T) {
	c := &Config{Environments: map[string]EnvironmentConfig{
		"staging":    {Contexts: []string{"preprod", "shared"}},
		"production": {Contexts: []string{"prod", "agents:prod*", "shared"}, Protected: true},
	}}
	for ctx, want := range map[string]string{"prod": "production", "agents:prod-eu": "production", "shared": "production", "preprod": "", "kind-x": ""} {
		env, ok := c.ProtectedContext(ctx)
		if env != want || ok != (want != "") {
			t.Errorf("ProtectedContext(%q) = %q, %v; want %q", ctx, env, ok, want)
		}
	}
}
