#!/usr/bin/env bash
# Stop the Kafka broker and Redis that up.sh started (found via their pid
# files; a Redis or Kafka that up.sh merely reused is left alone).
# Idempotent. `--wipe` also deletes the Kafka data dir (topics, offsets,
# cluster id); the downloaded jars are kept.
set -euo pipefail

# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

wipe=false
for arg in "$@"; do
  case "$arg" in
    --wipe) wipe=true ;;
    -h|--help) echo "usage: $0 [--wipe]"; exit 0 ;;
    *) die "unknown argument: $arg (usage: $0 [--wipe])" ;;
  esac
done

# stop PIDFILE PATTERN NAME TIMEOUT: SIGTERM, wait, then SIGKILL.
stop() {
  local pidfile="$1" pattern="$2" name="$3" timeout="$4" pid i
  if ! pid_alive "$pidfile" "$pattern"; then
    log "$name: not running"
    rm -f "$pidfile"
    return 0
  fi
  pid="$(<"$pidfile")"
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  # Kafka does a controlled shutdown and flushes its logs; give it time.
  for ((i = 0; i < timeout * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still running after ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  log "$name: stopped"
}

# Do not race an up.sh that is starting things right now.
if [[ -d "$CACHE" ]]; then
  exec 9>"$CACHE/.up.lock"
  flock -w 300 9 || die "another up.sh/down.sh holds $CACHE/.up.lock"
fi

stop "$KAFKA_PID_FILE" kafka.Kafka kafka 60
stop "$REDIS_PID_FILE" redis-server redis 10

if $wipe; then
  log "kafka: deleting data dir $KAFKA_DATA"
  rm -rf "$KAFKA_DATA" "$KAFKA_RUNTIME_PROPS"
fi
log "down"
