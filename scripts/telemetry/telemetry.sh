# shellcheck shell=bash
# Sourced by scripts/kafka: the client telemetry receiver (KIP-714) of a 1-node cluster.
#
# TelemetryRecorder.java (beside this file) is compiled once per Kafka version and source
# (cached under $KAFKA_HOME), put on the node's classpath and named in `metric.reporters`; it
# appends one JSON line per PushTelemetry to $DATA/telemetry/pushes.jsonl, whose path
# `scripts/kafka telemetry` prints. Without it (3-node clusters, VOLLEY_KAFKA_TELEMETRY=0, or
# a Kafka whose jars lack the exporter interface) the broker does not advertise the telemetry
# APIs at all.

TELEMETRY_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/TelemetryRecorder.java"

javac_cmd() {
    local java_path
    java_path=$(readlink -f "$(command -v "$JAVA")") || die "java not found"
    if [[ -x "${java_path%/*}/javac" ]]; then
        echo "${java_path%/*}/javac"
    else
        command -v javac || die "javac not found (a JDK is needed for the telemetry receiver)"
    fi
}

# Compiles the receiver (if not cached) and sets up $DATA/telemetry for a 1-node cluster.
telemetry_prepare() {
    ((BROKERS == 1)) && [[ "${VOLLEY_KAFKA_TELEMETRY:-1}" != 0 ]] || return 0
    local sum classes tmp
    sum=$(cksum <"$TELEMETRY_SRC" | cut -d' ' -f1)
    classes="$KAFKA_HOME/telemetry-$sum"
    if [[ ! -d "$classes" ]]; then
        tmp=$(mktemp -d "$KAFKA_HOME/telemetry-tmp.XXXXXX")
        if ! "$(javac_cmd)" -nowarn -d "$tmp" -cp "$LIBS/*" "$TELEMETRY_SRC" >"$tmp.log" 2>&1; then
            info "no telemetry receiver: it does not compile against Kafka $KAFKA_VERSION ($(head -n 1 "$tmp.log"))"
            rm -rf "$tmp" "$tmp.log"
            return 0
        fi
        rm -f "$tmp.log"
        mv -T "$tmp" "$classes" 2>/dev/null || rm -rf "$tmp"
    fi
    mkdir -p "$DATA/telemetry"
    echo "$classes" >"$DATA/telemetry/classes"
    : >"$DATA/telemetry/pushes.jsonl"
}

# server.properties lines of the receiver (none without it).
telemetry_broker_config() {
    [[ -f "$DATA/telemetry/classes" ]] || return 0
    echo "metric.reporters=volley.testbed.TelemetryRecorder"
    echo "volley.telemetry.file=$DATA/telemetry/pushes.jsonl"
}

# The receiver's classpath entry, with a leading ':' (empty without it).
telemetry_classpath() {
    [[ -f "$DATA/telemetry/classes" ]] || return 0
    echo ":$(cat "$DATA/telemetry/classes")"
}

cmd_telemetry() {
    require_cluster
    [[ -f "$DATA/telemetry/classes" ]] || {
        info "the cluster of $STATE has no telemetry receiver (1-node clusters only, unless VOLLEY_KAFKA_TELEMETRY=0)"
        return 1
    }
    echo "$DATA/telemetry/pushes.jsonl"
}
