// BenchAdmin: create or delete many topics in one JVM (bench/run makes a fresh topic per client
// and scenario; scripts/kafka create-topic would start a JVM per topic).
//   BenchAdmin BOOTSTRAP create PARTITIONS TOPIC...
//   BenchAdmin BOOTSTRAP delete TOPIC...
//   BenchAdmin BOOTSTRAP log-level NODE LOGGER LEVEL   (a broker logger's level, at run time)
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
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
            } else if (args[1].equals("delete")) {
                admin.deleteTopics(Arrays.asList(Arrays.copyOfRange(args, 2, args.length))).all().get(60, TimeUnit.SECONDS);
            } else if (args[1].equals("log-level") && args.length == 5) {
                ConfigResource node = new ConfigResource(ConfigResource.Type.BROKER_LOGGER, args[2]);
                Collection<AlterConfigOp> ops = List.of(
                        new AlterConfigOp(new ConfigEntry(args[3], args[4]), AlterConfigOp.OpType.SET));
                admin.incrementalAlterConfigs(Map.of(node, ops)).all().get(60, TimeUnit.SECONDS);
            } else {
                System.err.println("BenchAdmin: unknown command " + args[1]);
                System.exit(2);
            }
        }
    }
}
