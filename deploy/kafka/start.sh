#!/usr/bin/env bash
# Starts the local single-node KRaft broker (controller + broker) on localhost:9092
# and returns once it serves requests; the broker keeps running in the background.
#
#   deploy/kafka/start.sh            (npm run kafka:start)
#
# First run: fetches the broker jars with Maven into deploy/kafka/lib and formats a
# KRaft storage folder in deploy/kafka/data. Later runs reuse both. If something
# already listens on 9092 it is reused and nothing is started (exit 0, "reused").
# Last stdout line is machine-readable: "started <pid>" or "reused".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lib="$here/lib"
# A second, private broker (e.g. a test that restarts its broker) sets its own folder and ports.
state="${STREAMSHARE_LOCAL_KAFKA_DIR:-$here}"
data="$state/data"
logs="$state/logs"
pidfile="$data/broker.pid"
port="${STREAMSHARE_LOCAL_KAFKA_PORT:-9092}"
controller_port="${STREAMSHARE_LOCAL_KAFKA_CONTROLLER_PORT:-9093}"
ready_timeout="${STREAMSHARE_LOCAL_KAFKA_TIMEOUT:-90}"
heap="${STREAMSHARE_LOCAL_KAFKA_HEAP:-512m}"

say() { echo "kafka: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if port_open "$port"; then
  say "a broker already listens on 127.0.0.1:$port; reusing it"
  echo "reused"
  exit 0
fi

command -v java >/dev/null || { say "java not found: install a JDK 17+"; exit 1; }

"$here/fetch.sh"

mkdir -p "$data/log" "$logs"
config="$data/server.properties"
# The effective config: the committed template plus this checkout's absolute log dir.
{ sed -e "s/:9092/:$port/g" -e "s/:9093/:$controller_port/g" "$here/config/server.properties"; echo "log.dirs=$data/log"; } > "$config"

java_cmd=(java -Xms128m "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Djava.awt.headless=true -Dkafka.logs.dir="$logs"
  -Dlog4j2.configurationFile="$here/config/log4j2.yaml"
  -cp "$lib/*")

if [ ! -f "$data/log/meta.properties" ]; then
  # A KRaft cluster id is 16 random bytes in unpadded base64url. One in 64 starts with
  # "-", which kafka-storage's argument parser takes for an option ("--cluster-id:
  # expected one argument"): draw again until it does not.
  cluster_id="-"
  while [ "${cluster_id#-}" != "$cluster_id" ]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  say "formatting KRaft storage in $data/log (cluster $cluster_id)"
  "${java_cmd[@]}" kafka.tools.StorageTool format --ignore-formatted \
    -t "$cluster_id" -c "$config" >"$logs/format.log" 2>&1 \
    || { cat "$logs/format.log" >&2; exit 1; }
fi

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  say "broker pid $(cat "$pidfile") is running but 127.0.0.1:$port is closed; waiting for it"
  pid="$(cat "$pidfile")"
else
  : >"$logs/broker.out"
  # setsid: the broker must outlive the shell (and npm) that started it and must not
  # receive the terminal's Ctrl-C; stop.sh ends it.
  setsid nohup "${java_cmd[@]}" kafka.Kafka "$config" >"$logs/broker.out" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  say "started broker pid $pid (logs: $logs/server.log)"
fi

deadline=$((SECONDS + ready_timeout))
until port_open "$port" && grep -q "Kafka Server started" "$logs/server.log" 2>/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    say "broker exited during start-up; last output:"
    tail -n 40 "$logs/broker.out" >&2 || true
    rm -f "$pidfile"
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "broker not ready after ${ready_timeout}s; see $logs/server.log"
    exit 1
  fi
  sleep 0.25
done
say "ready on localhost:$port"
echo "started $pid"
