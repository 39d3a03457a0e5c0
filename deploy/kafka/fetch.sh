#!/usr/bin/env bash
# Fetches the Kafka broker jars (pom.xml) from Maven Central into deploy/kafka/lib.
# Idempotent: does nothing when lib/ is newer than pom.xml. Used by start.sh and CI.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lib="$here/lib"
if [ -f "$lib/kafka_2.13.stamp" ] && [ ! "$here/pom.xml" -nt "$lib/kafka_2.13.stamp" ]; then exit 0; fi
command -v mvn >/dev/null || { echo "kafka: mvn not found: install Maven to fetch the broker jars" >&2; exit 1; }
echo "kafka: fetching the Kafka broker jars from Maven Central" >&2
rm -rf "$lib"
mvn -q -B -f "$here/pom.xml" package >&2
touch "$lib/kafka_2.13.stamp"
