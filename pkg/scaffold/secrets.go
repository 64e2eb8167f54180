package scaffold

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/qxsms/kubectl-qxsms/pkg/secrets"
)

// GeneratedSuffix ends the files that hold values made by --generate-secrets;
// the config repo's .gitignore covers them.
const GeneratedSuffix = ".generated.env"

// GitignorePattern is the line Create makes sure k8s/.gitignore holds.
const GitignorePattern = "*" + GeneratedSuffix

// SecretKey is one key of the new overlay that needs a real value.
type SecretKey struct {
	// Secret is the generator's or the manifest's name.
	Secret, Key string
	// File is where the placeholder is, relative to the overlay.
	File string
	// Generated is the file, relative to the overlay, that holds a strong
	// random value for the key (--generate-secrets); empty when none.
	Generated string
}

// secretScrubber replaces every secret value of the source overlay by a
// placeholder, or by a generated value kept in a git-ignored file. It never
// reads a source value into anything it writes.
type secretScrubber struct {
	glob, instance string
	generate       bool
	kustomization  string               // base name of the kustomization file
	envFiles       map[string]string    // env file -> generator name
	fileSources    map[string][2]string // file -> generator name, key
	keys           []SecretKey
	generated      map[string]*bytes.Buffer // generated file -> content
	// sourceValues are the source's values, to prove none was carried over.
	sourceValues []string
}

func newSecretScrubber(srcDir, glob, instance string, generate bool, kustomization string) (*secretScrubber, error) {
	gens, err := secrets.Generators(srcDir)
	if err != nil {
		return nil, fmt.Errorf("reading the source's secretGenerator: %w", err)
	}
	s := &secretScrubber{glob: glob, instance: instance, generate: generate, kustomization: kustomization,
		envFiles: map[string]string{}, fileSources: map[string][2]string{}, generated: map[string]*bytes.Buffer{}}
	for _, g := range gens {
		for _, e := range g.EnvFiles() {
			s.envFiles[filepath.Clean(e)] = g.Name
		}
		for k, p := range g.FileSources() {
			s.fileSources[filepath.Clean(p)] = [2]string{g.Name, k}
			if b, err := os.ReadFile(filepath.Join(srcDir, p)); err == nil {
				s.remember(string(b))
			}
		}
		for _, l := range g.Literals {
			_, v, _ := strings.Cut(l, "=")
			s.remember(v)
		}
	}
	return s, nil
}

// minLeak is the shortest source value the final check looks for: shorter
// ones (a "1", a "true") would match innocent text.
const minLeak = 6

func (s *secretScrubber) remember(v string) {
	if v = strings.TrimSpace(v); len(v) >= minLeak {
		s.sourceValues = append(s.sourceValues, v)
	}
}

func (s *secretScrubber) add(secret, key, file, generatedFile string) {
	s.keys = append(s.keys, SecretKey{Secret: secret, Key: key, File: file, Generated: generatedFile})
}

// file rewrites a non-YAML file that a secretGenerator reads; ok is false for
// files that hold no secret.
func (s *secretScrubber) file(name string, b []byte) (out []byte, ok bool, err error) {
	if gen, isEnv := s.envFiles[name]; isEnv {
		out, err := s.envFile(gen, name, b)
		return out, true, err
	}
	if src, isFile := s.fileSources[name]; isFile {
		s.add(src[0], src[1], name, "")
		return []byte(secrets.Placeholder(s.glob, s.instance, src[1])), true, nil
	}
	return nil, false, nil
}

