// franz-perf: Kafka's kafka-producer-perf-test (org.apache.kafka.tools.ProducerPerformance of
// Kafka 4.4) on the franz-go client, for Volley's benchmark harness (bench/run).
//
// It takes the tool's flags (the subset the harness uses, plus --threads) and prints the same
// lines: a window line every --reporting-interval ms and the summary
//
//	N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, p50 ms 50th, p95 ms 95th, p99 ms 99th, p999 ms 99.9th.
//
// The workload is the tool's: payloads and keys come from the same SplittableRandom sequence
// (seed --random-seed), so every client in the harness sends the same records.
//
// Java producer property names (--producer-props / --command-property k=v ...) are mapped to
// franz-go options in producerOpts (TLS: security.protocol=SSL with a PEM trust store,
// ssl.truststore.location, in tlsOpt); run with --print-config to see the mapping.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ---------------------------------------------------------------------------------------
// java.util.SplittableRandom (enough of it for nextInt(bound)).

type splittableRandom struct{ seed uint64 }

const goldenGamma = 0x9e3779b97f4a7c15

func (r *splittableRandom) nextInt() int32 {
	r.seed += goldenGamma
	z := r.seed
	z = (z ^ (z >> 33)) * 0x62a9d9ed799705f5
	return int32(((z ^ (z >> 28)) * 0xcb24d0a5c88c35b3) >> 32)
}

func (r *splittableRandom) nextIntBounded(bound int32) int32 {
	rv := r.nextInt()
	m := bound - 1
	if bound&m == 0 {
		return rv & m
	}
	u := int32(uint32(rv) >> 1)
	for {
		rv = u % bound
		if u+m-rv >= 0 {
			return rv
		}
		u = int32(uint32(r.nextInt()) >> 1)
	}
}

// ---------------------------------------------------------------------------------------
// Java's String.format("%.Nf") is close enough to Go's for numbers a parser reads.

