#!/usr/bin/env bash
# Stops the local broker started by start.sh: SIGTERM for a controlled shutdown,
# SIGKILL only if it has not exited after 30 s. Data and jars stay for the next start.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pidfile="${STREAMSHARE_LOCAL_KAFKA_DIR:-$here}/data/broker.pid"
say() { echo "kafka: $*" >&2; }

if [ ! -f "$pidfile" ]; then say "not running (no pid file)"; exit 0; fi
pid="$(cat "$pidfile")"
if ! kill -0 "$pid" 2>/dev/null; then say "not running (stale pid $pid)"; rm -f "$pidfile"; exit 0; fi

kill -TERM "$pid"
for _ in $(seq 1 120); do
  kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; say "stopped (pid $pid)"; exit 0; }
  sleep 0.25
done
say "broker pid $pid did not stop in 30 s; killing it"
kill -KILL "$pid" 2>/dev/null || true
rm -f "$pidfile"
