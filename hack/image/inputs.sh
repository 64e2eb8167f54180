#!/usr/bin/env bash
# Gathers what the CI image is made of, per platform, into a cache outside the
# clone keyed by the pinned versions, and prints that directory:
#
#   <dir>/linux-<arch>/kubectl           static, built from k8s.io/kubernetes (hack/go.mod's pin)
#   <dir>/linux-<arch>/busybox           from Debian's busybox-static .deb
#   <dir>/linux-<arch>/busybox.copyright that package's copyright file (GPL-2: it ships with the binary)
#   <dir>/ca-certificates.crt            Debian's ca-certificates, bundled as update-ca-certificates does
#   <dir>/debs/*.deb                     the packages, for audit: `dpkg-deb -I`, `debsums`
#
#   hack/image/inputs.sh ARCH...         ARCH in: amd64 arm64
#
# The packages come through apt, which checks them against Debian's signed
# indexes; apt works on private lists under the cache, so neither root nor
# the host's architecture or sources matter beyond /etc/apt/sources.list*.
# The SHA-256 pins make a moved or rebuilt package fail loudly instead of
# silently changing the image.
set -euo pipefail
cd "$(dirname "$0")/.."

# To move a pin: `apt-cache policy busybox-static ca-certificates` shows the
# candidates; `sha256sum` the new .deb files from the error below.
BUSYBOX_VERSION=1:1.35.0-4+deb12u1+b1
CA_CERTIFICATES_VERSION=20250419~deb12u2
declare -A DEB_SHA256=(
  [busybox-static_amd64]=3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744
  [busybox-static_arm64]=732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5
  [ca-certificates_all]=b9f76b5271a7ac373fd5e7e1b5b826a71ddd702b42a0d104955ecb1acfffc94b
)

K8S_VERSION=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' go.mod)
cache_root=${QXSMS_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-qxsms/image}
dir="$cache_root/k8s-$K8S_VERSION-busybox-${BUSYBOX_VERSION#*:}-ca-$CA_CERTIFICATES_VERSION"
mkdir -p "$dir/debs"
log() { echo "image-inputs: $*" >&2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[ $# -gt 0 ] || set -- amd64 arm64
for a in "$@"; do
  case "$a" in amd64|arm64) ;; *) echo "image-inputs: unsupported architecture $a (amd64, arm64)" >&2; exit 2 ;; esac
done

# Same stamp as hack/build-tools.sh: unstamped, kubectl reports v0.0.0.
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
stamp="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

for a in "$@"; do
  out="$dir/linux-$a"
  mkdir -p "$out"
  [ -x "$out/kubectl" ] && continue
  log "building static kubectl $K8S_VERSION for linux/$a (cold: several minutes, cached afterwards)"
  CGO_ENABLED=0 GOOS=linux GOARCH=$a go build -trimpath -ldflags "$stamp" -o "$out/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
  mv "$out/kubectl.tmp" "$out/kubectl"
done

# The .deb of package $1, version $2, arch $3, named as apt names it.
debfile() { echo "$dir/debs/${1}_${2//:/%3a}_$3.deb"; }

want=()
for a in "$@"; do [ -f "$(debfile busybox-static "$BUSYBOX_VERSION" "$a")" ] || want+=("busybox-static:$a=$BUSYBOX_VERSION"); done
[ -f "$(debfile ca-certificates "$CA_CERTIFICATES_VERSION" all)" ] || want+=("ca-certificates=$CA_CERTIFICATES_VERSION")
if [ ${#want[@]} -gt 0 ]; then
  apt_dir="$cache_root/apt"
  mkdir -p "$apt_dir/lists/partial"
  apt_opts=(-q -o "Dir::State::Lists=$apt_dir/lists" -o Debug::NoLocking=1
    -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o APT::Architectures::=arm64
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
    # as root apt downloads as _apt, which cannot write to a private temporary directory
    -o "APT::Sandbox::User=$(id -un)")
  log "fetching ${want[*]} with apt"
  apt-get "${apt_opts[@]}" update >&2
  tmp="$work/debs" && mkdir "$tmp"
  if ! (cd "$tmp" && apt-get "${apt_opts[@]}" download "${want[@]}" >&2); then
    echo "image-inputs: apt cannot fetch ${want[*]}; if Debian has moved on, update the pins in $0 (apt-cache policy busybox-static ca-certificates)" >&2
    exit 1
  fi
  for f in "$tmp"/*.deb; do
    base=$(basename "$f"); pkg=${base%%_*}; arch=${base##*_}; arch=${arch%.deb}
    got=$(sha256sum "$f" | cut -d' ' -f1)
    if [ "${DEB_SHA256[${pkg}_$arch]:-}" != "$got" ]; then
      echo "image-inputs: $base has SHA-256 $got, pinned ${DEB_SHA256[${pkg}_$arch]:-nothing}; update DEB_SHA256 in $0 only after checking the package" >&2
      exit 1
    fi
    mv "$f" "$dir/debs/"
  done
fi

for a in "$@"; do
  out="$dir/linux-$a"
  [ -x "$out/busybox" ] && [ -f "$out/busybox.copyright" ] && continue
  x=$(mktemp -d "$work/x.XXXX")
  dpkg-deb -x "$(debfile busybox-static "$BUSYBOX_VERSION" "$a")" "$x"
  cp "$x/usr/share/doc/busybox-static/copyright" "$out/busybox.copyright"
  cp "$x/bin/busybox" "$out/busybox.tmp" && mv "$out/busybox.tmp" "$out/busybox"
done

if [ ! -f "$dir/ca-certificates.crt" ]; then
  x=$(mktemp -d "$work/x.XXXX")
  dpkg-deb -x "$(debfile ca-certificates "$CA_CERTIFICATES_VERSION" all)" "$x"
  # update-ca-certificates concatenates the enabled certificates; with the
  # package's defaults that is every one it ships, in sorted order.
  find "$x/usr/share/ca-certificates" -name '*.crt' -print0 | LC_ALL=C sort -z | xargs -0 cat > "$dir/ca-certificates.crt.tmp"
  mv "$dir/ca-certificates.crt.tmp" "$dir/ca-certificates.crt"
fi
echo "$dir"
