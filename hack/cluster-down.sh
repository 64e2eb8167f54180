#!/usr/bin/env bash
# Stops what cluster-up started, by PID, and removes its state.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
state=${QXSMS_CLUSTER_DIR:-$repo/.cluster}
export KWOK_WORKDIR=$state/kwok
[ -d "$state" ] || { echo "cluster-down: nothing to stop" >&2; exit 0; }

if [ -f "$state/provisioner.pid" ]; then
  kill "$(cat "$state/provisioner.pid")" 2>/dev/null || true
fi
bin=$("$repo/hack/build-tools.sh" kwokctl)
if [ -d "$KWOK_WORKDIR/clusters/qxsms" ]; then
  "$bin/kwokctl" --name qxsms delete cluster >"$state/kwokctl-delete.log" 2>&1 || true
fi
# Anything kwokctl could not stop (a half-created cluster) is stopped by its pid file.
for pidfile in "$KWOK_WORKDIR"/clusters/qxsms/pids/*.pid; do
  [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
done
rm -rf "$state"
echo "cluster-down: stopped and removed $state" >&2
