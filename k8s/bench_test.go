package k8s

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/qxsms/kubectl-qxsms/pkg/overlays"
)

// BenchmarkBuildOverlay is the client's main cost per instance in a deploy:
// one in-process kustomize build with kubectl apply -k's options.
func BenchmarkBuildOverlay(b *testing.B) {
	fs := filesys.MakeFsOnDisk()
	for b.Loop() {
		if _, err := overlays.Build(fs, "overlays/staging/pprd"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildInstances builds every overlay of the repo at once, in parallel.
func BenchmarkBuildInstances(b *testing.B) {
	repo := &overlays.Repo{Dir: "."}
	var all []overlays.Instance
	for _, env := range []string{"development", "staging", "production"} {
		insts, err := repo.Select(env, nil)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, insts...)
	}
	fs := filesys.MakeFsOnDisk()
	for b.Loop() {
		if _, err := overlays.BuildInstances(fs, all); err != nil {
			b.Fatal(err)
		}
	}
}
