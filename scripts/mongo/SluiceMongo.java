/*
 * SluiceMongo - the MongoDB stand-in of sluice's integration tests.
 *
 * Runs mongo-java-server (de.bwaldvogel, in-memory backend) on one loopback
 * address with its oplog enabled, which is what makes collection change
 * streams ($changeStream aggregations) work.  Started by
 * `scripts/services.sh start mongo`; compiled by scripts/deps.sh into
 * .deps/mongo/classes, run as
 *
 *   java -cp '.deps/mongo/classes:.deps/mongo/libs/*' SluiceMongo \
 *        --host 127.0.0.1 --port 27117 [--replset rs0 | --no-replset]
 *
 * Everything lives in memory: a restart starts from empty databases and an
 * empty oplog, so resume tokens from before the restart are meaningless.
 *
 * On top of the library:
 *  - `hello` is answered (mongo-java-server 1.47 knows only the legacy
 *    `isMaster`), and isMaster answers helloOk: true like MongoDB >= 4.4.
 *  - With --replset NAME (default rs0) hello/isMaster describe a one-member
 *    replica set whose primary is this server (setName, hosts, primary, me,
 *    secondary: false, setVersion), and admin `replSetGetStatus` answers with
 *    that one PRIMARY member, so clients that insist on a replica set (as
 *    change-stream consumers usually do) can connect with ?replicaSet=NAME
 *    as well as with ?directConnection=true.  mongo-java-server itself does
 *    not care: its change streams work either way.
 * Deliberately not advertised: logicalSessionTimeoutMinutes (the server has
 * no sessions or transactions) and topologyVersion (it cannot hold an
 * awaitable hello, so drivers must keep polling).
 */
import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.List;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.bson.Document;
import io.netty.channel.Channel;

public final class SluiceMongo {

    /** The in-memory backend with hello and the replica-set identity added. */
    static final class Backend extends MemoryBackend {
        private final String replSet; // null: present as a standalone server
        private final String me;

        Backend(String replSet, String me) {
            this.replSet = replSet;
            this.me = me;
        }

        @Override
        public Document handleCommand(Channel channel, String database, String command, Document query) {
            if (command.equalsIgnoreCase("hello")) {
                Document reply = super.handleCommand(channel, database, "isMaster", query);
                Document hello = new Document();
                for (var e : reply.entrySet()) {
                    if (e.getKey().equals("ismaster")) {
                        hello.put("isWritablePrimary", Boolean.TRUE);
                    } else if (!e.getKey().equals("ok")) {
                        hello.put(e.getKey(), e.getValue());
                    }
                }
                return identity(hello).append("ok", 1.0);
            }
            if (command.equalsIgnoreCase("ismaster")) {
                Document reply = super.handleCommand(channel, database, command, query);
                Object ok = reply.remove("ok");
                if (Boolean.TRUE.equals(query.get("helloOk"))) {
                    reply.put("helloOk", Boolean.TRUE);
                }
                return identity(reply).append("ok", ok == null ? 1.0 : ok);
            }
            if (replSet != null && command.equalsIgnoreCase("replSetGetStatus") && database.equals("admin")) {
                Document member = new Document("_id", 0)
                    .append("name", me)
                    .append("health", 1.0)
                    .append("state", 1)
                    .append("stateStr", "PRIMARY")
                    .append("self", Boolean.TRUE);
                return new Document("set", replSet)
                    .append("date", Instant.now())
                    .append("myState", 1)
                    .append("members", List.of(member))
                    .append("ok", 1.0);
            }
            return super.handleCommand(channel, database, command, query);
        }

        private Document identity(Document reply) {
            if (replSet != null) {
                reply.put("setName", replSet);
                reply.put("setVersion", 1);
                reply.put("hosts", List.of(me));
                reply.put("primary", me);
                reply.put("me", me);
                reply.put("secondary", Boolean.FALSE);
            }
            return reply;
        }
    }

    /** "1.47.0" from the name of the jar MongoServer was loaded from. */
    private static String libraryVersion() {
        try {
            String jar = MongoServer.class.getProtectionDomain().getCodeSource().getLocation().getPath();
            var m = java.util.regex.Pattern.compile("mongo-java-server-core-([^/]+)\\.jar$").matcher(jar);
            return m.find() ? m.group(1) : null;
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static void usage(String why) {
        System.err.println("SluiceMongo: " + why);
        System.err.println("usage: SluiceMongo [--host 127.0.0.1] --port PORT [--replset NAME | --no-replset]");
        System.exit(2);
    }

    public static void main(String[] args) {
        String host = "127.0.0.1";
        String replSet = "rs0";
        int port = -1;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--host", "--port", "--replset" -> {
                    if (i + 1 >= args.length) {
                        usage(a + " needs a value");
                    }
                    String v = args[++i];
                    if (a.equals("--host")) {
                        host = v;
                    } else if (a.equals("--replset")) {
                        replSet = v.isEmpty() ? null : v;
                    } else {
                        try {
                            port = Integer.parseInt(v);
                        } catch (NumberFormatException e) {
                            usage("bad port " + v);
                        }
                    }
                }
                case "--no-replset" -> replSet = null;
                default -> usage("unknown argument " + a);
            }
        }
        if (port <= 0 || port > 65535) {
            usage("--port is required (1-65535)");
        }

        String me = host + ":" + port;
        MongoServer server = new MongoServer(new Backend(replSet, me));
        // The oplog (local.oplog.rs) records inserts, updates, deletes and
        // drops; change streams are cursors over it.
        server.enableOplog();
        try {
            server.bind(new InetSocketAddress(host, port));
        } catch (Exception e) { // netty rethrows the checked BindException unchecked
            // Exit instead of dying in main: netty's threads would keep the JVM up.
            Throwable cause = e;
            while (cause.getCause() != null) {
                cause = cause.getCause();
            }
            System.err.printf("SluiceMongo: ERROR cannot listen on %s: %s%n", me, cause);
            System.exit(1);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.err.println("SluiceMongo: shutting down");
            server.shutdownNow();
        }, "sluice-mongo-shutdown"));

        String version = libraryVersion();
        System.err.printf("SluiceMongo: mongo-java-server %s (memory backend, oplog enabled) listening on %s, %s%n",
            version == null ? "(unknown version)" : version, me,
            replSet == null ? "standalone" : "replica set " + replSet + " (one member, primary)");
    }
}
