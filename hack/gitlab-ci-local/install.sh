#!/usr/bin/env bash
# Installs gitlab-ci-local, the e2e suite's GitLab CI implementation, exactly as
# package-lock.json pins it, into a cache outside the clone keyed by the
# lockfile, and prints the path of its executable. A changed lockfile
# installs afresh; an unchanged one costs nothing.
set -euo pipefail
cd "$(dirname "$0")"
key=$(cat package.json package-lock.json | sha256sum | cut -c1-16)
dir=${QXSMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-qxsms/tools}/gitlab-ci-local-$key
bin="$dir/node_modules/.bin/gitlab-ci-local"
if [ ! -x "$bin" ]; then
  command -v npm >/dev/null || { echo "gitlab-ci-local: npm is missing; install Node.js 20 (apt-get install nodejs npm)" >&2; exit 1; }
  echo "gitlab-ci-local: installing from package-lock.json into $dir" >&2
  tmp=$(mktemp -d "${dir}.tmp.XXXX")
  cp package.json package-lock.json "$tmp/"
  # No lifecycle scripts: the package needs none, and nothing runs at install.
  (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund >&2)
  rm -rf "$dir" && mv "$tmp" "$dir"
fi
echo "$bin"
