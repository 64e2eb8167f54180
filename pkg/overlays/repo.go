package overlays

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// RootEnv is the environment variable that names the config repo's k8s/ folder.
const RootEnv = "QXSMS_ROOT"

// Repo is a config repo's k8s/ folder: base/, overlays/<env>/<instance>/, qxsms.yaml.
type Repo struct {
	// Dir is the k8s/ folder itself.
	Dir string
}

// Instance is one overlay: an instance of QxSMS in one environment.
type Instance struct {
	Env  string `json:"environment"`
	Name string `json:"instance"`
	// Dir is the overlay folder.
	Dir string `json:"dir"`
}

// Namespace is the instance's namespace.
func (i Instance) Namespace() string { return Namespace(i.Name) }

// String is ENV/INSTANCE.
func (i Instance) String() string { return i.Env + "/" + i.Name }

// FindRepo locates the k8s/ folder: the flag value first, then $QXSMS_ROOT,
// then the nearest ancestor of cwd holding k8s/overlays. The flag and the
// variable may name either the k8s/ folder or the repo that contains it.
func FindRepo(flagValue, envValue, cwd string) (*Repo, error) {
	for _, c := range []struct{ value, source string }{{flagValue, "--root"}, {envValue, "$" + RootEnv}} {
		if c.value == "" {
			continue
		}
		for _, dir := range []string{filepath.Join(c.value, "k8s"), c.value} {
			if isDir(filepath.Join(dir, "overlays")) {
				return &Repo{Dir: filepath.Clean(dir)}, nil
			}
		}
		return nil, fmt.Errorf("%s %q holds no overlays/ nor k8s/overlays/ folder: point it at the config repo or its k8s/ folder", c.source, c.value)
	}
	for dir := cwd; ; dir = filepath.Dir(dir) {
		if isDir(filepath.Join(dir, "k8s", "overlays")) {
			return &Repo{Dir: filepath.Join(dir, "k8s")}, nil
		}
		if parent := filepath.Dir(dir); parent == dir {
			break
		}
	}
	return nil, fmt.Errorf("no k8s/overlays folder in %s or any parent: run inside the config repo, or set --root or $%s", cwd, RootEnv)
}

// Environments lists the environment folders under overlays/.
func (r *Repo) Environments() ([]string, error) {
	return subdirs(filepath.Join(r.Dir, "overlays"), func(string) bool { return true })
}

// Instances lists the instances of env: its folders holding a kustomization file.
func (r *Repo) Instances(env string) ([]string, error) {
	return subdirs(filepath.Join(r.Dir, "overlays", env), func(dir string) bool {
		return KustomizationFile(dir) != ""
	})
}

// NoInstancesError is an environment folder without any overlay.
type NoInstancesError struct {
	Env, Dir string
}

func (e *NoInstancesError) Error() string {
	return fmt.Sprintf("environment %q has no instances: add an overlay under %s", e.Env, e.Dir)
}

// Select resolves env and the named instances (all of env's when none are
// named), validating every name and listing the known ones when one is unknown.
func (r *Repo) Select(env string, names []string) ([]Instance, error) {
	if err := ValidateName("environment", env); err != nil {
		return nil, err
	}
	envs, err := r.Environments()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(envs, env) {
		return nil, fmt.Errorf("unknown environment %q in %s: known environments are %s", env, filepath.Join(r.Dir, "overlays"), listOrNone(envs))
	}
	known, err := r.Instances(env)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		if len(known) == 0 {
			return nil, &NoInstancesError{Env: env, Dir: filepath.Join(r.Dir, "overlays", env)}
		}
		names = known
	}
	var out []Instance
	seen := map[string]bool{}
	for _, n := range names {
		if err := ValidateName("instance", n); err != nil {
			return nil, err
		}
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("unknown instance %q in environment %q: known instances are %s", n, env, listOrNone(known))
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, Instance{Env: env, Name: n, Dir: filepath.Join(r.Dir, "overlays", env, n)})
	}
	return out, nil
}

// KustomizationFile returns the kustomization file of dir, or "" if there is none.
func KustomizationFile(dir string) string {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

func subdirs(dir string, keep func(string) bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if ValidateName("folder", e.Name()) != nil {
			continue
		}
		if keep(filepath.Join(dir, e.Name())) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func listOrNone(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	return strings.Join(list, ", ")
}
