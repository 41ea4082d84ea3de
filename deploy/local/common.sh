# Shared settings for up.sh / down.sh. Sourced, not run.
# Every value can be overridden from the environment.

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
REDIS_PORT="${REDIS_PORT:-6379}"

CACHE="${SELLERWATCH_CACHE:-$HOME/.cache/sellerwatch}"
KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
# Everything stateful lives under data/, so `down.sh --wipe` is one rm -rf.
KAFKA_DATA="$KAFKA_HOME/data"
KAFKA_LOG_DIRS="$KAFKA_DATA/kraft-logs"
KAFKA_CLUSTER_ID_FILE="$KAFKA_DATA/cluster.id"
KAFKA_RUNTIME_PROPS="$KAFKA_HOME/server.properties"
KAFKA_PID_FILE="$KAFKA_HOME/kafka.pid"
KAFKA_LOG_FILE="$KAFKA_HOME/kafka.log"
REDIS_HOME="$CACHE/redis"
REDIS_PID_FILE="$REDIS_HOME/redis-$REDIS_PORT.pid"
REDIS_LOG_FILE="$REDIS_HOME/redis-$REDIS_PORT.log"

log() { printf '[sellerwatch-local] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid_alive PIDFILE PATTERN: true when the pid in PIDFILE is running and its
# command line contains PATTERN (guards against a recycled pid).
pid_alive() {
  local pidfile="$1" pattern="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

# port_open PORT: something accepts TCP connections on localhost:PORT.
port_open() {
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

redis_pong() {
  [[ "$(redis-cli -p "$1" ping 2>/dev/null)" == "PONG" ]]
}