func fixed(x float64, prec int) string {
	if math.IsNaN(x) {
		return "NaN"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// ---------------------------------------------------------------------------------------
// ProducerPerformance.Stats.

type stats struct {
	steady             bool
	suppressPrint      bool
	clock              time.Time
	start              int64
	latencies          []int32
	sampling           int64
	reportingInterval  int64
	iteration          int64
	index              int
	count              int64
	bytes              int64
	maxLatency         int32
	totalLatency       int64
	windowCount        int64
	windowMaxLatency   int32
	windowTotalLatency int64
	windowBytes        int64
	windowStart        int64
	out                *bufio.Writer
}

func (s *stats) nowMs() int64 { return time.Since(s.clock).Milliseconds() }

// allStats: every record, and (after --warmup-records) the steady-state ones, as Java's tool.
type allStats struct {
	mu     sync.Mutex
	all    *stats
	steady *stats
}

var stdout = bufio.NewWriter(os.Stdout)

func newStats(clock time.Time, numRecords, reportingInterval int64, steady bool) *stats {
	s := &stats{clock: clock, reportingInterval: reportingInterval, out: stdout, steady: steady}
	s.start = s.nowMs()
	s.windowStart = s.start
	s.sampling = numRecords / min(numRecords, 500000)
	s.latencies = make([]int32, numRecords/s.sampling+1)
	return s
}

func (s *stats) record(latency int32, bytes int32, now int64) {
	s.count++
	s.bytes += int64(bytes)
	s.totalLatency += int64(latency)
	s.maxLatency = max(s.maxLatency, latency)
	s.windowCount++
	s.windowBytes += int64(bytes)
	s.windowTotalLatency += int64(latency)
	s.windowMaxLatency = max(s.windowMaxLatency, latency)
	if s.iteration%s.sampling == 0 && s.index < len(s.latencies) {
		s.latencies[s.index] = latency
		s.index++
	}
	if now-s.windowStart >= s.reportingInterval {
		if s.steady && s.count == s.windowCount {
			fmt.Fprintln(s.out, "In steady state.")
		}
		if !s.suppressPrint {
			s.printWindow()
		}
		s.windowStart = s.nowMs()
		s.windowCount, s.windowMaxLatency, s.windowTotalLatency, s.windowBytes = 0, 0, 0, 0
	}
	s.iteration++
}

func (s *stats) printWindow() {
	elapsed := float64(s.nowMs() - s.windowStart)
	fmt.Fprintf(s.out, "%d records sent, %s records/sec (%s MB/sec), %s ms avg latency, %s ms max latency.\n",
		s.windowCount,
		fixed(1000.0*float64(s.windowCount)/elapsed, 1),
		fixed(1000.0*float64(s.windowBytes)/elapsed/1048576.0, 2),
		fixed(float64(s.windowTotalLatency)/float64(s.windowCount), 1),
		fixed(float64(s.windowMaxLatency), 1))
	s.out.Flush()
}

func (s *stats) printTotal() {
	elapsed := float64(s.nowMs() - s.start)
	size := min(s.index, len(s.latencies))
	l := s.latencies[:size]
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	pick := func(p float64) int32 {
		if size == 0 {
			return 0
		}
		return l[int(p*float64(size))]
	}
	steadyWord := ""
	if s.steady {
		steadyWord = " steady state"
	}
	fmt.Fprintf(s.out, "%d%s records sent, %s records/sec (%s MB/sec), %s ms avg latency, %s ms max latency, %d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.\n",
		s.count, steadyWord,
		fixed(1000.0*float64(s.count)/elapsed, 6),
		fixed(1000.0*float64(s.bytes)/elapsed/1048576.0, 2),
		fixed(float64(s.totalLatency)/float64(s.count), 2),
		fixed(float64(s.maxLatency), 2),
		pick(0.5), pick(0.95), pick(0.99), pick(0.999))
	s.out.Flush()
}

// ---------------------------------------------------------------------------------------
// ThroughputThrottler.

type throttler struct {
	startMs       int64
	sleepTimeNs   int64
	target        float64
	sleepDeficitN int64
}

const minSleepNs = 2 * 1000000

func newThrottler(target float64, startMs int64) *throttler {
	t := &throttler{startMs: startMs, target: target, sleepTimeNs: math.MaxInt64}
	if target > 0 {
		t.sleepTimeNs = int64(1e9 / target)
	}
	return t
}

func (t *throttler) shouldThrottle(amountSoFar int64, sendStartMs int64) bool {
	if t.target < 0 {
		return false
	}
	elapsedSec := float32(sendStartMs-t.startMs) / 1000.0
	return elapsedSec > 0 && float64(amountSoFar)/float64(elapsedSec) > t.target
}

func (t *throttler) throttle() {
	t.sleepDeficitN += t.sleepTimeNs
	if t.sleepDeficitN < minSleepNs {
		return
	}
	start := time.Now()
	remaining := t.sleepDeficitN
	for remaining > 0 {
		ms := remaining / 1000000
		if remaining%1000000 > 0 {
			ms++
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		remaining = t.sleepDeficitN - time.Since(start).Nanoseconds()
	}
	t.sleepDeficitN = 0
}

// ---------------------------------------------------------------------------------------
// Arguments.

type args struct {
	bootstrap         string
	topic             string
	numRecords        int64
	recordSize        int
	payloadFile       string
	payloadDelimiter  string
	payloadMonotonic  bool
	throughput        float64
	props             [][2]string
	reportingInterval int64
	keyRange          int32
	keyDistribution   string
	randomSeed        int64
	warmupRecords     int64
	threads           int
	printConfig       bool
}

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "franz-perf: error: "+format+"\n", a...)
	os.Exit(1)
}

const usage = `usage: franz-perf --topic TOPIC --num-records N (--record-size B | --payload-file F | --payload-monotonic)
       --throughput T [--bootstrap-server HOST:PORT] [--producer-props k=v ... | --command-property k=v ...]
       [--payload-delimiter D] [--reporting-interval MS] [--record-key-range N --key-distribution range|random]
       [--random-seed S] [--warmup-records N] [--threads N] [--print-config]
       franz-perf --version
Kafka's kafka-producer-perf-test on franz-go; Java producer property names are mapped to kgo options.`

func parseArgs(argv []string) args {
	a := args{recordSize: -1, payloadDelimiter: "\n", reportingInterval: 5000, keyDistribution: "none", threads: 1, throughput: math.NaN(), numRecords: -1}
	next := func(i *int, name string) string {
		*i++
		if *i >= len(argv) {
			die("%s needs a value", name)
		}
		return argv[*i]
	}
	num := func(s, name string) int64 {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			die("%s: not an integer: %q", name, s)
		}
		return v
	}
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		switch arg {
		case "-h", "--help":
			fmt.Println(usage)
			os.Exit(0)
		case "--version":
			fmt.Println(versionString())
			os.Exit(0)
		case "--bootstrap-server":
			a.bootstrap = next(&i, arg)
		case "--topic":
			a.topic = next(&i, arg)
		case "--num-records":
			a.numRecords = num(next(&i, arg), arg)
		case "--record-size":
			a.recordSize = int(num(next(&i, arg), arg))
		case "--payload-file":
			a.payloadFile = next(&i, arg)
		case "--payload-delimiter":
			a.payloadDelimiter = next(&i, arg)
			if a.payloadDelimiter == `\n` {
				a.payloadDelimiter = "\n"
			}
		case "--payload-monotonic":
			a.payloadMonotonic = true
		case "--throughput":
			v, err := strconv.ParseFloat(next(&i, arg), 64)
			if err != nil {
				die("--throughput: not a number")
			}
			a.throughput = v
		case "--producer-props", "--command-property":
			for i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "--") {
				i++
				k, v, ok := strings.Cut(argv[i], "=")
				if !ok || k == "" || v == "" {
					die("Invalid property: %s", argv[i])
				}
				a.props = append(a.props, [2]string{k, v})
			}
		case "--reporting-interval":
			a.reportingInterval = num(next(&i, arg), arg)
		case "--record-key-range":
			a.keyRange = int32(num(next(&i, arg), arg))
		case "--key-distribution":
			a.keyDistribution = next(&i, arg)
		case "--random-seed":
			a.randomSeed = num(next(&i, arg), arg)
		case "--warmup-records":
			a.warmupRecords = max(0, num(next(&i, arg), arg))
		case "--threads":
			a.threads = int(num(next(&i, arg), arg))
		case "--print-config":
			a.printConfig = true
		default:
			die("unknown argument %q\n%s", arg, usage)
		}
	}
	if a.topic == "" {
		die("--topic is required")
	}
	if a.numRecords <= 0 {
		die("--num-records should be greater than zero.")
	}
	if math.IsNaN(a.throughput) || a.throughput == 0 {
		die("--throughput is required and must not be 0 (-1: no throttling)")
	}
	n := 0
	for _, b := range []bool{a.recordSize >= 0, a.payloadFile != "", a.payloadMonotonic} {
		if b {
			n++
		}
	}
	if n != 1 {
		die("exactly one of --record-size, --payload-file or --payload-monotonic")
	}
	if a.recordSize == 0 {
		die("--record-size should be greater than zero.")
	}
	switch a.keyDistribution {
	case "none":
		if a.keyRange != 0 {
			die("--key-distribution must be 'range' or 'random' when --record-key-range is specified.")
		}
	case "range", "random":
		if a.keyRange <= 0 {
			die("--record-key-range is required when --key-distribution is 'range' or 'random'.")
		}
	default:
		die("--key-distribution must be none, range or random")
	}
	if a.threads < 1 {
		die("--threads must be at least 1")
	}
	if a.warmupRecords >= a.numRecords {
		die("The value for --warmup-records must be strictly fewer than the number of records in the test, --num-records.")
	}
	if a.warmupRecords > 0 && a.threads > 1 {
		die("--warmup-records works with --threads 1 only")
	}
	if a.reportingInterval <= 0 {
		die("--reporting-interval should be greater than zero.")
	}
	return a
}

