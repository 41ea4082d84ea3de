#!/usr/bin/env bash
# Start the local infrastructure for sellerwatch: a single-node Apache Kafka
# broker in KRaft mode (localhost:$KAFKA_PORT) and Redis (localhost:$REDIS_PORT).
# Idempotent: anything already running is reused. See deploy/README.md.
set -euo pipefail

# shellcheck source=common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

mkdir -p "$CACHE" "$KAFKA_HOME" "$REDIS_HOME"

# Two up.sh at once (e.g. two terminals) must not start two brokers.
# fd 9 is closed for the daemons below so they do not inherit the lock.
exec 9>"$CACHE/.up.lock"
flock -w 300 9 || die "another up.sh holds $CACHE/.up.lock"

# ---------------------------------------------------------------- Kafka ----

fetch_kafka() {
  if [[ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn is needed once to fetch Kafka jars (apt-get install maven)"
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  # Download into a temp dir and rename, so an interrupted fetch is never
  # mistaken for a complete one.
  local tmp="$KAFKA_HOME/libs.tmp.$$" mvn_log="$KAFKA_HOME/fetch.log"
  rm -rf "$tmp"
  # Maven's output goes to fetch.log; it is only interesting when it fails.
  if ! mvn -B -Dstyle.color=never -f "$LOCAL_DIR/kafka-pom.xml" \
      -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$mvn_log" 2>&1; then
    rm -rf "$tmp"
    grep -E 'ERROR|FAIL' "$mvn_log" | tail -n 20 >&2 || tail -n 20 "$mvn_log" >&2
    die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (full output: $mvn_log)"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || { rm -rf "$tmp"; die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"; }
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
}

# The JVM command line, as an array so it can be both run directly and handed
# to the daemon wrapper. Same flags as Kafka's kafka-run-class.sh, minus JMX.
# shellcheck disable=SC2206  # KAFKA_HEAP_OPTS is a list of flags
KAFKA_JAVA=(java $KAFKA_HEAP_OPTS
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$LOCAL_DIR/log4j.properties"
  -cp "$KAFKA_LIBS/*")

sasl_enabled() { [[ "$SELLERWATCH_LOCAL_SASL" == "1" ]]; }

make_tls() {
  # A CA and a broker certificate for localhost/127.0.0.1 (clients check the host name), the
  # broker's key and chain in a PKCS12 keystore, and the SASL user's password. Made once.
  [[ -s "$KAFKA_TLS_DIR/broker.p12" && -s "$KAFKA_SASL_PASSWORD_FILE" ]] && return 0
  command -v openssl >/dev/null || die "openssl is needed for SELLERWATCH_LOCAL_SASL=1"
  local dir="$KAFKA_TLS_DIR" tls_log="$KAFKA_HOME/tls.log"
  mkdir -p "$dir" && chmod 700 "$dir"
  log "making a self-signed CA and broker certificate in $dir"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=sellerwatch-local-ca" \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" &&
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$dir/broker.key" -out "$dir/broker.csr" &&
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/san.ext" &&
      openssl x509 -req -in "$dir/broker.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 3650 -extfile "$dir/san.ext" -out "$dir/broker.pem" &&
      openssl rand -hex 16 >"$dir/keystore-password" &&
      openssl pkcs12 -export -in "$dir/broker.pem" -inkey "$dir/broker.key" \
        -certfile "$dir/ca.pem" -name broker -out "$dir/broker.p12" \
        -passout "file:$dir/keystore-password"
  } >"$tls_log" 2>&1 || { tail -n 20 "$tls_log" >&2; die "openssl failed (full output: $tls_log)"; }
  [[ -s "$KAFKA_SASL_PASSWORD_FILE" ]] || openssl rand -hex 16 >"$KAFKA_SASL_PASSWORD_FILE"
  chmod 600 "$dir"/*
}

sasl_props() {
  local password keystore_password
  password="$(<"$KAFKA_SASL_PASSWORD_FILE")"
  keystore_password="$(<"$KAFKA_TLS_DIR/keystore-password")"
  echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL"
  echo "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
  echo "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER=\"$password\";"
  echo "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
  echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
  echo "listener.name.sasl_ssl.ssl.keystore.type=PKCS12"
  echo "listener.name.sasl_ssl.ssl.keystore.location=$KAFKA_TLS_DIR/broker.p12"
  echo "listener.name.sasl_ssl.ssl.keystore.password=$keystore_password"
}

write_runtime_props() {
  # deploy/local/server.properties is the source of truth; only the
  # machine-specific keys (data dir, ports, the opt-in SASL_SSL listener) are
  # replaced in a runtime copy.
  local listeners="PLAINTEXT://localhost:$KAFKA_PORT,CONTROLLER://localhost:$KAFKA_CONTROLLER_PORT"
  local advertised="PLAINTEXT://localhost:$KAFKA_PORT"
  if sasl_enabled; then
    listeners+=",SASL_SSL://localhost:$KAFKA_SASL_PORT"
    advertised+=",SASL_SSL://localhost:$KAFKA_SASL_PORT"
  fi
  {
    grep -vE '^[[:space:]]*(log\.dirs|listeners|advertised\.listeners|controller\.quorum\.voters)[[:space:]]*=' \
      "$LOCAL_DIR/server.properties" |
      if sasl_enabled; then grep -vE '^[[:space:]]*listener\.security\.protocol\.map[[:space:]]*='; else cat; fi
    echo
    echo "# --- set by deploy/local/up.sh ---"
    echo "log.dirs=$KAFKA_LOG_DIRS"
    echo "listeners=$listeners"
    echo "advertised.listeners=$advertised"
    echo "controller.quorum.voters=1@localhost:$KAFKA_CONTROLLER_PORT"
    if sasl_enabled; then sasl_props; fi
  } >"$KAFKA_RUNTIME_PROPS"
  chmod 600 "$KAFKA_RUNTIME_PROPS"
}

add_scram_user() {
  # SCRAM credentials live in the cluster metadata: set them through the plaintext listener
  # (idempotent; one mechanism per request, as the broker wants it).
  local password mechanism config_log="$KAFKA_HOME/scram.log"
  password="$(<"$KAFKA_SASL_PASSWORD_FILE")"
  for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
    if ! "${KAFKA_JAVA[@]}" kafka.admin.ConfigCommand --bootstrap-server "localhost:$KAFKA_PORT" \
        --alter --entity-type users --entity-name "$KAFKA_SASL_USER" \
        --add-config "$mechanism=[password=$password]" >"$config_log" 2>&1; then
      tail -n 20 "$config_log" >&2
      die "could not add the $mechanism user $KAFKA_SASL_USER (full output: $config_log)"
    fi
  done
  log "SASL_SSL on localhost:$KAFKA_SASL_PORT: user $KAFKA_SASL_USER, password in $KAFKA_SASL_PASSWORD_FILE, CA $KAFKA_TLS_DIR/ca.pem"
}

format_storage() {
  # KRaft needs its log dir formatted once with a cluster id; the id is kept
  # in the data dir so that restarts reuse the same storage.
  if [[ -f "$KAFKA_LOG_DIRS/meta.properties" ]]; then
    return 0
  fi
  mkdir -p "$KAFKA_DATA"
  # StorageTool logs its whole config at INFO on stdout: keep that in a file.
  local format_log="$KAFKA_HOME/format.log" cluster_id
  if [[ ! -s "$KAFKA_CLUSTER_ID_FILE" ]]; then
    "${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid >>"$format_log" 2>&1 || true
    cluster_id="$(tail -n 1 "$format_log")"
    if [[ ! "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]]; then
      tail -n 20 "$format_log" >&2
      die "kafka.tools.StorageTool random-uuid failed (full output: $format_log)"
    fi
    echo "$cluster_id" >"$KAFKA_CLUSTER_ID_FILE"
  fi
  cluster_id="$(<"$KAFKA_CLUSTER_ID_FILE")"
  log "formatting KRaft storage in $KAFKA_LOG_DIRS (cluster id $cluster_id)"
  if ! "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format --ignore-formatted \
      -t "$cluster_id" -c "$KAFKA_RUNTIME_PROPS" >>"$format_log" 2>&1; then
    tail -n 20 "$format_log" >&2
    die "kafka.tools.StorageTool format failed (full output: $format_log)"
  fi
}

kafka_ready() {
  if command -v python3 >/dev/null; then
    python3 "$LOCAL_DIR/kafka_ready.py" "$KAFKA_PORT" 2>/dev/null
  else
    port_open "$KAFKA_PORT"
  fi
}

show_kafka_log() {
  log "last lines of $KAFKA_LOG_FILE:"
  tail -n 40 "$KAFKA_LOG_FILE" >&2 || true
  # The root cause is usually the first ERROR, which a long stack trace can
  # push out of the tail.
  local first_error
  first_error="$(grep -m 1 -E '^\[[^]]*\] (ERROR|FATAL) ' "$KAFKA_LOG_FILE" || true)"
  [[ -z "$first_error" ]] || log "first error in the log: $first_error"
}

# load_progress: "N/M" from the broker's last "Completed load of Log ... (N/M completed" line,
# empty before it loads any. A broker with many partitions takes minutes to load its logs.
load_progress() {
  tail -n 400 "$KAFKA_LOG_FILE" 2>/dev/null | grep -oE '\([0-9]+/[0-9]+ completed' | tail -n 1 |
    grep -oE '[0-9]+/[0-9]+' || true
}

# wait_for_kafka: until the broker answers. KAFKA_START_TIMEOUT counts from the last sign of
# progress, so a broker still loading thousands of partition logs is waited for, not given up on.
wait_for_kafka() {
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT)) progress="" now said=$SECONDS
  until kafka_ready; do
    if ! pid_alive "$KAFKA_PID_FILE" kafka.Kafka; then
      show_kafka_log
      die "Kafka exited during startup"
    fi
    now="$(load_progress)"
    if [[ -n "$now" && "$now" != "$progress" ]]; then
      progress="$now"
      deadline=$((SECONDS + KAFKA_START_TIMEOUT))
      if ((SECONDS - said >= 15)); then
        log "Kafka is loading its partition logs: $progress (down.sh --wipe starts an empty broker)"
        said=$SECONDS
      fi
    fi
    if ((SECONDS >= deadline)); then
      show_kafka_log
      die "Kafka not ready on localhost:$KAFKA_PORT after ${KAFKA_START_TIMEOUT}s without progress (still running, pid $(<"$KAFKA_PID_FILE"); ./down.sh stops it)"
    fi
    sleep 1
  done
}

start_kafka() {
  if pid_alive "$KAFKA_PID_FILE" kafka.Kafka; then
    log "Kafka already running (pid $(<"$KAFKA_PID_FILE")); waiting until it answers"
    wait_for_kafka
    if sasl_enabled; then
      # Never restart a running broker (others may be using it): say how to get the listener.
      grep -q "SASL_SSL://localhost:$KAFKA_SASL_PORT" "$KAFKA_RUNTIME_PROPS" ||
        die "the running broker has no SASL_SSL listener: down.sh, then SELLERWATCH_LOCAL_SASL=1 up.sh"
      add_scram_user
    fi
    return 0
  fi
  rm -f "$KAFKA_PID_FILE"
  if port_open "$KAFKA_PORT"; then
    # Not ours (no live pid file). Reuse it if it is a Kafka broker.
    if kafka_ready; then
      log "a Kafka broker not started by up.sh already answers on localhost:$KAFKA_PORT; reusing it"
      return 0
    fi
    die "localhost:$KAFKA_PORT is taken by something that is not a Kafka broker"
  fi
  port_open "$KAFKA_CONTROLLER_PORT" &&
    die "KRaft controller port localhost:$KAFKA_CONTROLLER_PORT is taken (set KAFKA_CONTROLLER_PORT)"
  command -v java >/dev/null || die "java (17+) is needed to run Kafka"

  fetch_kafka
  if sasl_enabled; then
    make_tls
    port_open "$KAFKA_SASL_PORT" && die "SASL_SSL port localhost:$KAFKA_SASL_PORT is taken (set KAFKA_SASL_PORT)"
  fi
  write_runtime_props
  format_storage

  # Keep the previous run's log for post-mortems; the new one starts empty
  # so that the tail shown on failure is about this run.
  [[ -f "$KAFKA_LOG_FILE" ]] && mv -f "$KAFKA_LOG_FILE" "$KAFKA_LOG_FILE.1"
  log "starting Kafka $KAFKA_VERSION (KRaft) on localhost:$KAFKA_PORT; log: $KAFKA_LOG_FILE"
  # setsid + nohup: survive the calling shell/terminal. The inner bash writes
  # its own pid and then execs java, so the pid file holds the JVM's pid.
  # shellcheck disable=SC2016  # $0/$$/$@ expand in the inner bash
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID_FILE" \
    "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_RUNTIME_PROPS" \
    </dev/null >>"$KAFKA_LOG_FILE" 2>&1 9>&- &
  # Give the wrapper a moment to write the pid file before polling it.
  local i
  for i in $(seq 1 50); do
    [[ -s "$KAFKA_PID_FILE" ]] && break
    sleep 0.1
  done
  wait_for_kafka
  log "Kafka ready on localhost:$KAFKA_PORT (pid $(<"$KAFKA_PID_FILE"))"
  if sasl_enabled; then add_scram_user; fi
}

# ---------------------------------------------------------------- Redis ----

install_redis() {
  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
    return 0
  fi
  command -v apt-get >/dev/null || die "redis-server is missing and apt-get is not available"
  local sudo=()
  [[ $EUID -eq 0 ]] || sudo=(sudo)
  log "installing redis-server with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  # The package index may be empty on a fresh machine: update first.
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
}

start_redis() {
  install_redis
  if redis_pong "$REDIS_PORT"; then
    if pid_alive "$REDIS_PID_FILE" redis-server; then
      log "Redis already running on localhost:$REDIS_PORT (pid $(<"$REDIS_PID_FILE"))"
    else
      log "a Redis not started by up.sh already answers on localhost:$REDIS_PORT; reusing it"
    fi
    return 0
  fi
  port_open "$REDIS_PORT" && die "localhost:$REDIS_PORT is taken by something that does not answer PING"
  log "starting Redis on localhost:$REDIS_PORT; log: $REDIS_LOG_FILE"
  # No persistence: this is a cache for local runs, not a database.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --save '' --appendonly no --dir "$REDIS_HOME" \
    --pidfile "$REDIS_PID_FILE" --logfile "$REDIS_LOG_FILE" 9>&-
  local i
  for i in $(seq 1 50); do
    redis_pong "$REDIS_PORT" && { log "Redis ready on localhost:$REDIS_PORT"; return 0; }
    sleep 0.2
  done
  tail -n 20 "$REDIS_LOG_FILE" >&2 || true
  die "Redis did not answer PING on localhost:$REDIS_PORT"
}

start_redis
start_kafka
log "up: kafka localhost:$KAFKA_PORT, redis localhost:$REDIS_PORT"
