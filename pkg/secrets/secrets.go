// Package secrets recognises placeholder Secret values, so that what the
// config repo keeps in git never reaches a cluster that needs real secrets
// unnoticed. It reads values only to compare them with a glob: nothing here
// prints, logs or returns a value.
package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// DefaultPlaceholder is the glob that marks a placeholder when k8s/qxsms.yaml
// sets none for the environment.
const DefaultPlaceholder = "changeme-*"

// Finding is one Secret key that holds a placeholder. It never carries the value.
type Finding struct {
	Secret string `json:"secret"`
	Key    string `json:"key"`
	// File is the overlay file the value comes from, when Locate could tell.
	File string `json:"file,omitempty"`
}

func (f Finding) String() string { return f.Secret + "/" + f.Key }

// Match reports whether value matches the placeholder glob: * is any run of
// bytes, ? one byte, everything else literal. Hand-written because path.Match
// stops * at '/', and secret values are not paths.
func Match(glob, value string) bool {
	if glob == "" {
		glob = DefaultPlaceholder
	}
	// Classic two-pointer wildcard match with backtracking to the last *.
	g, v, star, mark := 0, 0, -1, 0
	for v < len(value) {
		switch {
		case g < len(glob) && (glob[g] == '?' || glob[g] == value[v]) && glob[g] != '*':
			g++
			v++
		case g < len(glob) && glob[g] == '*':
			star, mark = g, v
			g++
		case star >= 0:
			g = star + 1
			mark++
			v = mark
		default:
			return false
		}
	}
	for g < len(glob) && glob[g] == '*' {
		g++
	}
	return g == len(glob)
}

// Placeholder returns the documented placeholder for one key of an instance:
// the glob with its first * replaced by "<instance>-<key>" (lower case, '_'
// as '-'), so that it always matches the glob it was made from. With the
// default glob: changeme-acme-postgres-password.
func Placeholder(glob, instance, key string) string {
	if glob == "" {
		glob = DefaultPlaceholder
	}
	id := instance + "-" + strings.ReplaceAll(strings.ToLower(key), "_", "-")
	before, after, found := strings.Cut(glob, "*")
	if !found {
		return strings.ReplaceAll(glob, "?", "x")
	}
	return strings.NewReplacer("*", "", "?", "x").Replace(before) + id + strings.NewReplacer("*", "", "?", "x").Replace(after)
}

// Generate returns a strong random value: 32 bytes from crypto/rand,
// URL-safe base64 without padding, so it fits an env file and a URL.
func Generate() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Scan returns the keys of every Secret among objs whose value (in data,
// decoded, or in stringData) matches glob, sorted.
func Scan(glob string, objs []*unstructured.Unstructured) []Finding {
	return scan(glob, objs, true)
}

// Real returns the keys of every Secret among objs whose value does not match
// glob: what would reach a cluster as a real secret.
func Real(glob string, objs []*unstructured.Unstructured) []Finding {
	return scan(glob, objs, false)
}

func scan(glob string, objs []*unstructured.Unstructured, placeholders bool) []Finding {
	var out []Finding
	for _, o := range objs {
		if o == nil || o.GetKind() != "Secret" || o.GroupVersionKind().Group != "" {
			continue
		}
		for _, field := range []string{"data", "stringData"} {
			values, _, _ := unstructured.NestedMap(o.Object, field)
			for k, v := range values {
				s, _ := v.(string)
				if field == "data" {
					b, err := base64.StdEncoding.DecodeString(s)
					if err != nil {
						continue // the API server would refuse it anyway
					}
					s = string(b)
				}
				if Match(glob, s) == placeholders {
					out = append(out, Finding{Secret: o.GetName(), Key: k})
				}
			}
		}
	}
	sortFindings(out)
	return out
}

func sortFindings(fs []Finding) {
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Secret != fs[j].Secret {
			return fs[i].Secret < fs[j].Secret
		}
		if fs[i].File != fs[j].File {
			return fs[i].File < fs[j].File
		}
		return fs[i].Key < fs[j].Key
	})
}

// CIVariable is the GitLab file-type CI/CD variable that holds an instance's
// real secrets.env: SECRETS_<ENV>_<INSTANCE>, upper case, '-' as '_'.
func CIVariable(env, instance string) string {
	return "SECRETS_" + strings.ToUpper(strings.ReplaceAll(env+"_"+instance, "-", "_"))
}

