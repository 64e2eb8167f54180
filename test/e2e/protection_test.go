//go:build e2e

package e2e

import "testing"

// Protection follows the cluster: when the active context is one of a
// protected environment's, teardown and pv-released --delete need
// --confirm=INSTANCE whatever ENV was typed, even with
// --allow-context-mismatch.
func TestProtectionFollowsTheContext(t *testing.T) {
	inst := uniqueName("e2e-prot")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging", inst).Run().Success()
	x.Kubectl("wait", "-n", "qxsms-"+inst, "--for=jsonpath={.status.phase}=Bound", "pvc", "--all", "--timeout=60s").Run().Success()

	// The local cluster becomes production's (and no longer staging's).
	repo.localIsProduction = true
	repo.write("qxsms.yaml", "environments:\n  staging: {contexts: [qxsms-preprod]}\n  production: {contexts: [kwok-qxsms], protected: true}\n")
	x.Qxsms("teardown", "staging", inst, "--yes", "--allow-context-mismatch").Run().Failure().
		StderrContains(`context "kwok-qxsms" belongs to the protected environment "production"`, "--confirm="+inst)
	if !namespaceExists(t, "qxsms-"+inst) {
		t.Fatal("--yes alone tore down an instance on a production cluster")
	}
	x.Qxsms("teardown", "staging", inst, "--allow-context-mismatch", "--confirm="+inst, "--timeout", "2m").Run().Success()
	x.Qxsms("pv-released", inst, "--delete", "--yes").Run().Failure().StderrContains("belongs to the protected environment", "--confirm=INSTANCE")
	x.Qxsms("pv-released", inst, "--delete", "--confirm="+inst).Run().Success().StdoutContains("deleted")
}
