// Package k8s holds the QxSMS configuration; its tests build every overlay
// exactly as `kubectl apply -k` would and hold the renders to golden files.
package k8s

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/qxsms/kubectl-qxsms/internal/testutil"
	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
	"github.com/qxsms/kubectl-qxsms/pkg/redact"
)

func allInstances(t *testing.T) []overlays.Instance {
	t.Helper()
	repo := &overlays.Repo{Dir: "."}
	envs, err := repo.Environments()
	if err != nil {
		t.Fatal(err)
	}
	var all []overlays.Instance
	for _, env := range envs {
		insts, err := repo.Select(env, nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, insts...)
	}
	want := map[string]bool{"development/local": true, "staging/pprd": true, "staging/demo": true, "production/prod": true}
	for _, inst := range all {
		delete(want, inst.String())
	}
	if len(want) > 0 {
		t.Fatalf("instances missing from k8s/overlays: %v", want)
	}
	return all
}

func TestOverlaysRenderGolden(t *testing.T) {
	for _, inst := range allInstances(t) {
		t.Run(inst.String(), func(t *testing.T) {
			objs, err := overlays.Build(filesys.MakeFsOnDisk(), inst.Dir)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			for _, o := range objs {
				b, err := yaml.Marshal(redact.Secret(o).Object)
				if err != nil {
					t.Fatal(err)
				}
				buf.WriteString("---\n")
				buf.Write(b)
			}
			testutil.Golden(t, inst.Env+"-"+inst.Name, buf.String())
		})
	}
}

func TestOverlayInvariants(t *testing.T) {
	for _, inst := range allInstances(t) {
		t.Run(inst.String(), func(t *testing.T) {
			objs, err := overlays.Build(filesys.MakeFsOnDisk(), inst.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := overlays.Check(inst, objs, overlays.StaticScope); err != nil {
				t.Error(err)
			}
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GetKind()]++
				if got := o.GetLabels()[overlays.InstanceLabel]; got != inst.Name {
					t.Errorf("%s/%s: label %s=%q, want %q", o.GetKind(), o.GetName(), overlays.InstanceLabel, got, inst.Name)
				}
				if got := o.GetLabels()[overlays.EnvironmentLabel]; got != inst.Env {
					t.Errorf("%s/%s: label %s=%q, want %q", o.GetKind(), o.GetName(), overlays.EnvironmentLabel, got, inst.Env)
				}
				checkWorkload(t, inst, o)
			}
			for kind, n := range map[string]int{"Namespace": 1, "Deployment": 2, "StatefulSet": 2, "Service": 3, "PersistentVolumeClaim": 4, "Ingress": 1, "Secret": 1, "ConfigMap": 2} {
				if kinds[kind] != n {
					t.Errorf("%d %s objects, want %d", kinds[kind], kind, n)
				}
			}
		})
	}
}

func checkWorkload(t *testing.T, inst overlays.Instance, o *unstructured.Unstructured) {
	t.Helper()
	switch o.GetKind() {
	case "Deployment":
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			c := c.(map[string]any)
			if c["imagePullPolicy"] != "Always" {
				t.Errorf("Deployment %s container %v: imagePullPolicy %v, want Always so restarts refresh rebuilt images", o.GetName(), c["name"], c["imagePullPolicy"])
			}
		}
	case "ConfigMap":
		if debug, ok, _ := unstructured.NestedString(o.Object, "data", "DEBUG"); ok && inst.Env == "production" && debug != "false" {
			t.Errorf("ConfigMap %s: DEBUG=%q in production", o.GetName(), debug)
		}
	case "PersistentVolumeClaim":
		if sc, _, _ := unstructured.NestedString(o.Object, "spec", "storageClassName"); sc != "nfs" {
			t.Errorf("PVC %s: storageClassName %q, want nfs", o.GetName(), sc)
		}
	}
}

// Secrets come from secretGenerator only, never from a manifest in git.
func TestNoSecretManifestsInGit(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) || strings.HasPrefix(path, "testdata") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(b), "\n---") {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if m["kind"] == "Secret" {
				t.Errorf("%s holds a Secret manifest: use a secretGenerator in the overlay's kustomization instead", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestClusterStorageClassRetains(t *testing.T) {
	objs, err := overlays.Build(filesys.MakeFsOnDisk(), "cluster")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetKind()+"/"+o.GetName())
		if p, _, _ := unstructured.NestedString(o.Object, "reclaimPolicy"); p != "Retain" {
			t.Errorf("StorageClass %s reclaimPolicy %q, want Retain", o.GetName(), p)
		}
	}
	if got := strings.Join(names, " "); got != "StorageClass/nfs StorageClass/nfs-csi StorageClass/nfs-subdir" {
		t.Fatalf("k8s/cluster should hold the nfs, nfs-csi and nfs-subdir StorageClasses, got %s", got)
	}
}