func versionString() string {
	v := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/twmb/franz-go" {
				v = d.Version
			}
		}
	}
	return fmt.Sprintf("franz-perf (franz-go %s, %s)", v, runtime.Version())
}

// ---------------------------------------------------------------------------------------
// Java producer properties -> franz-go options.

func producerOpts(a args) ([]kgo.Opt, []string) {
	props := map[string]string{}
	for _, p := range a.props {
		props[p[0]] = p[1]
	}
	if a.bootstrap != "" {
		props["bootstrap.servers"] = a.bootstrap
	}
	var opts []kgo.Opt
	var desc []string
	add := func(o kgo.Opt, d string) {
		opts = append(opts, o)
		desc = append(desc, d)
	}
	atoi := func(k string) int {
		v, err := strconv.Atoi(props[k])
		if err != nil {
			die("%s: not an integer: %q", k, props[k])
		}
		return v
	}
	msDur := func(k string) time.Duration {
		v, err := strconv.ParseFloat(props[k], 64)
		if err != nil {
			die("%s: not a number: %q", k, props[k])
		}
		return time.Duration(v * float64(time.Millisecond))
	}
	// Java defaults where the harness does not set them.
	idempotent := true
	if v, ok := props["enable.idempotence"]; ok {
		idempotent = v == "true"
	}
	batchSize := 16384
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := props[k]
		switch k {
		case "bootstrap.servers":
			add(kgo.SeedBrokers(strings.Split(v, ",")...), "SeedBrokers("+v+")")
		case "client.id":
			add(kgo.ClientID(v), "ClientID("+v+")")
		case "acks":
			switch v {
			case "all", "-1":
				add(kgo.RequiredAcks(kgo.AllISRAcks()), "RequiredAcks(AllISRAcks)")
			case "1":
				add(kgo.RequiredAcks(kgo.LeaderAck()), "RequiredAcks(LeaderAck)")
			case "0":
				add(kgo.RequiredAcks(kgo.NoAck()), "RequiredAcks(NoAck)")
			default:
				die("acks: bad value %q", v)
			}
		case "enable.idempotence":
			if !idempotent {
				add(kgo.DisableIdempotentWrite(), "DisableIdempotentWrite()")
			}
		case "linger.ms":
			add(kgo.ProducerLinger(msDur(k)), "ProducerLinger("+msDur(k).String()+")")
		case "batch.size":
			batchSize = atoi(k)
			add(kgo.ProducerBatchMaxBytes(int32(batchSize)), fmt.Sprintf("ProducerBatchMaxBytes(%d)", batchSize))
		case "buffer.memory":
			// Java bounds the buffered bytes only; franz-go's record-count bound (default
			// 50,000) is lifted so that bytes are the bound here too.
			add(kgo.MaxBufferedBytes(atoi(k)), fmt.Sprintf("MaxBufferedBytes(%d)", atoi(k)))
			add(kgo.MaxBufferedRecords(math.MaxInt32), "MaxBufferedRecords(MaxInt32)")
		case "max.in.flight.requests.per.connection":
			// franz-go: with idempotence the limit is fixed at 5 per broker (the option has
			// no effect); without it the option applies.
			if !idempotent {
				add(kgo.MaxProduceRequestsInflightPerBroker(atoi(k)), fmt.Sprintf("MaxProduceRequestsInflightPerBroker(%d)", atoi(k)))
			} else {
				desc = append(desc, fmt.Sprintf("(max.in.flight=%s: franz-go uses 5 per broker with idempotence)", v))
			}
		case "compression.type":
			var c kgo.CompressionCodec
			switch v {
			case "none":
				c = kgo.NoCompression()
			case "gzip":
				c = kgo.GzipCompression()
			case "snappy":
				c = kgo.SnappyCompression()
			case "lz4":
				c = kgo.Lz4Compression()
			case "zstd":
				c = kgo.ZstdCompression()
			default:
				die("compression.type: bad value %q", v)
			}
			add(kgo.ProducerBatchCompression(c), "ProducerBatchCompression("+v+")")
		case "delivery.timeout.ms":
			add(kgo.RecordDeliveryTimeout(msDur(k)), "RecordDeliveryTimeout("+msDur(k).String()+")")
		case "request.timeout.ms":
			add(kgo.ProduceRequestTimeout(msDur(k)), "ProduceRequestTimeout("+msDur(k).String()+")")
		case "retries":
			add(kgo.RecordRetries(atoi(k)), fmt.Sprintf("RecordRetries(%d)", atoi(k)))
		case "max.request.size":
			add(kgo.ProducerBatchMaxBytes(int32(atoi(k))), fmt.Sprintf("ProducerBatchMaxBytes(%d) [max.request.size]", atoi(k)))
		case "security.protocol", "ssl.truststore.type", "ssl.truststore.location", "ssl.endpoint.identification.algorithm":
			// TLS settings, mapped together below.
		default:
			die("no franz-go mapping for producer property %q", k)
		}
	}
	if _, ok := props["bootstrap.servers"]; !ok {
		die("no bootstrap server: use --bootstrap-server or bootstrap.servers=...")
	}
	if o, d := tlsOpt(props); o != nil {
		add(o, d)
	}
	// Java's default partitioner: murmur2 for keyed records, and for keyless ones sticky
	// partitions switched after batch.size bytes, adaptive (KIP-794).
	add(kgo.RecordPartitioner(kgo.UniformBytesPartitioner(batchSize, true, true, nil)),
		fmt.Sprintf("RecordPartitioner(UniformBytesPartitioner(%d, adaptive, murmur2 keys))", batchSize))
	return opts, desc
}

