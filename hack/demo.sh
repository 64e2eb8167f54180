#!/usr/bin/env bash
# The main job on the local cluster: deploy the development overlay with
# `kubectl qxsms deploy` through kubectl's plugin discovery, and show it running.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tools=$("$repo/hack/build-tools.sh")
export PATH="$repo/bin:$tools:$PATH"
export KUBECONFIG="$repo/.cluster/kubeconfig"
cd "$repo"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step kubectl plugin list
kubectl plugin list 2>/dev/null | grep qxsms
step kubectl qxsms version
kubectl qxsms version
step kubectl qxsms deploy development --wait
kubectl qxsms deploy development --wait --timeout 2m
step kubectl qxsms deploy development  "# again: nothing changes"
kubectl qxsms deploy development | tail -2
step kubectl get pods,pvc -n qxsms-local
kubectl get pods,pvc -n qxsms-local
step kubectl qxsms pvc-nfs-path local
kubectl qxsms pvc-nfs-path local
step kubectl qxsms status development
kubectl qxsms status development
cat <<MSG

The development instance "local" is running in namespace qxsms-local.
Keep using the cluster:
  export KUBECONFIG=$KUBECONFIG PATH=$repo/bin:$tools:\$PATH
  kubectl qxsms --help
Stop it with: make cluster-down
MSG
