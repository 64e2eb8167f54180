#!/usr/bin/env bash
# Fails on any known vulnerability the plugin's code calls: govulncheck on the
# source (./..., the packages and the toolchain go.mod names) and on each
# binary given (the release binaries: what users actually run). The database is
# built offline from a pinned golang.org/x/vulndb (hack/check-tools.sh), so the
# check is only as fresh as that pin.
#
#   hack/vulncheck.sh [BINARY...]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${GOTOOLCHAIN:-}" ]; then
  export GOTOOLCHAIN="$(awk '$1=="toolchain"{print $2; exit}' go.mod)+auto"
fi

tools=$(hack/check-tools.sh govulncheck vulndb)
{ read -r govulncheck; read -r db; } <<<"$tools"
pin=$(basename "$db")

rc=0
echo "vulncheck: source ./... with $(go env GOVERSION) (golang.org/x/vulndb@$pin)"
"$govulncheck" -db "file://$db" ./... || rc=1
for b in "$@"; do
  echo "vulncheck: binary $b"
  "$govulncheck" -db "file://$db" -mode binary "$b" || rc=1
done
if [ $rc -ne 0 ]; then
  echo "vulncheck: called vulnerabilities above. Upgrade the module to its 'Fixed in' version" \
    "(go get MODULE@VERSION, within what k8s.io/* accepts), or the standard library with" \
    "'go mod edit -toolchain=goX.Y.Z'; then 'make dist vulncheck'." >&2
fi
exit $rc
