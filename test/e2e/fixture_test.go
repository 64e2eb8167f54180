//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// configRepo is a throwaway copy of the config repo with instances of its own,
// so tests can edit overlays and never collide.
type configRepo struct {
	t   *testing.T
	Dir string // the k8s/ folder
	// localIsProduction lists the local context for production too: only
	// repos of production instances, since protection follows the context.
	localIsProduction bool
}

// newConfigRepo copies k8s/base and k8s/cluster and makes one overlay per
// instance in env, from staging/pprd, with a qxsms.yaml that lets every
// environment target the local cluster. Namespaces and PVs are removed after
// the test.
func newConfigRepo(t *testing.T, envName string, instances ...string) *configRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "k8s")
	for _, sub := range []string{"base", "cluster"} {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join(env.repoRoot, "k8s", sub))); err != nil {
			t.Fatal(err)
		}
	}
	r := &configRepo{t: t, Dir: dir, localIsProduction: envName == "production"}
	r.writeConfig("kwok-qxsms")
	for _, inst := range instances {
		r.addInstance(envName, inst)
	}
	t.Cleanup(func() { cleanupInstances(t, instances...) })
	return r
}

// clone copies the repo for t to edit; the instances stay owned by r's test.
func (r *configRepo) clone(t *testing.T) *configRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "k8s")
	if err := os.CopyFS(dir, os.DirFS(r.Dir)); err != nil {
		t.Fatal(err)
	}
	return &configRepo{t: t, Dir: dir}
}

func (r *configRepo) writeConfig(contexts ...string) {
	q := `["` + strings.Join(contexts, `","`) + `"]`
	prod := `["qxsms-prod"]`
	if r.localIsProduction {
		prod = q
	}
	r.write("qxsms.yaml", fmt.Sprintf("environments:\n  development: {contexts: %s}\n  staging: {contexts: %s}\n  production: {contexts: %s, protected: true}\n", q, q, prod))
}

func (r *configRepo) addInstance(envName, inst string) {
	src := filepath.Join(env.repoRoot, "k8s", "overlays", "staging", "pprd")
	entries, err := os.ReadDir(src)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			r.t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "pprd", inst)
		s = strings.ReplaceAll(s, "environment: staging", "environment: "+envName)
		s = strings.ReplaceAll(s, "QXSMS_ENVIRONMENT=staging", "QXSMS_ENVIRONMENT="+envName)
		if envName == "production" { // protected: deploy refuses placeholder secrets there
			s = strings.ReplaceAll(s, "=changeme-", "=e2e-real-")
		}
		r.write(filepath.Join("overlays", envName, inst, e.Name()), s)
	}
}

func (r *configRepo) overlay(envName, inst string) string {
	return filepath.Join(r.Dir, "overlays", envName, inst)
}

func (r *configRepo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.Dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *configRepo) read(rel string) string {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.Dir, rel))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

// edit replaces old by new in one overlay file, failing if old is absent.
func (r *configRepo) edit(rel, old, new string) {
	r.t.Helper()
	s := r.read(rel)
	if !strings.Contains(s, old) {
		r.t.Fatalf("%s does not contain %q", rel, old)
	}
	r.write(rel, strings.Replace(s, old, new, 1))
}

// cleanupInstances deletes the test's namespaces and every PV that was bound in them.
func cleanupInstances(t *testing.T, instances ...string) {
	x := NewTest(t)
	for _, inst := range instances {
		x.Kubectl("delete", "namespace", "qxsms-"+inst, "--ignore-not-found", "--wait=false").Run()
	}
	for _, pv := range pvsOf(t, instances...) {
		x.Kubectl("delete", "pv", pv.Metadata.Name, "--ignore-not-found", "--wait=false").Run()
	}
}

// Minimal views of the objects the tests read.
type objectMeta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"`
	ResourceVersion string            `json:"resourceVersion"`
	UID             string            `json:"uid"`
	Labels          map[string]string `json:"labels"`
	Annotations     map[string]string `json:"annotations"`
}

type pv struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		ClaimRef *struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
			UID       string `json:"uid"`
		} `json:"claimRef"`
		NFS *struct {
			Server string `json:"server"`
			Path   string `json:"path"`
		} `json:"nfs"`
		ReclaimPolicy string `json:"persistentVolumeReclaimPolicy"`
	} `json:"spec"`
	Status struct {
		Phase string `json:"phase"`
	} `json:"status"`
}

func pvsOf(t *testing.T, instances ...string) []pv {
	var list struct{ Items []pv }
	NewTest(t).Kubectl("get", "pv", "-o", "json").Run().Success().JSON(&list)
	want := map[string]bool{}
	for _, i := range instances {
		want["qxsms-"+i] = true
	}
	var out []pv
	for _, p := range list.Items {
		if p.Spec.ClaimRef != nil && want[p.Spec.ClaimRef.Namespace] {
			out = append(out, p)
		}
	}
	return out
}

// hostDir is where the local provisioner keeps a PV's NFS directory.
func hostDir(p pv) string {
	return filepath.Join(env.nfsRoot, filepath.Base(p.Spec.NFS.Path))
}

// resourceVersions maps kind/name to resourceVersion for all of an instance's objects.
func resourceVersions(t *testing.T, ns string) map[string]string {
	var list struct {
		Items []struct {
			Kind     string     `json:"kind"`
			Metadata objectMeta `json:"metadata"`
		}
	}
	NewTest(t).Kubectl("get", "deploy,sts,svc,cm,secret,pvc,ingress", "-n", ns, "-o", "json").Run().Success().JSON(&list)
	out := map[string]string{}
	for _, it := range list.Items {
		out[it.Kind+"/"+it.Metadata.Name] = it.Metadata.ResourceVersion
	}
	var n struct{ Metadata objectMeta }
	NewTest(t).Kubectl("get", "namespace", ns, "-o", "json").Run().Success().JSON(&n)
	out["Namespace/"+ns] = n.Metadata.ResourceVersion
	return out
}

// identities maps kind/name to uid@generation: what changes when an object is
// edited, deleted or recreated, but not when a controller updates its status.
func identities(t *testing.T, ns string) map[string]string {
	var list struct {
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				objectMeta
				Generation int64 `json:"generation"`
			} `json:"metadata"`
		}
	}
	NewTest(t).Kubectl("get", "deploy,sts,svc,cm,secret,pvc,ingress", "-n", ns, "-o", "json").Run().Success().JSON(&list)
	out := map[string]string{}
	for _, it := range list.Items {
		out[it.Kind+"/"+it.Metadata.Name] = fmt.Sprintf("%s@%d", it.Metadata.UID, it.Metadata.Generation)
	}
	return out
}

// eventually retries f until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func namespaceExists(t *testing.T, ns string) bool {
	return NewTest(t).Kubectl("get", "namespace", ns).Run().Code == 0
}
