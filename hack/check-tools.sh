#!/usr/bin/env bash
# Builds the static-analysis tools and the Go vulnerability database from Go
# modules into a cache outside the clone, keyed by the pinned versions below,
# so a warm run costs nothing and moving a pin rebuilds. Prints one path per
# NAME: the binary, or for vulndb the database directory (govulncheck -db file://DIR).
#
#   hack/check-tools.sh NAME...   NAME in: staticcheck govulncheck vulndb
#
# The vulnerability check is only as fresh as VULNDB_VERSION. To move it forward
# (see README, "Security"):
#   go list -m -json golang.org/x/vulndb@latest    # copy "Version" here
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2
GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

# Outside make, use the toolchain go.mod names, as make does: govulncheck reports
# the standard library of whichever go it runs.
if [ -z "${GOTOOLCHAIN:-}" ]; then
  export GOTOOLCHAIN="$(awk '$1=="toolchain"{print $2; exit}' go.mod)+auto"
fi

cache_root=${QXSMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-qxsms/tools}
vulndb_root=${QXSMS_VULNDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-qxsms/vulndb}

log() { echo "check-tools: $*" >&2; }

go_tool() { # name module-path/cmd/name version
  local dir="$cache_root/$1-$3"
  if [ ! -x "$dir/$1" ]; then
    log "building $1 $3"
    mkdir -p "$dir"
    GOBIN="$dir" GOFLAGS=-mod=mod go install "$2@$3"
  fi
  echo "$dir/$1"
}

# The database is built the way vuln.go.dev's is: golang.org/x/vulndb's own
# indexdb over the OSV reports in that module, fetched through the module proxy.
vulndb() {
  local dir="$vulndb_root/$VULNDB_VERSION"
  if [ ! -f "$dir/index/modules.json" ]; then
    log "building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION (cold: ~2 min)"
    local src
    mkdir -p "$vulndb_root"
    # From outside any module, so go.sum is left alone.
    src=$(cd "$vulndb_root" && go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -d "$src/data/osv" ] || { log "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv; check VULNDB_VERSION in $0"; exit 1; }
    local tmp; tmp=$(mktemp -d "$vulndb_root/.tmp.XXXX")
    trap 'rm -rf "$tmp"' EXIT
    (cd "$src" && go build -o "$tmp/indexdb" ./cmd/indexdb)
    "$tmp/indexdb" -vulns "$src/data/osv" -out "$tmp/db"
    rm -rf "$dir" && mv "$tmp/db" "$dir"
    rm -rf "$tmp"; trap - EXIT
  fi
  echo "$dir"
}

[ $# -gt 0 ] || { echo "usage: $0 staticcheck|govulncheck|vulndb..." >&2; exit 2; }
for n in "$@"; do
  case "$n" in
    staticcheck) go_tool staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION" ;;
    govulncheck) go_tool govulncheck golang.org/x/vuln/cmd/govulncheck "$GOVULNCHECK_VERSION" ;;
    vulndb) vulndb ;;
    *) echo "check-tools: unknown tool $n" >&2; exit 2 ;;
  esac
done
