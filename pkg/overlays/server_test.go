package overlays

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigCheckServer(t *testing.T) {
	c := &Config{Path: "k8s/qxsms.yaml", Environments: map[string]EnvironmentConfig{
		"staging": {Contexts: []string{"qxsms-preprod"}, Servers: []string{"https://preprod-lb.example.org:6443/"}},
	}}
	cases := []struct {
		name, server, contextServer string
		want                        string
	}{
		{"the context's own server", "https://preprod.example.org:6443", "https://preprod.example.org:6443", ""},
		{"a trailing slash is the same server", "https://preprod.example.org:6443/", "https://preprod.example.org:6443", ""},
		{"--server elsewhere", "https://prod.example.org:6443", "https://preprod.example.org:6443", "may not be deployed through server https://prod.example.org:6443"},
		{"--server to a listed server", "https://preprod-lb.example.org:6443", "https://preprod.example.org:6443", ""},
		{"--cluster to another cluster", "https://127.0.0.1:1", "https://preprod.example.org:6443", "servers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CheckServer("staging", "qxsms-preprod", tc.server, tc.contextServer)
			var mismatch *ContextMismatchError
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected refusal: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &mismatch)):
				t.Errorf("err = %v, want a ContextMismatchError with %q", err, tc.want)
			}
		})
	}
	if err := (&Config{}).CheckServer("staging", "x", "https://a", "https://b"); err != nil {
		t.Errorf("without k8s/qxsms.yaml there is no guard: %v", err)
	}
}
