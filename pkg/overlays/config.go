package overlays

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// ConfigFile is the name of the environment → cluster map inside k8s/.
const ConfigFile = "qxsms.yaml"

// Config is k8s/qxsms.yaml: which kube contexts each environment may target.
type Config struct {
	Environments map[string]EnvironmentConfig `json:"environments"`
	// Path is where the config was read from; empty when there is none.
	Path string `json:"-"`
}

// EnvironmentConfig is one environment's entry.
type EnvironmentConfig struct {
	// Contexts are kubeconfig context names; a trailing * matches any suffix.
	Contexts []string `json:"contexts"`
	// Servers are API server URLs the environment may target besides the
	// contexts' own clusters (when --server or --cluster points elsewhere).
	Servers []string `json:"servers,omitempty"`
	// Protected environments need --confirm=INSTANCE for destructive commands,
	// and refuse placeholder secrets.
	Protected bool `json:"protected,omitempty"`
	// Placeholder is the glob that marks a secret value as a placeholder
	// (default "changeme-*").
	Placeholder string `json:"placeholder,omitempty"`
	// RealSecrets is "required" to refuse placeholders outside protected
	// environments too.
	RealSecrets string `json:"realSecrets,omitempty"`
	// Canary lists the instances a deploy of the environment goes through
	// first, unless --canary says otherwise.
	Canary []string `json:"canary,omitempty"`
	// Order is the order of the other instances in a progressive rollout;
	// instances not listed follow by name.
	Order []string `json:"order,omitempty"`
}

// LoadConfig reads k8s/qxsms.yaml. A missing file is not an error: the guard
// is then off, and Path is empty so callers can warn.
func (r *Repo) LoadConfig() (*Config, error) {
	path := filepath.Join(r.Dir, ConfigFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	c := &Config{}
	if err := yaml.UnmarshalStrict(b, c); err != nil {
		return nil, fmt.Errorf("%s is not valid: %w (see the comment at its top for the format)", path, err)
	}
	c.Path = path
	return c, nil
}

// ContextMismatchError is returned when the active context is not one the
// environment may be deployed to.
type ContextMismatchError struct {
	Env, Context, Config string
	Allowed              []string
	// Server is set when the context is allowed but the connection goes to
	// another server (--server, --cluster).
	Server, ContextServer string
}

func (e *ContextMismatchError) Error() string {
	if e.Server != "" {
		return fmt.Sprintf("environment %q may not be deployed through server %s: context %q is allowed, but its cluster's server is %s and the flags (--server, --cluster) point elsewhere; drop those flags, list %s under environments.%s.servers in %s, or pass --allow-context-mismatch if this is deliberate",
			e.Env, e.Server, e.Context, e.ContextServer, e.Server, e.Env, e.Config)
	}
	allowed := "no context"
	if len(e.Allowed) > 0 {
		allowed = strings.Join(e.Allowed, ", ")
	}
	return fmt.Sprintf("environment %q may not be deployed to context %q: %s allows %s; switch with --context, fix %s, or pass --allow-context-mismatch if this is deliberate",
		e.Env, e.Context, e.Config, allowed, e.Config)
}

// CheckContext verifies that env may target kubeContext. Without a config
// file every context is allowed.
func (c *Config) CheckContext(env, kubeContext string) error {
	if c.Path == "" {
		return nil
	}
	ec, ok := c.Environments[env]
	if !ok {
		known := make([]string, 0, len(c.Environments))
		for k := range c.Environments {
			known = append(known, k)
		}
		sort.Strings(known)
		return fmt.Errorf("environment %q is not listed in %s (listed: %s): add it with the contexts it may target", env, c.Path, strings.Join(known, ", "))
	}
	for _, pattern := range ec.Contexts {
		if prefix, wildcard := strings.CutSuffix(pattern, "*"); wildcard && strings.HasPrefix(kubeContext, prefix) || pattern == kubeContext {
			return nil
		}
	}
	return &ContextMismatchError{Env: env, Context: kubeContext, Config: c.Path, Allowed: ec.Contexts}
}

// CheckServer verifies that the connection for an allowed context goes to
// the context's own server, or to one the environment lists under servers.
func (c *Config) CheckServer(env, kubeContext, server, contextServer string) error {
	norm := func(s string) string { return strings.TrimSuffix(strings.TrimSpace(s), "/") }
	if c.Path == "" || server == "" || norm(server) == norm(contextServer) {
		return nil
	}
	for _, s := range c.Environments[env].Servers {
		if norm(s) == norm(server) {
			return nil
		}
	}
	return &ContextMismatchError{Env: env, Context: kubeContext, Config: c.Path, Allowed: c.Environments[env].Contexts, Server: server, ContextServer: contextServer}
}

// Protected reports whether env needs the strongest confirmation.
func (c *Config) Protected(env string) bool {
	if ec, ok := c.Environments[env]; ok {
		return ec.Protected
	}
	return env == "production"
}

// ProtectedContext returns the protected environment whose contexts include
// kubeContext, if any: protection follows the cluster a command talks to,
// whatever environment was typed. Environments are tried in name order.
func (c *Config) ProtectedContext(kubeContext string) (string, bool) {
	names := make([]string, 0, len(c.Environments))
	for name := range c.Environments {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ec := c.Environments[name]
		if !ec.Protected {
			continue
		}
		for _, pattern := range ec.Contexts {
			if prefix, wildcard := strings.CutSuffix(pattern, "*"); wildcard && strings.HasPrefix(kubeContext, prefix) || pattern == kubeContext {
				return name, true
			}
		}
	}
	return "", false
}
