package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// makeRepo generates a config repo with n staging instances named prefix-NN,
// from the staging/pprd overlay, whose guard allows the local context.
func makeRepo(repoRoot, prefix string, n int) (string, []string, error) {
	dir, err := os.MkdirTemp("", "qxsms-bench-repo-")
	if err != nil {
		return "", nil, err
	}
	k8s := filepath.Join(dir, "k8s")
	if err := os.CopyFS(filepath.Join(k8s, "base"), os.DirFS(filepath.Join(repoRoot, "k8s", "base"))); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(k8s, "qxsms.yaml"), []byte("environments:\n  staging: {contexts: [kwok-qxsms]}\n"), 0o644); err != nil {
		return "", nil, err
	}
	src := filepath.Join(repoRoot, "k8s", "overlays", "staging", "pprd")
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", nil, err
	}
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%03d", prefix, i)
		names = append(names, name)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				return "", nil, err
			}
			p := filepath.Join(k8s, "overlays", "staging", name, e.Name())
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", nil, err
			}
			if err := os.WriteFile(p, bytes.ReplaceAll(b, []byte("pprd"), []byte(name)), 0o644); err != nil {
				return "", nil, err
			}
		}
	}
	return k8s, names, nil
}

const benchLabel = "qxsms.io/bench"

// createReleasedPVs creates n PVs whose claim is gone, in phase Released.
func createReleasedPVs(ctx context.Context, client kubernetes.Interface, runID string, n int) error {
	jobs := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				name := fmt.Sprintf("bench-%s-%05d", runID, i)
				pv := &corev1.PersistentVolume{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{benchLabel: runID}},
					Spec: corev1.PersistentVolumeSpec{
						Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
						AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
						PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
						StorageClassName:              "nfs",
						ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: fmt.Sprintf("qxsms-bench-%03d", i%100), Name: "data", UID: "00000000-0000-0000-0000-000000000001"},
						PersistentVolumeSource:        corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.qxsms.local", Path: "/srv/nfs/" + name}},
					},
				}
				_, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
				if err == nil {
					// The PV controller would get there too (the claim is gone);
					// this is faster, and retries when it got there first.
					err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
						cur, err := client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
						if err != nil || cur.Status.Phase == corev1.VolumeReleased {
							return err
						}
						cur.Status.Phase = corev1.VolumeReleased
						_, err = client.CoreV1().PersistentVolumes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
						return err
					})
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("creating PVs: %w", err)
	default:
		return nil
	}
}

func (b *bench) cleanup() {
	b.say("cleaning up")
	l := b.links0()
	_, _ = b.cmd(l, "kubectl", "delete", "pv", "-l", benchLabel+"="+b.runID, "--wait=false")
	out, _ := b.cmd(l, "kubectl", "get", "namespaces", "-o", "name")
	var victims []string
	for _, ns := range strings.Fields(out) {
		if name := strings.TrimPrefix(ns, "namespace/"); strings.HasPrefix(name, "qxsms-b"+b.runID) {
			victims = append(victims, name)
		}
	}
	if len(victims) == 0 {
		return
	}
	// Once the namespaces are gone their PVs are Released: delete those too.
	_, _ = b.cmd(l, "kubectl", append([]string{"delete", "namespace", "--timeout=10m"}, victims...)...)
	out, _ = b.cmd(l, "kubectl", "get", "pv", "-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.claimRef.namespace}{"\n"}{end}`)
	gone := map[string]bool{}
	for _, v := range victims {
		gone[v] = true
	}
	var pvs []string
	for _, line := range strings.Split(out, "\n") {
		if name, ns, ok := strings.Cut(line, " "); ok && gone[ns] {
			pvs = append(pvs, name)
		}
	}
	if len(pvs) > 0 {
		_, _ = b.cmd(l, "kubectl", append([]string{"delete", "pv", "--wait=false"}, pvs...)...)
	}
	b.say("cleaned up")
}
