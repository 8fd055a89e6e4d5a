// ThreadedPerf: Kafka's ProducerPerformance workload with N application threads sharing one
// KafkaProducer, for bench/run's "4 application threads" scenario (Kafka's own tool has one
// sending thread only). Same flags (the subset bench/run uses, plus --threads) and the same
// output lines as org.apache.kafka.tools.ProducerPerformance of Kafka 4.4, so one parser reads
// both. Thread t sends a contiguous share of the records, drawing payloads and keys from its own
// SplittableRandom(seed + t) and throttled to --throughput / N; thread 0 alone is exactly the
// tool's sequence.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.server.util.ThroughputThrottler;

public class ThreadedPerf {
    static final class Stats {
        final long start;
        final int[] latencies;
        final long sampling;
        final long reportingInterval;
        long iteration, count, bytes, totalLatency, windowCount, windowTotalLatency, windowBytes, windowStart;
        int index, maxLatency, windowMaxLatency;

        Stats(long numRecords, long reportingInterval) {
            this.start = System.currentTimeMillis();
            this.windowStart = start;
            this.sampling = numRecords / Math.min(numRecords, 500000);
            this.latencies = new int[(int) (numRecords / sampling) + 1];
            this.reportingInterval = reportingInterval;
        }

        synchronized void record(int latency, int bytes, long time) {
            count++;
            this.bytes += bytes;
            totalLatency += latency;
            maxLatency = Math.max(maxLatency, latency);
            windowCount++;
            windowBytes += bytes;
            windowTotalLatency += latency;
            windowMaxLatency = Math.max(windowMaxLatency, latency);
            if (iteration % sampling == 0 && index < latencies.length) {
                latencies[index++] = latency;
            }
            if (time - windowStart >= reportingInterval) {
                long elapsed = System.currentTimeMillis() - windowStart;
                System.out.printf("%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.%n",
                        windowCount, 1000.0 * windowCount / (double) elapsed,
                        1000.0 * windowBytes / (double) elapsed / (1024.0 * 1024.0),
                        windowTotalLatency / (double) windowCount, (double) windowMaxLatency);
                windowStart = System.currentTimeMillis();
                windowCount = 0;
                windowMaxLatency = 0;
                windowTotalLatency = 0;
                windowBytes = 0;
            }
            iteration++;
        }

        synchronized void printTotal() {
            long elapsed = System.currentTimeMillis() - start;
            int size = Math.min(index, latencies.length);
            int[] l = Arrays.copyOf(latencies, size);
            Arrays.sort(l);
            int[] p = new int[4];
            double[] ps = {0.5, 0.95, 0.99, 0.999};
            for (int i = 0; i < 4; i++) p[i] = size == 0 ? 0 : l[(int) (ps[i] * size)];
            System.out.printf("%d records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.%n",
                    count, 1000.0 * count / (double) elapsed, 1000.0 * bytes / (double) elapsed / (1024.0 * 1024.0),
                    totalLatency / (double) count, (double) maxLatency, p[0], p[1], p[2], p[3]);
        }
    }

    static void die(String msg) {
        System.err.println("ThreadedPerf: error: " + msg);
        System.exit(1);
    }

