// BenchAdmin: create or delete many topics in one JVM (bench/run makes a fresh topic per client
// and scenario; scripts/kafka create-topic would start a JVM per topic).
//   BenchAdmin BOOTSTRAP create PARTITIONS TOPIC...   (returns once every partition has its log on
//                                                      a broker: a broker creates the logs of new
//                                                      partitions after the controller has them, and
//                                                      until then answers produce requests with
//                                                      NOT_LEADER_OR_FOLLOWER; 1,000 take seconds)
//   BenchAdmin BOOTSTRAP delete TOPIC...
//   BenchAdmin BOOTSTRAP log-level NODE LOGGER LEVEL   (a broker logger's level, at run time)
//   BenchAdmin BOOTSTRAP broker-default KEY VALUE      (a cluster-wide dynamic broker setting)
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;

public class BenchAdmin {
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: BenchAdmin BOOTSTRAP create PARTITIONS TOPIC... | BOOTSTRAP delete TOPIC... | BOOTSTRAP log-level NODE LOGGER LEVEL");
            System.exit(2);
        }
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]))) {
            if (args[1].equals("create")) {
                int partitions = Integer.parseInt(args[2]);
                List<NewTopic> topics = new ArrayList<>();
                for (String t : Arrays.copyOfRange(args, 3, args.length)) {
                    topics.add(new NewTopic(t, Optional.of(partitions), Optional.empty()));
                }
                admin.createTopics(topics).all().get(60, TimeUnit.SECONDS);
                waitForLogs(admin, Set.copyOf(Arrays.asList(Arrays.copyOfRange(args, 3, args.length))), partitions);
            } else if (args[1].equals("delete")) {
                admin.deleteTopics(Arrays.asList(Arrays.copyOfRange(args, 2, args.length))).all().get(60, TimeUnit.SECONDS);
            } else if (args[1].equals("log-level") && args.length == 5) {
                ConfigResource node = new ConfigResource(ConfigResource.Type.BROKER_LOGGER, args[2]);
                Collection<AlterConfigOp> ops = List.of(
                        new AlterConfigOp(new ConfigEntry(args[3], args[4]), AlterConfigOp.OpType.SET));
                admin.incrementalAlterConfigs(Map.of(node, ops)).all().get(60, TimeUnit.SECONDS);
            } else if (args[1].equals("broker-default") && args.length == 4) {
                ConfigResource cluster = new ConfigResource(ConfigResource.Type.BROKER, "");
                Collection<AlterConfigOp> ops = List.of(
                        new AlterConfigOp(new ConfigEntry(args[2], args[3]), AlterConfigOp.OpType.SET));
                admin.incrementalAlterConfigs(Map.of(cluster, ops)).all().get(60, TimeUnit.SECONDS);
            } else {
                System.err.println("BenchAdmin: unknown command " + args[1]);
                System.exit(2);
            }
        }
    }

    /** Waits (at most 120 s) until the brokers' log directories hold every partition of `topics`. */
    static void waitForLogs(Admin admin, Set<String> topics, int partitions) throws Exception {
        List<Integer> nodes = new ArrayList<>();
        for (Node n : admin.describeCluster().nodes().get(60, TimeUnit.SECONDS)) {
            nodes.add(n.id());
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        int want = topics.size() * partitions;
        while (true) {
            Set<TopicPartition> seen = new HashSet<>();
            for (Map<String, LogDirDescription> dirs : admin.describeLogDirs(nodes).allDescriptions()
                    .get(60, TimeUnit.SECONDS).values()) {
                for (LogDirDescription dir : dirs.values()) {
                    for (TopicPartition tp : dir.replicaInfos().keySet()) {
                        if (topics.contains(tp.topic())) {
                            seen.add(tp);
                        }
                    }
                }
            }
            if (seen.size() >= want) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("after 120 s the brokers have the logs of " + seen.size()
                        + " of the " + want + " new partitions");
            }
            Thread.sleep(250);
        }
    }
}
