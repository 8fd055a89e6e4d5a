// Volley's test bed: a broker-side receiver of client telemetry (KIP-714), compiled by
// scripts/kafka against the broker's jars and loaded through `metric.reporters`.
//
// A broker advertises GetTelemetrySubscriptions and PushTelemetry only when a metrics reporter
// offers a client telemetry exporter; this one records every push it is handed, one JSON line
// per push, in the file named by the broker property `volley.telemetry.file`:
//
//   {"client_id":"..","client_instance_id":"..","terminating":false,"content_type":"..",
//    "resource":{"k":"v"},
//    "metrics":[{"name":"..","kind":"sum"|"gauge","temporality":"cumulative"|"delta"|"",
//                "monotonic":true,"points":[{"value":1.0,"int":false,"start":0,"time":0,
//                "attributes":{"k":"v"}}]}]}
//
// The payload reaches it decompressed (the broker undoes the client's compression type) and is
// read with the OpenTelemetry classes Kafka's clients jar ships (shaded).
package volley.testbed;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.metrics.MetricsReporter;
import org.apache.kafka.server.telemetry.ClientTelemetryContext;
import org.apache.kafka.server.telemetry.ClientTelemetryExporter;
import org.apache.kafka.server.telemetry.ClientTelemetryExporterProvider;
import org.apache.kafka.server.telemetry.ClientTelemetryPayload;
import org.apache.kafka.shaded.io.opentelemetry.proto.common.v1.AnyValue;
import org.apache.kafka.shaded.io.opentelemetry.proto.common.v1.KeyValue;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.Metric;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.MetricsData;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.ScopeMetrics;

public class TelemetryRecorder implements MetricsReporter, ClientTelemetryExporterProvider {
    public static final String FILE_CONFIG = "volley.telemetry.file";

    private String path;

    @Override
    public synchronized void configure(Map<String, ?> configs) {
        Object p = configs.get(FILE_CONFIG);
        if (p == null) {
            throw new IllegalArgumentException(FILE_CONFIG + " is not set");
        }
        path = p.toString();
    }

    @Override
    public void init(List<KafkaMetric> metrics) {}

    @Override
    public void metricChange(KafkaMetric metric) {}

    @Override
    public void metricRemoval(KafkaMetric metric) {}

    @Override
    public void close() {}

    @Override
    public ClientTelemetryExporter clientTelemetryExporter() {
        return this::record;
    }

    private synchronized void record(ClientTelemetryContext context, ClientTelemetryPayload payload) {
        StringBuilder line = new StringBuilder(1024);
        line.append("{\"client_id\":");
        str(line, context.authorizableRequestContext().clientId());
        line.append(",\"client_instance_id\":");
        str(line, String.valueOf(payload.clientInstanceId()));
        line.append(",\"terminating\":").append(payload.isTerminating());
        line.append(",\"content_type\":");
        str(line, payload.contentType());
        line.append(",\"push_interval_ms\":").append(context.pushIntervalMs());
        MetricsData data;
        try {
            data = MetricsData.parseFrom(payload.data().duplicate());
        } catch (IOException e) {
            line.append(",\"error\":");
            str(line, "unparsable MetricsData: " + e);
            write(line.append("}\n"));
            throw new IllegalArgumentException("unparsable MetricsData", e);
        }
        line.append(",\"resource_metrics\":").append(data.getResourceMetricsCount());
        line.append(",\"resource\":{");
        if (data.getResourceMetricsCount() > 0) {
            attributes(line, data.getResourceMetrics(0).getResource().getAttributesList());
        }
        line.append("},\"metrics\":[");
        boolean first = true;
        for (ResourceMetrics rm : data.getResourceMetricsList()) {
            for (ScopeMetrics sm : rm.getScopeMetricsList()) {
                for (Metric m : sm.getMetricsList()) {
                    if (!first) line.append(',');
                    first = false;
                    metric(line, m);
                }
            }
        }
        write(line.append("]}\n"));
    }

    private static void metric(StringBuilder line, Metric m) {
        line.append("{\"name\":");
        str(line, m.getName());
        List<NumberDataPoint> points;
        switch (m.getDataCase()) {
            case SUM:
                line.append(",\"kind\":\"sum\",\"temporality\":");
                str(line, m.getSum().getAggregationTemporality().name()
                    .replace("AGGREGATION_TEMPORALITY_", "").toLowerCase());
                line.append(",\"monotonic\":").append(m.getSum().getIsMonotonic());
                points = m.getSum().getDataPointsList();
                break;
            case GAUGE:
                line.append(",\"kind\":\"gauge\",\"temporality\":\"\",\"monotonic\":false");
                points = m.getGauge().getDataPointsList();
                break;
            default:
                line.append(",\"kind\":");
                str(line, m.getDataCase().name().toLowerCase());
                line.append(",\"temporality\":\"\",\"monotonic\":false");
                points = List.of();
        }
        line.append(",\"points\":[");
        boolean first = true;
        for (NumberDataPoint p : points) {
            if (!first) line.append(',');
            first = false;
            boolean isInt = p.getValueCase() == NumberDataPoint.ValueCase.AS_INT;
            double v = isInt ? (double) p.getAsInt() : p.getAsDouble();
            line.append("{\"value\":").append(Double.isFinite(v) ? Double.toString(v) : "null");
            line.append(",\"int\":").append(isInt);
            line.append(",\"start\":").append(p.getStartTimeUnixNano());
            line.append(",\"time\":").append(p.getTimeUnixNano());
            line.append(",\"attributes\":{");
            attributes(line, p.getAttributesList());
            line.append("}}");
        }
        line.append("]}");
    }

    private static void attributes(StringBuilder line, List<KeyValue> kvs) {
        boolean first = true;
        for (KeyValue kv : kvs) {
            if (!first) line.append(',');
            first = false;
            str(line, kv.getKey());
            line.append(':');
            AnyValue v = kv.getValue();
            str(line, v.hasStringValue() ? v.getStringValue() : v.toString().trim());
        }
    }

    private static void str(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        out.append('"');
    }

    private void write(CharSequence line) {
        try (Writer w = new OutputStreamWriter(new FileOutputStream(path, true), StandardCharsets.UTF_8)) {
            w.append(line);
        } catch (IOException e) {
            throw new IllegalStateException("cannot append to " + path, e);
        }
    }
}
