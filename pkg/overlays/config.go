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
}

func (e *ContextMismatchError) Error() string {
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

// Protected reports whether env needs the strongest confirmation.
func (c *Config) Protected(env string) bool {
	if ec, ok := c.Environments[env]; ok {
		return ec.Protected
	}
	return env == "production"
}
