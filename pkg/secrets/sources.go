package secrets

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/yaml"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// PipelineFile is the env file the GitLab pipeline replaces from the
// SECRETS_<ENV>_<INSTANCE> variable.
const PipelineFile = "secrets.env"

// Generator is the part of a kustomization's secretGenerator entry that can
// hold values.
type Generator struct {
	Name     string   `json:"name"`
	Env      string   `json:"env,omitempty"` // deprecated singular form, still accepted by kustomize
	Envs     []string `json:"envs,omitempty"`
	Literals []string `json:"literals,omitempty"`
	Files    []string `json:"files,omitempty"`
}

// EnvFiles lists the generator's env files, both spellings.
func (g Generator) EnvFiles() []string {
	if g.Env != "" {
		return append([]string{g.Env}, g.Envs...)
	}
	return g.Envs
}

// FileSources maps each `files` entry's key to its path ("key=path" or
// "path", whose key is the base name).
func (g Generator) FileSources() map[string]string {
	out := map[string]string{}
	for _, f := range g.Files {
		if k, p, ok := strings.Cut(f, "="); ok {
			out[k] = p
		} else {
			out[filepath.Base(f)] = f
		}
	}
	return out
}

// Generators reads the secretGenerator entries of the kustomization in dir.
func Generators(dir string) ([]Generator, error) {
	path := overlays.KustomizationFile(dir)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k struct {
		SecretGenerator []Generator `json:"secretGenerator"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k.SecretGenerator, nil
}

// generated reports whether a built Secret's name comes from generator name:
// kustomize appends "-<hash>" unless the hash is disabled.
func generated(secret, name string) bool {
	return secret == name || strings.HasPrefix(secret, name+"-") && !strings.Contains(secret[len(name)+1:], "-")
}

// Locate fills in each finding's File, relative to the overlay dir, from the
// overlay's secretGenerator entries and Secret manifests. Best effort: what it
// cannot tell stays empty.
func Locate(dir string, fs []Finding) {
	gens, _ := Generators(dir)
	manifests := secretManifests(dir)
	for i := range fs {
		f := &fs[i]
		for _, g := range gens {
			if !generated(f.Secret, g.Name) {
				continue
			}
			for _, l := range g.Literals {
				if k, _, _ := strings.Cut(l, "="); k == f.Key {
					f.File = filepath.Base(overlays.KustomizationFile(dir))
				}
			}
			if p, ok := g.FileSources()[f.Key]; ok {
				f.File = p
			}
			for _, e := range g.EnvFiles() {
				if b, err := os.ReadFile(filepath.Join(dir, e)); err == nil && envHasKey(b, f.Key) {
					f.File = e
				}
			}
		}
		if f.File == "" {
			f.File = manifests[f.Secret]
		}
	}
	sortFindings(fs)
}

func envHasKey(b []byte, key string) bool {
	for _, line := range strings.Split(string(b), "\n") {
		if k, _, _ := strings.Cut(strings.TrimSpace(line), "="); k == key {
			return true
		}
	}
	return false
}

// secretManifests maps the name of each Secret written as a manifest in dir
// to its file.
func secretManifests(dir string) map[string]string {
	out := map[string]string{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); !e.Type().IsRegular() || ext != ".yml" && ext != ".yaml" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(b)}).Read()
		if err != nil {
			continue
		}
		for _, n := range nodes {
			if n.GetKind() == "Secret" {
				out[n.GetName()] = e.Name()
			}
		}
	}
	return out
}
