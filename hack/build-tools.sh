#!/usr/bin/env bash
# Builds the local cluster's binaries from Go modules into a cache outside the
# clone, keyed by the pinned versions, so a fresh clone starts in seconds and a
# version bump rebuilds. Prints the directory that holds the binaries.
#
#   hack/build-tools.sh [NAME...]   NAME in: etcd kube-apiserver kube-controller-manager
#                                   kube-scheduler kubectl kwok kwokctl krew validate-krew-manifest
set -euo pipefail
cd "$(dirname "$0")"

K8S_VERSION=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' go.mod)
ETCD_VERSION=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' go.mod)
KWOK_VERSION=v0.8.0
KREW_VERSION=v0.4.3

cache_root=${QXSMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-qxsms/tools}
bin_dir="$cache_root/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-krew-$KREW_VERSION"
mkdir -p "$bin_dir"

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
# Without the stamp the binaries report v0.0.0 and kubectl cannot parse the server version.
stamp="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

log() { echo "build-tools: $*" >&2; }

build_k8s() { # names...
  local pkgs=()
  for n in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
  log "building ${*} $K8S_VERSION (cold: ~15 min, cached afterwards)"
  local tmp; tmp=$(mktemp -d "$bin_dir/.tmp.XXXX")
  go build -ldflags "$stamp" -o "$tmp/" "${pkgs[@]}"
  mv "$tmp"/* "$bin_dir/" && rmdir "$tmp"
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl)

k8s_missing=()
for n in "${want[@]}"; do
  [ -x "$bin_dir/$n" ] && continue
  case "$n" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) k8s_missing+=("$n") ;;
    etcd)
      log "building etcd $ETCD_VERSION"
      go build -ldflags "-s -w" -o "$bin_dir/etcd.tmp" ./etcd && mv "$bin_dir/etcd.tmp" "$bin_dir/etcd" ;;
    kwok|kwokctl)
      log "building $n $KWOK_VERSION"
      GOBIN="$bin_dir" GOFLAGS=-mod=mod go install "sigs.k8s.io/kwok/cmd/$n@$KWOK_VERSION" ;;
    krew)
      log "building krew $KREW_VERSION"
      GOBIN="$bin_dir" GOFLAGS=-mod=mod go install "sigs.k8s.io/krew/cmd/krew@$KREW_VERSION" ;;
    validate-krew-manifest)
      log "building validate-krew-manifest $KREW_VERSION"
      GOBIN="$bin_dir" GOFLAGS=-mod=mod go install "sigs.k8s.io/krew/cmd/validate-krew-manifest@$KREW_VERSION" ;;
    *) echo "build-tools: unknown tool $n" >&2; exit 2 ;;
  esac
done
[ ${#k8s_missing[@]} -eq 0 ] || build_k8s "${k8s_missing[@]}"
echo "$bin_dir"
