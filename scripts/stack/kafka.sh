#!/usr/bin/env bash
# Apache Kafka in KRaft mode (one combined broker + controller), from Maven Central jars, on
# 127.0.0.1. Recipe: ../shared/reference/kafka-verified.md (SLF4J 1.x binding, fast-start JVM and
# broker settings, short broker session so a restart after SIGKILL takes seconds, not 12 s).
# Topics are never auto-created: Tickler creates its topics and DLQ topics itself, as it must
# against a managed broker.
#   kafka.sh install|start|stop|kill|status|env
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
stack_ports

KV=4.4.0
LOG4J=2.24.3
LIB="$CACHE_DIR/kafka-$KV/lib"
K="$STACK_DIR/kafka"
PIDF="$K/broker.pid"
JOPTS="-Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile=$K/log4j2.properties"

write_config() {
    mkdir -p "$K"
    cat >"$K/log4j2.properties" <<'L4J'
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
logger.ready.name = kafka.server.KafkaRaftServer
logger.ready.level = INFO
L4J
    cat >"$K/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$K/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=4000
group.consumer.min.heartbeat.interval.ms=500
group.consumer.heartbeat.interval.ms=500
group.consumer.min.session.timeout.ms=2000
group.consumer.session.timeout.ms=6000
group.classic.min.session.timeout.ms=2000
log.cleaner.dedupe.buffer.size=8388608
log.cleaner.backoff.ms=1000
PROPS
}

started() { grep -q "Kafka Server started" "$K/broker.log" 2>/dev/null; }

case "${1:-}" in
install)
    if [ ! -f "$LIB/.ok-$KV" ]; then
        command -v mvn >/dev/null || die "mvn is needed to fetch Kafka from Maven Central"
        command -v java >/dev/null || die "java 17+ is needed to run Kafka"
        log "fetching Kafka $KV from Maven Central into $LIB"
        w="$CACHE_DIR/kafka-$KV"; mkdir -p "$w"
        cat >"$w/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
 <groupId>local</groupId><artifactId>kafka-rt</artifactId><version>1</version><packaging>pom</packaging>
 <dependencies>
  <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KV</version></dependency>
  <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J</version></dependency>
  <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J</version></dependency>
 </dependencies></project>
POM
        rm -rf "$LIB"
        (cd "$w" && mvn -B -q dependency:copy-dependencies -DoutputDirectory="$LIB" -DincludeScope=runtime) \
            || die "Maven could not fetch Kafka $KV"
        touch "$LIB/.ok-$KV"
    fi
    ;;
start)
    alive "$PIDF" && exit 0
    write_config
    if [ ! -f "$K/data/meta.properties" ]; then
        # A fresh broker always gets a fresh directory: formatting over an old one fails.
        rm -rf "$K/data"
        # URL-safe base64 of 16 random bytes; one in 64 starts with '-', which the tool's argument
        # parser reads as an option (CI failed on it once): draw again, as Kafka's own Uuid does.
        cid=-
        while [ "${cid#-}" != "$cid" ]; do
            cid="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
        done
        # shellcheck disable=SC2086
        java $JOPTS -cp "$LIB/*" kafka.tools.StorageTool format --standalone -t "$cid" \
            -c "$K/server.properties" >"$K/format.log" 2>&1 || { cat "$K/format.log" >&2; die "kafka format failed"; }
    fi
    : >"$K/broker.log"
    # shellcheck disable=SC2086
    nohup java $JOPTS -cp "$LIB/*" kafka.Kafka "$K/server.properties" >>"$K/broker.log" 2>&1 </dev/null &
    echo $! >"$PIDF"
    for _ in $(seq 900); do
        started && exit 0
        alive "$PIDF" || { tail -30 "$K/broker.log" >&2; die "kafka exited during start-up"; }
        sleep 0.1
    done
    tail -30 "$K/broker.log" >&2; die "kafka did not start in 90 s"
    ;;
stop) stop_pid "$PIDF" 30 ;;
kill) kill_pid "$PIDF" ;;
status) status_line kafka "$PIDF" "127.0.0.1:$KAFKA_PORT" ;;
env) echo "export TICKLER_KAFKA__BROKERS=127.0.0.1:$KAFKA_PORT" ;;
*) die "usage: kafka.sh install|start|stop|kill|status|env" ;;
esac