    public static void main(String[] args) throws Exception {
        String topic = null, payloadFile = null, bootstrap = null, keyDist = "none";
        long numRecords = -1, seed = 0, reportingInterval = 5000;
        int recordSize = -1, keyRange = 0, threads = 1;
        double throughput = Double.NaN;
        Properties props = new Properties();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--bootstrap-server": bootstrap = args[++i]; break;
                case "--topic": topic = args[++i]; break;
                case "--num-records": numRecords = Long.parseLong(args[++i]); break;
                case "--record-size": recordSize = Integer.parseInt(args[++i]); break;
                case "--payload-file": payloadFile = args[++i]; break;
                case "--throughput": throughput = Double.parseDouble(args[++i]); break;
                case "--reporting-interval": reportingInterval = Long.parseLong(args[++i]); break;
                case "--record-key-range": keyRange = Integer.parseInt(args[++i]); break;
                case "--key-distribution": keyDist = args[++i]; break;
                case "--random-seed": seed = Long.parseLong(args[++i]); break;
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--producer-props":
                case "--command-property":
                    while (i + 1 < args.length && !args[i + 1].startsWith("--")) {
                        String[] kv = args[++i].split("=");
                        if (kv.length != 2) die("Invalid property: " + args[i]);
                        props.put(kv[0], kv[1]);
                    }
                    break;
                default: die("unknown argument " + a);
            }
        }
        if (topic == null || numRecords <= 0 || Double.isNaN(throughput) || threads < 1) {
            die("usage: ThreadedPerf --topic T --num-records N (--record-size B | --payload-file F) --throughput R "
                    + "[--bootstrap-server B] [--producer-props k=v ...] [--record-key-range K --key-distribution range|random] "
                    + "[--random-seed S] [--threads N]");
        }
        if ((recordSize > 0) == (payloadFile != null)) die("exactly one of --record-size or --payload-file");
        if (bootstrap != null) props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG, "perf-producer-client");

        final List<byte[]> payloads = new ArrayList<>();
        if (payloadFile != null) {
            System.out.println("Reading payloads from: " + Path.of(payloadFile).toAbsolutePath());
            for (String line : Files.readString(Path.of(payloadFile), StandardCharsets.UTF_8).split("\n")) {
                payloads.add(line.getBytes(StandardCharsets.UTF_8));
            }
            if (!payloads.isEmpty() && payloads.get(0).length == 0) payloads.remove(0);
            System.out.println("Number of records read: " + payloads.size());
        }
        final KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props);
        final Stats stats = new Stats(numRecords, reportingInterval);
        final AtomicLong failed = new AtomicLong();
        final AtomicReference<Exception> firstError = new AtomicReference<>();
        final long total = numRecords, per = numRecords / threads;
        final int size = recordSize, range = keyRange, n = threads;
        final double perThread = throughput / threads;
        final String t0pic = topic, dist = keyDist;
        final long sd = seed;
        Thread[] workers = new Thread[threads];
        long from = 0;
        for (int t = 0; t < threads; t++) {
            final long lo = from, hi = from + per + (t == 0 ? total % n : 0);
            final int tt = t;
            from = hi;
            workers[t] = new Thread(() -> {
                SplittableRandom random = new SplittableRandom(sd + tt);
                ThroughputThrottler throttler = new ThroughputThrottler(perThread, System.currentTimeMillis());
                byte[] buf = size > 0 ? new byte[size] : null;
                for (long i = lo; i < hi; i++) {
                    byte[] value;
                    if (!payloads.isEmpty()) {
                        value = payloads.get(random.nextInt(payloads.size()));
                    } else {
                        for (int j = 0; j < buf.length; j++) buf[j] = (byte) (random.nextInt(26) + 65);
                        value = buf;
                    }
                    byte[] key = null;
                    if (dist.equals("range")) key = Long.toString(i % range).getBytes(StandardCharsets.UTF_8);
                    else if (dist.equals("random")) key = Integer.toString(random.nextInt(range)).getBytes(StandardCharsets.UTF_8);
                    final long sendStart = System.currentTimeMillis();
                    final int bytes = value.length;
                    producer.send(new ProducerRecord<>(t0pic, key, value), (md, e) -> {
                        long now = System.currentTimeMillis();
                        if (e != null) {
                            if (failed.incrementAndGet() == 1) {
                                firstError.set(e);
                                System.err.println("ThreadedPerf: a record failed: " + e);
                            }
                        } else {
                            stats.record((int) (now - sendStart), bytes, now);
                        }
                    });
                    if (throttler.shouldThrottle(i - lo, sendStart)) throttler.throttle();
                }
            }, "app-" + t);
            workers[t].start();
        }
        for (Thread w : workers) w.join();
        producer.close();
        stats.printTotal();
        if (failed.get() > 0) die(failed.get() + " of " + total + " records failed; the first error: " + firstError.get());
    }
}
