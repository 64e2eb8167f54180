// Package scaffold creates a new instance's overlay from an existing one,
// rewriting what ties the files to the source instance and nothing else.
package scaffold

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/secrets"
)

// Request names the source and the new instance.
type Request struct {
	Source overlays.Instance
	Env    string
	Name   string
	// Host is the new ingress host; empty derives it from the source's.
	Host string
	// Placeholder is the target environment's placeholder glob (k8s/qxsms.yaml;
	// empty for the default). Every secret value of the source is replaced by
	// one of this form: none is ever carried over.
	Placeholder string
	// GenerateSecrets writes strong random values for the keys of env files
	// into git-ignored *.generated.env files beside them.
	GenerateSecrets bool
}

// Result says what was written.
type Result struct {
	Instance overlays.Instance
	Files    []string
	// OldHost and NewHost are the ingress hosts before and after.
	OldHost, NewHost string
	// Warnings point at values to review, such as DEBUG in production.
	Warnings []string
	// Secrets are the keys that need real values, sorted by file.
	Secrets []SecretKey
	// Generated are the files holding random values (absolute paths), and
	// Gitignore the .gitignore that covers them.
	Generated []string
	Gitignore string
}

// Create writes k8s/overlays/ENV/NAME from the source overlay. It builds the
// new overlay in a hidden sibling folder first and renames it into place
// only once it builds and stays in its namespace; it never overwrites.
func Create(repo *overlays.Repo, req Request) (*Result, error) {
	dest := filepath.Join(repo.Dir, "overlays", req.Env, req.Name)
	if err := checkFree(repo, req, dest); err != nil {
		return nil, err
	}
	oldHost, newHost, err := hosts(req)
	if err != nil {
		return nil, err
	}
	scrub, err := newSecretScrubber(req.Source.Dir, req.Placeholder, req.Name, req.GenerateSecrets, filepath.Base(overlays.KustomizationFile(req.Source.Dir)))
	if err != nil {
		return nil, err
	}
	written, err := render(req, newRewriter(req, oldHost, newHost), scrub)
	if err != nil {
		return nil, err
	}

	// Everything is written to a temporary sibling first and renamed into
	// place only once it builds and passes the checks: a failure leaves nothing.
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), "."+req.Name+"-new-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := stage(tmp, req, written, scrub); err != nil {
		return nil, err
	}
	inst := overlays.Instance{Env: req.Env, Name: req.Name, Dir: dest}
	objs, err := verify(tmp, inst, req.Placeholder)
	if err != nil {
		return nil, err
	}
	res := &Result{Instance: inst, OldHost: oldHost, NewHost: newHost, Warnings: reviewWarnings(req.Env, objs), Secrets: scrub.sortedKeys()}
	for name := range written {
		res.Files = append(res.Files, filepath.Join(dest, name))
	}
	for name := range scrub.generated {
		res.Generated = append(res.Generated, filepath.Join(dest, name))
	}
	sort.Strings(res.Files)
	sort.Strings(res.Generated)
	if len(res.Generated) > 0 {
		if res.Gitignore, err = ensureIgnored(repo.Dir); err != nil {
			return nil, fmt.Errorf("making git ignore the generated secrets, nothing was written: %w", err)
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		return nil, err
	}
	return res, nil
}

// checkFree refuses a name already taken: by a folder, or by an instance of
// any environment, since the name is also the namespace.
func checkFree(repo *overlays.Repo, req Request, dest string) error {
	for what, name := range map[string]string{"environment": req.Env, "instance": req.Name} {
		if err := overlays.ValidateName(what, name); err != nil {
			return err
		}
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("%s already exists: choose another instance name, or remove the folder first", dest)
	}
	for _, env := range mustEnvs(repo) {
		if insts, _ := repo.Instances(env); slices.Contains(insts, req.Name) {
			return fmt.Errorf("instance %q already exists in environment %q: instance names share the namespace qxsms-%s, so they must be unique across environments", req.Name, env, req.Name)
		}
	}
	return nil
}