// Policy is what an environment's k8s/qxsms.yaml entry says about secrets.
type Policy struct {
	Glob string
	// Required refuses placeholders (protected, or realSecrets: required).
	Required bool
}

// PolicyFor reads env's entry of cfg; a nil or empty config gives the defaults
// (production is protected, as overlays.Config.Protected has it).
func PolicyFor(cfg *overlays.Config, env string) Policy {
	if cfg == nil {
		cfg = &overlays.Config{}
	}
	p := Policy{Glob: DefaultPlaceholder, Required: cfg.Protected(env)}
	if ec, ok := cfg.Environments[env]; ok {
		if ec.Placeholder != "" {
			p.Glob = ec.Placeholder
		}
		if ec.RealSecrets == "required" {
			p.Required = true
		}
	}
	return p
}

// InstanceFindings are the placeholders of one instance.
type InstanceFindings struct {
	Instance overlays.Instance
	Findings []Finding
}

// Check scans the built Secrets of every instance before anything is
// applied. Where real secrets are required it returns one error naming every
// instance, Secret and key and how to fix each; elsewhere it writes one
// warning per instance to warn and returns nil. Values are never written.
func Check(cfg *overlays.Config, env string, instances []overlays.Instance, built map[string][]*unstructured.Unstructured, warn io.Writer) error {
	p := PolicyFor(cfg, env)
	var found []InstanceFindings
	for _, inst := range instances {
		if fs := Scan(p.Glob, built[inst.Name]); len(fs) > 0 {
			Locate(inst.Dir, fs)
			found = append(found, InstanceFindings{Instance: inst, Findings: fs})
		}
	}
	if len(found) == 0 {
		return nil
	}
	if !p.Required {
		for _, f := range found {
			fmt.Fprintf(warn, "Warning: instance %s deploys placeholder secrets (%q): %s; a protected environment would refuse them: %s\n",
				f.Instance, p.Glob, joinFindings(f.Findings), fix(f.Instance, f.Findings))
		}
		return nil
	}
	var b strings.Builder
	why := "is protected"
	if cfg != nil && cfg.Environments[env].RealSecrets == "required" {
		why = "requires real secrets (realSecrets: required)"
	}
	fmt.Fprintf(&b, "environment %q %s, but these Secret keys still hold placeholders (%q), so nothing was applied:", env, why, p.Glob)
	for _, f := range found {
		fmt.Fprintf(&b, "\n  instance %s: %s\n    fix: %s", f.Instance, joinFindings(f.Findings), fix(f.Instance, f.Findings))
	}
	return fmt.Errorf("%s", b.String())
}

// joinFindings groups keys by Secret and file: "Secret a keys K1, K2 (secrets.env)".
func joinFindings(fs []Finding) string {
	var parts []string
	for i := 0; i < len(fs); {
		j, keys := i, []string{}
		for ; j < len(fs) && fs[j].Secret == fs[i].Secret && fs[j].File == fs[i].File; j++ {
			keys = append(keys, fs[j].Key)
		}
		part := "Secret " + fs[i].Secret + " key"
		if len(keys) > 1 {
			part += "s"
		}
		part += " " + strings.Join(keys, ", ")
		if fs[i].File != "" {
			part += " (" + fs[i].File + ")"
		}
		parts = append(parts, part)
		i = j
	}
	return strings.Join(parts, "; ")
}

// fix says where the real values go: the CI variable when the pipeline can
// replace the file, else the files themselves.
func fix(inst overlays.Instance, fs []Finding) string {
	files := map[string]bool{}
	for _, f := range fs {
		files[f.File] = true
	}
	var out []string
	if files[PipelineFile] {
		out = append(out, fmt.Sprintf("set the file-type CI/CD variable %s (the pipeline writes it over %s)", CIVariable(inst.Env, inst.Name), PipelineFile))
		delete(files, PipelineFile)
	}
	var rest []string
	for f := range files {
		if f == "" {
			f = "the overlay"
		}
		rest = append(rest, f)
	}
	sort.Strings(rest)
	if len(rest) > 0 {
		out = append(out, fmt.Sprintf("put real values in %s (not replaced by the pipeline; move the keys to %s to have it do so)", strings.Join(rest, ", "), PipelineFile))
	}
	if len(out) == 0 {
		out = append(out, fmt.Sprintf("put real values in %s", PipelineFile))
	}
	return strings.Join(out, "; ") + fmt.Sprintf("; locally, edit the files under %s and never commit real values",
		filepath.Join("k8s", "overlays", inst.Env, inst.Name))
}