// envFile keeps comments and blank lines (after the rewrite of the instance
// name), and writes KEY=<placeholder> for every key. With generate, the
// random values go to a sibling *.generated.env file instead.
func (s *secretScrubber) envFile(gen, name string, b []byte) ([]byte, error) {
	var out bytes.Buffer
	genName := strings.TrimSuffix(name, ".env") + GeneratedSuffix
	for _, line := range strings.SplitAfter(string(b), "\n") {
		trimmed := strings.TrimSpace(strings.TrimPrefix(line, "\ufeff"))
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			out.WriteString(line)
			continue
		}
		key, value, _ := strings.Cut(trimmed, "=")
		key = strings.TrimSpace(key)
		s.remember(value)
		fmt.Fprintf(&out, "%s=%s\n", key, secrets.Placeholder(s.glob, s.instance, key))
		if !s.generate {
			s.add(gen, key, name, "")
			continue
		}
		v, err := secrets.Generate()
		if err != nil {
			return nil, err
		}
		if s.generated[genName] == nil {
			s.generated[genName] = &bytes.Buffer{}
			fmt.Fprintf(s.generated[genName], "# Real values for %s: never commit this file (git ignores it).\n", name)
		}
		fmt.Fprintf(s.generated[genName], "%s=%s\n", key, v)
		s.add(gen, key, name, genName)
	}
	return out.Bytes(), nil
}

// yamlNode scrubs one YAML document in place: a Secret's data and
// stringData, and the literals of the kustomization's secretGenerator.
func (s *secretScrubber) yamlNode(file string, n *yaml.RNode) error {
	if n.GetKind() == "Secret" {
		for _, field := range []string{"data", "stringData"} {
			m := n.Field(field)
			if m == nil || m.Value == nil || m.Value.YNode().Kind != yaml.MappingNode {
				continue
			}
			content := m.Value.YNode().Content
			for i := 0; i+1 < len(content); i += 2 {
				key, val := content[i].Value, content[i+1]
				if field == "data" {
					if dec, err := base64.StdEncoding.DecodeString(val.Value); err == nil {
						s.remember(string(dec))
					}
				} else {
					s.remember(val.Value)
				}
				p := secrets.Placeholder(s.glob, s.instance, key)
				if field == "data" {
					p = base64.StdEncoding.EncodeToString([]byte(p))
				}
				val.Value, val.Tag, val.Style = p, "!!str", 0
				s.add(n.GetName(), key, file, "")
			}
		}
		return nil
	}
	if file != s.kustomization {
		return nil
	}
	gens, err := n.Pipe(yaml.Lookup("secretGenerator"))
	if err != nil || gens == nil {
		return err
	}
	for _, g := range gens.YNode().Content {
		gn := yaml.NewRNode(g)
		name := ""
		if f := gn.Field("name"); f != nil && f.Value != nil {
			name = yaml.GetValue(f.Value)
		}
		lits := gn.Field("literals")
		if lits == nil || lits.Value == nil {
			continue
		}
		for _, l := range lits.Value.YNode().Content {
			key, _, _ := strings.Cut(l.Value, "=")
			l.Value, l.Style = key+"="+secrets.Placeholder(s.glob, s.instance, key), 0
			s.add(name, key, file, "")
		}
	}
	return nil
}

// leak reports whether b holds a source value, plain or base64. Strict on
// purpose: a password also written in a comment or a ConfigMap is still a
// password. The caller names the file, never the value.
func (s *secretScrubber) leak(b []byte) bool {
	for _, v := range s.sourceValues {
		if bytes.Contains(b, []byte(v)) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString([]byte(v)))) {
			return true
		}
	}
	return false
}

func (s *secretScrubber) sortedKeys() []SecretKey {
	sort.SliceStable(s.keys, func(i, j int) bool {
		if s.keys[i].File != s.keys[j].File {
			return s.keys[i].File < s.keys[j].File
		}
		return s.keys[i].Key < s.keys[j].Key
	})
	return s.keys
}

// ensureIgnored makes the .gitignore of the k8s/ folder cover the generated
// files: a nested .gitignore is honoured by git wherever the repo's root is.
func ensureIgnored(k8sDir string) (string, error) {
	path := filepath.Join(k8sDir, ".gitignore")
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == GitignorePattern {
			return path, nil
		}
	}
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	b = append(b, []byte("# Real secrets made by `kubectl qxsms new --generate-secrets`; they go to CI/CD variables, never to git.\n"+GitignorePattern+"\n")...)
	return path, os.WriteFile(path, b, 0o644)
}