// hosts reads the source's ingress host and derives the new one, unless given.
func hosts(req Request) (oldHost, newHost string, err error) {
	if oldHost, err = ingressHost(req.Source.Dir); err != nil {
		return "", "", err
	}
	if req.Host != "" {
		return oldHost, req.Host, nil
	}
	newHost = replaceToken(oldHost, req.Source.Name, req.Name)
	if newHost == oldHost {
		return "", "", fmt.Errorf("cannot derive the new host from %q (it does not contain %q): pass --host", oldHost, req.Source.Name)
	}
	return oldHost, newHost, nil
}

// newRewriter renames the source's instance, namespace, host and, across
// environments, environment into the new ones.
func newRewriter(req Request, oldHost, newHost string) rewriter {
	rw := rewriter{
		exact: map[string]string{
			overlays.Namespace(req.Source.Name): overlays.Namespace(req.Name),
			req.Source.Name:                     req.Name,
			oldHost:                             newHost,
		},
		tokens: [][2]string{{oldHost, newHost}, {req.Source.Name, req.Name}},
	}
	rw.commentTokens = rw.tokens
	if req.Source.Env != req.Env {
		rw.exact[req.Source.Env] = req.Env
		rw.tokens = append(rw.tokens, [2]string{"QXSMS_ENVIRONMENT=" + req.Source.Env, "QXSMS_ENVIRONMENT=" + req.Env})
		rw.commentTokens = append(rw.tokens, [2]string{req.Source.Env, req.Env})
	}
	return rw
}

// render rewrites every file of the source overlay, secret values replaced
// by placeholders, and returns the new files' contents by name.
func render(req Request, rw rewriter, scrub *secretScrubber) (map[string][]byte, error) {
	entries, err := os.ReadDir(req.Source.Dir)
	if err != nil {
		return nil, err
	}
	written := map[string][]byte{}
	for _, e := range entries {
		// Generated values of the source are its own real secrets.
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), GeneratedSuffix) {
			continue
		}
		src := filepath.Join(req.Source.Dir, e.Name())
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		if out, isSecret, err := scrub.file(e.Name(), b); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		} else if isSecret {
			b = []byte(rw.text(string(out)))
		} else {
			switch filepath.Ext(e.Name()) {
			case ".yml", ".yaml":
				if b, err = rw.yamlFile(b, func(n *yaml.RNode) error { return scrub.yamlNode(e.Name(), n) }); err != nil {
					return nil, fmt.Errorf("%s: %w", src, err)
				}
			default:
				b = []byte(rw.text(string(b)))
			}
		}
		written[e.Name()] = b
	}
	// The last word on "no value carried over": whatever path a value took.
	for name, b := range written {
		if scrub.leak(b) {
			return nil, fmt.Errorf("%s would carry a secret value of %s (in a comment or a non-secret field?): remove it from the source, nothing was written", name, req.Source)
		}
	}
	return written, nil
}

