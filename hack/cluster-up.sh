#!/usr/bin/env bash
# Starts the local QxSMS cluster on loopback: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (through kwokctl's binary
# runtime, with binaries built from Go modules), two fake nodes, the nfs,
# nfs-subdir and nfs-csi StorageClasses and the provisioner that makes their
# PVs as in-tree NFS, nfs-subdir-external-provisioner and csi-driver-nfs do.
# Services get a /16, as on real clusters (kwokctl's default /24 holds 254, too few for the benchmarks), and
# the controllers' client rate limits are off, so many rollouts at once are
# limited by the machine, not by a QPS setting. Idempotent; writes the admin
# kubeconfig to .cluster/kubeconfig and logs under .cluster/logs.
set -euo pipefail
# The cluster's daemons outlive this script: they must not inherit the
# caller's descriptors (a test runner's pipes, a lock held around a test run).
for fd in $(ls /proc/$$/fd); do
  [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-" 2>/dev/null || true
done
repo=$(cd "$(dirname "$0")/.." && pwd)
state=${QXSMS_CLUSTER_DIR:-$repo/.cluster}
name=qxsms
kubeconfig=$state/kubeconfig
export KWOK_WORKDIR=$state/kwok
log() { echo "cluster-up: $*" >&2; }
start=$(date +%s%N)

bin=$("$repo/hack/build-tools.sh")
kubectl=("$bin/kubectl" --kubeconfig "$kubeconfig")

provisioner_alive() { [ -f "$state/provisioner.pid" ] && kill -0 "$(cat "$state/provisioner.pid")" 2>/dev/null; }

start_provisioner() {
  log "starting the NFS provisioner (data root $state/nfs)"
  nohup "$state/bin/nfs-provisioner" --kubeconfig "$kubeconfig" --data-root "$state/nfs" \
    >>"$state/logs/nfs-provisioner.log" 2>&1 </dev/null &
  echo $! >"$state/provisioner.pid"
}

if [ -f "$kubeconfig" ] && "${kubectl[@]}" get --raw /readyz >/dev/null 2>&1 && provisioner_alive; then
  # A running cluster picks up new StorageClasses and a changed provisioner
  # without a restart: the volumes and their data stay.
  "${kubectl[@]}" apply -k "$repo/k8s/cluster" >/dev/null
  if [ -n "$(find "$repo/hack/nfs-provisioner" -newer "$state/bin/nfs-provisioner" -name '*.go')" ]; then
    log "the provisioner's source changed: rebuilding and restarting it"
    (cd "$repo/hack" && go build -o "$state/bin/nfs-provisioner.new" ./nfs-provisioner)
    kill "$(cat "$state/provisioner.pid")"
    while provisioner_alive; do sleep 0.1; done
    mv "$state/bin/nfs-provisioner.new" "$state/bin/nfs-provisioner"
    start_provisioner
  fi
  log "already running (KUBECONFIG=$kubeconfig)"
  exit 0
fi
if [ -d "$state" ]; then
  log "found a stopped or partial cluster in $state: removing it first"
  "$repo/hack/cluster-down.sh"
fi
mkdir -p "$state/logs" "$state/nfs" "$state/bin"

log "building the provisioner"
(cd "$repo/hack" && go build -o "$state/bin/nfs-provisioner" ./nfs-provisioner)

k8s_version=$("$bin/kube-apiserver" --version | awk '{print $2}')
cat > "$state/kwokctl.yaml" <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  bindAddress: 127.0.0.1
  kubeVersion: $k8s_version
  kubectlBinary: $bin/kubectl
YAML

log "starting the control plane ($k8s_version) with kwokctl"
"$bin/kwokctl" --name "$name" --config "$state/kwokctl.yaml" create cluster \
  --runtime binary \
  --kubeconfig "$kubeconfig" \
  --etcd-binary "$bin/etcd" \
  --kube-apiserver-binary "$bin/kube-apiserver" \
  --kube-controller-manager-binary "$bin/kube-controller-manager" \
  --kube-scheduler-binary "$bin/kube-scheduler" \
  --kwok-controller-binary "$bin/kwok" \
  --disable-qps-limits \
  --extra-args "kube-apiserver=service-cluster-ip-range=10.96.0.0/16" \
  --extra-args "kube-controller-manager=service-cluster-ip-range=10.96.0.0/16" \
  --wait 60s >"$state/logs/kwokctl-create.log" 2>&1 || {
    log "kwokctl failed; its output:"; cat "$state/logs/kwokctl-create.log" >&2; exit 1; }
ln -sfn "$KWOK_WORKDIR/clusters/$name/logs" "$state/logs/components"

# Fake nodes cost nothing, so they take more pods than a kubelet would: make
# bench keeps every instance of its runs (up to 150 instances of 4 pods in one
# scenario, about 3000 pods in all) until it cleans up. The pods' requests
# count too: 2048 of them filled 2 x 256 CPUs and left the last instances of
# the 150 Pending (Insufficient cpu).
log "adding 2 fake nodes"
for i in 0 1; do cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  allocatable: {cpu: "4096", memory: 16Ti, pods: "5000"}
  capacity: {cpu: "4096", memory: 16Ti, pods: "5000"}
YAML
done | "${kubectl[@]}" apply -f - >/dev/null
"${kubectl[@]}" apply -k "$repo/k8s/cluster" >/dev/null

start_provisioner

"${kubectl[@]}" wait --for=condition=Ready node --all --timeout=60s >/dev/null
sleep 0.2
provisioner_alive || { log "the provisioner exited:"; cat "$state/logs/nfs-provisioner.log" >&2; exit 1; }
log "ready in $(( ($(date +%s%N) - start) / 1000000 )) ms: export KUBECONFIG=$kubeconfig"