// tlsOpt maps Java's TLS settings: security.protocol=SSL dials with crypto/tls
// (kgo.DialTLSConfig), trusting the CA certificates of ssl.truststore.location (a PEM file,
// ssl.truststore.type=PEM; without one, the system roots). The broker's host name is checked
// (Go's default; franz-go sets ServerName to the host it dials), as with Java's
// ssl.endpoint.identification.algorithm=https, the only value taken here.
func tlsOpt(props map[string]string) (kgo.Opt, string) {
	proto := strings.ToUpper(props["security.protocol"])
	switch proto {
	case "", "PLAINTEXT":
		for _, k := range []string{"ssl.truststore.type", "ssl.truststore.location"} {
			if _, ok := props[k]; ok {
				die("%s is set but security.protocol is not SSL", k)
			}
		}
		return nil, ""
	case "SSL":
	default:
		die("security.protocol=%s: franz-perf maps PLAINTEXT and SSL only", props["security.protocol"])
	}
	if v, ok := props["ssl.endpoint.identification.algorithm"]; ok && !strings.EqualFold(v, "https") {
		die("ssl.endpoint.identification.algorithm=%s: franz-perf always checks the host name (https)", v)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	desc := "DialTLSConfig(system roots, host name checked)"
	if loc, ok := props["ssl.truststore.location"]; ok {
		if t := props["ssl.truststore.type"]; t != "" && !strings.EqualFold(t, "PEM") {
			die("ssl.truststore.type=%s: franz-perf reads PEM trust stores only", t)
		}
		pem, err := os.ReadFile(loc)
		if err != nil {
			die("ssl.truststore.location: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			die("ssl.truststore.location: no PEM certificate in %s", loc)
		}
		cfg.RootCAs = pool
		desc = "DialTLSConfig(RootCAs from " + loc + ", host name checked)"
	}
	return kgo.DialTLSConfig(cfg), desc
}

// ---------------------------------------------------------------------------------------

func readPayloads(path, delimiter string) [][]byte {
	abs := path
	if !strings.HasPrefix(path, "/") {
		wd, _ := os.Getwd()
		abs = wd + "/" + path
	}
	fmt.Printf("Reading payloads from: %s\n", abs)
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		die("File does not exist or empty file provided.")
	}
	tokens := strings.Split(string(data), delimiter)
	if len(tokens) > 0 && tokens[0] == "" {
		tokens = tokens[1:]
	}
	if len(tokens) > 0 && tokens[len(tokens)-1] == "" {
		tokens = tokens[:len(tokens)-1]
	}
	out := make([][]byte, len(tokens))
	for i, t := range tokens {
		out[i] = []byte(t)
	}
	fmt.Printf("Number of records read: %d\n", len(out))
	return out
}

func main() {
	a := parseArgs(os.Args[1:])
	opts, desc := producerOpts(a)
	if a.printConfig {
		fmt.Fprintf(os.Stderr, "franz-perf: %s\nfranz-perf: options: %s\n", versionString(), strings.Join(desc, ", "))
	}
	var payloads [][]byte
	if a.payloadFile != "" {
		payloads = readPayloads(a.payloadFile, a.payloadDelimiter)
		if len(payloads) == 0 {
			die("No payload file, record size or payload-monotonic option provided.")
		}
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		die("cannot create the client: %v", err)
	}
	clock := time.Now()
	st := &allStats{all: newStats(clock, a.numRecords, a.reportingInterval, false)}
	var failed atomic.Int64
	var firstErr atomic.Value
	ctx := context.Background()

	worker := func(t int, from, to int64) {
		random := &splittableRandom{seed: uint64(a.randomSeed + int64(t))}
		startMs := time.Since(clock).Milliseconds()
		thr := newThrottler(a.throughput/float64(a.threads), startMs)
		inSteady := false
		for i := from; i < to; i++ {
			var value []byte
			switch {
			case payloads != nil:
				value = payloads[random.nextIntBounded(int32(len(payloads)))]
			case a.recordSize > 0:
				value = make([]byte, a.recordSize)
				for j := range value {
					value[j] = byte(random.nextIntBounded(26) + 65)
				}
			default:
				value = strconv.AppendInt(nil, i, 10)
			}
			var key []byte
			switch a.keyDistribution {
			case "range":
				key = strconv.AppendInt(nil, i%int64(a.keyRange), 10)
			case "random":
				key = strconv.AppendInt(nil, int64(random.nextIntBounded(a.keyRange)), 10)
			}
			sendStart := time.Since(clock).Milliseconds()
			if a.warmupRecords > 0 && i == a.warmupRecords {
				st.mu.Lock()
				st.steady = newStats(clock, a.numRecords-a.warmupRecords, a.reportingInterval, true)
				st.all.suppressPrint = true
				st.mu.Unlock()
				inSteady = true
			}
			steady := inSteady
			bytes := int32(len(value))
			client.Produce(ctx, &kgo.Record{Topic: a.topic, Key: key, Value: value}, func(_ *kgo.Record, err error) {
				now := time.Since(clock).Milliseconds()
				if err != nil {
					if failed.Add(1) == 1 {
						firstErr.Store(err.Error())
						fmt.Fprintf(os.Stderr, "franz-perf: a record failed: %v\n", err)
					}
					return
				}
				st.mu.Lock()
				st.all.record(int32(now-sendStart), bytes, now)
				if steady && st.steady != nil {
					st.steady.record(int32(now-sendStart), bytes, now)
				}
				st.mu.Unlock()
			})
			if thr.shouldThrottle(i-from, sendStart) {
				thr.throttle()
			}
		}
	}
	var wg sync.WaitGroup
	per := a.numRecords / int64(a.threads)
	from := int64(0)
	for t := 0; t < a.threads; t++ {
		to := from + per
		if t == 0 {
			to += a.numRecords % int64(a.threads)
		}
		wg.Add(1)
		go func(t int, from, to int64) {
			defer wg.Done()
			worker(t, from, to)
		}(t, from, to)
		from = to
	}
	wg.Wait()
	if err := client.Flush(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "franz-perf: flush: %v\n", err)
	}
	client.Close()
	st.mu.Lock()
	st.all.printTotal()
	if st.steady != nil {
		st.steady.printTotal()
	}
	st.mu.Unlock()
	if n := failed.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "franz-perf: error: %d of %d records failed; the first error: %v\n", n, a.numRecords, firstErr.Load())
		os.Exit(1)
	}
}