// stage writes the new overlay, and the generated secrets, into dir.
func stage(dir string, req Request, written map[string][]byte, scrub *secretScrubber) error {
	for name, b := range written {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	for name, buf := range scrub.generated {
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// verify builds the staged overlay: it must build, stay inside its
// instance, and hold placeholders in every Secret value.
func verify(dir string, inst overlays.Instance, placeholder string) ([]*unstructured.Unstructured, error) {
	objs, err := overlays.Build(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("the new overlay does not build, nothing was written: %w", err)
	}
	if err := overlays.Check(inst, objs, overlays.StaticScope); err != nil {
		return nil, fmt.Errorf("the new overlay is not self-contained, nothing was written: %w", err)
	}
	if left := secrets.Real(placeholder, objs); len(left) > 0 {
		return nil, fmt.Errorf("the new overlay's Secret %s key %s does not hold a placeholder: its value comes from outside the source overlay (the base?), so new cannot replace it; nothing was written", left[0].Secret, left[0].Key)
	}
	return objs, nil
}

// reviewWarnings points at values to review in the new overlay.
func reviewWarnings(env string, objs []*unstructured.Unstructured) []string {
	var warnings []string
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && env == "production" && o.Object["data"] != nil {
			if debug, _ := o.Object["data"].(map[string]any)["DEBUG"].(string); strings.EqualFold(debug, "true") {
				warnings = append(warnings, fmt.Sprintf("ConfigMap %s sets DEBUG=true in production: set it to \"false\" in env.yml", o.GetName()))
			}
		}
	}
	return warnings
}

// rewriter maps instance-specific strings of the source to the new instance.
type rewriter struct {
	// exact replaces whole scalar values.
	exact map[string]string
	// tokens replace whole tokens inside values, in order.
	tokens [][2]string
	// commentTokens also rename the environment: comments describe the instance.
	commentTokens [][2]string
}

func (rw rewriter) value(s string) string {
	if v, ok := rw.exact[s]; ok {
		return v
	}
	return rw.text(s)
}

// text replaces tokens where they stand alone: "pprd" in "pprd-noreply@x" and
// "https://pprd.example.org", not in "pprdx".
func (rw rewriter) text(s string) string { return replaceTokens(s, rw.tokens) }

func replaceTokens(s string, tokens [][2]string) string {
	for _, t := range tokens {
		s = replaceToken(s, t[0], t[1])
	}
	return s
}

func replaceToken(s, old, new string) string {
	if old == "" {
		return s
	}
	re := regexp.MustCompile(`(^|[^a-zA-Z0-9])` + regexp.QuoteMeta(old) + `($|[^a-zA-Z0-9])`)
	// Twice, because adjacent matches share a delimiter.
	for i := 0; i < 2; i++ {
		s = re.ReplaceAllString(s, "${1}"+strings.ReplaceAll(new, "$", "$$")+"${2}")
	}
	return s
}

// yamlFile rewrites the scalar values (never the keys) of every document,
// keeping comments, key order and indentation.
// Each document then goes through after.
func (rw rewriter) yamlFile(b []byte, after func(*yaml.RNode) error) ([]byte, error) {
	rwr := &kio.ByteReadWriter{Reader: bytes.NewReader(b), PreserveSeqIndent: true}
	nodes, err := rwr.Read()
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		rw.walk(n.YNode())
		if err := after(n); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	rwr.Writer = &out
	if err := rwr.Write(nodes); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func (rw rewriter) walk(n *yaml.Node) {
	rw.comments(n)
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			rw.walk(c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			rw.comments(n.Content[i]) // keys keep their names
			rw.walk(n.Content[i+1])
		}
	case yaml.ScalarNode:
		if n.Tag == "" || n.Tag == "!!str" {
			n.Value = rw.value(n.Value)
		}
	}
}

func (rw rewriter) comments(n *yaml.Node) {
	for _, c := range []*string{&n.HeadComment, &n.LineComment, &n.FootComment} {
		*c = replaceTokens(*c, rw.commentTokens)
	}
}

// ingressHost reads the first rules[].host of the overlay's ingress.yml.
func ingressHost(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "ingress.yml"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s has no ingress.yml: cannot tell its host", dir)
	}
	if err != nil {
		return "", err
	}
	n, err := yaml.Parse(string(b))
	if err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(dir, "ingress.yml"), err)
	}
	rules, err := n.Pipe(yaml.Lookup("spec", "rules"))
	if err != nil || rules == nil || len(rules.Content()) == 0 {
		return "", fmt.Errorf("%s: no spec.rules[0].host", filepath.Join(dir, "ingress.yml"))
	}
	host := yaml.NewRNode(rules.Content()[0]).Field("host")
	if host == nil || host.Value == nil {
		return "", fmt.Errorf("%s: no spec.rules[0].host", filepath.Join(dir, "ingress.yml"))
	}
	return yaml.GetValue(host.Value), nil
}

func mustEnvs(repo *overlays.Repo) []string {
	envs, _ := repo.Environments()
	return envs
}
