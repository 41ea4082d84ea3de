# Shared settings for up.sh / down.sh. Sourced, not run.
# Every value can be overridden from the environment.

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
REDIS_PORT="${REDIS_PORT:-6379}"
# Opt-in second listener with SASL over TLS (SELLERWATCH_LOCAL_SASL=1): a self-signed CA and
# broker certificate, and one user for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
SELLERWATCH_LOCAL_SASL="${SELLERWATCH_LOCAL_SASL:-0}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-$((KAFKA_PORT + 2))}"
KAFKA_SASL_USER="${KAFKA_SASL_USER:-sellerwatch}"

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
# TLS material and the SASL user's password (generated once, mode 600).
KAFKA_TLS_DIR="$KAFKA_HOME/tls"
KAFKA_SASL_PASSWORD_FILE="$KAFKA_TLS_DIR/sasl-password"
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
