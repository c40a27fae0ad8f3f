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
 *  - Change streams are MongoDB-shaped (SluiceEvents.java): the collections
 *    (Coll) report every write with the document before and after, and
 *    aggregate $changeStream / getMore / killCursors of those cursors are
 *    served from SluiceEvents' own oplog; every reply of a replica-set member
 *    carries operationTime and $clusterTime; collMod and create know
 *    changeStreamPreAndPostImages; pipeline-style update statements
 *    (u: [...]) are computed here (the library cannot); admin
 *    {sluiceTrimOplog: 1, keep: N} trims
 *    the oplog to its last N entries, {sluiceTrimOplog: 1, ns: "db.coll"}
 *    forgets one collection's history up to now (test-only, for error 286).
 *  - The network setup is MongoServer.bind's, with Handler in place of the
 *    library's request handler: a change stream getMore that may wait
 *    (maxTimeMS) runs on a thread of its own instead of blocking a netty
 *    event loop that other connections share.
 * Deliberately not advertised: logicalSessionTimeoutMinutes (the server has
 * no sessions or transactions) and topologyVersion (it cannot hold an
 * awaitable hello, so drivers must keep polling).
 */
import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoThreadFactory;
import de.bwaldvogel.mongo.backend.ArrayFilters;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryCollection;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import de.bwaldvogel.mongo.oplog.Oplog;
import de.bwaldvogel.mongo.wire.MongoDatabaseHandler;
import de.bwaldvogel.mongo.wire.MongoExceptionHandler;
import de.bwaldvogel.mongo.wire.MongoWireMessageEncoder;
import de.bwaldvogel.mongo.wire.MongoWireProtocolHandler;
import de.bwaldvogel.mongo.wire.MongoWireReplyEncoder;
import de.bwaldvogel.mongo.wire.message.ClientRequest;
import de.bwaldvogel.mongo.wire.message.MongoMessage;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;

public final class SluiceMongo {

    /**
     * mongo-java-server's request handler, except that a getMore that may wait (a change stream's, with
     * maxTimeMS) runs on a thread of its own: the network thread it came on serves other connections too.
     */
    static final class Handler extends MongoDatabaseHandler {
        private final ExecutorService waits;

        Handler(MongoBackend backend, ChannelGroup channels, ExecutorService waits) {
            super(backend, channels);
            this.waits = waits;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, ClientRequest request) {
            if (request instanceof MongoMessage && SluiceEvents.LOG.mayWait(((MongoMessage) request).getDocument())) {
                waits.execute(() -> {
                    try {
                        Handler.super.channelRead0(ctx, request);
                    } catch (RuntimeException e) {
                        ctx.fireExceptionCaught(e);
                    }
                });
                return;
            }
            super.channelRead0(ctx, request);
        }
    }

    /** Set while a pipeline-style update writes its result. */
    static final ThreadLocal<Boolean> PIPELINE_UPDATE = new ThreadLocal<>();

    /** A memory collection that reports every document write to SluiceEvents. */
    static final class Coll extends MemoryCollection {
        Coll(MongoDatabase database, String name, CollectionOptions options, CursorRegistry cursors) {
            super(database, name, options, cursors);
        }

        @Override
        protected Integer addDocumentInternal(Document document) {
            Integer position = super.addDocumentInternal(document);
            SluiceEvents.LOG.recordInsert(getDatabaseName(), getCollectionName(), document);
            return position;
        }

        @Override
        protected void removeDocument(Integer position) {
            Document old = getDocument(position);
            super.removeDocument(position);
            SluiceEvents.LOG.recordDelete(getDatabaseName(), getCollectionName(), old);
        }

        @Override
        protected void handleUpdate(Integer position, Document oldDocument, Document newDocument) {
            super.handleUpdate(position, oldDocument, newDocument);
            SluiceEvents.LOG.recordUpdate(getDatabaseName(), getCollectionName(), oldDocument, newDocument,
                SluiceEvents.UPDATE_SPEC.get());
        }

        @Override
        public synchronized Document updateDocuments(Document selector, Document updateQuery, ArrayFilters arrayFilters,
                                                     boolean isMulti, boolean isUpsert, Oplog oplog) {
            // a pipeline-style update arrives as the replacement it computed: its event is a diff
            SluiceEvents.UPDATE_SPEC.set(Boolean.TRUE.equals(PIPELINE_UPDATE.get()) ? null : updateQuery);
            try {
                return super.updateDocuments(selector, updateQuery, arrayFilters, isMulti, isUpsert, oplog);
            } finally {
                SluiceEvents.UPDATE_SPEC.remove();
            }
        }

        @Override
        public synchronized Document findAndModify(Document query) {
            Object update = query.get("update");
            SluiceEvents.UPDATE_SPEC.set(update instanceof Document ? (Document) update : null);
            try {
                return super.findAndModify(query);
            } finally {
                SluiceEvents.UPDATE_SPEC.remove();
            }
        }

        /** Copies of the documents matching the selector (limit 0: all). */
        synchronized List<Document> matching(Document selector, int limit) {
            List<Document> out = new ArrayList<>();
            for (Document d : queryDocuments(selector, null, 0, limit, 0, null)) {
                out.add(d.cloneDeeply());
            }
            return out;
        }

        /** A copy of the document with that _id, or null. */
        synchronized Document lookup(Object id) {
            for (Document d : queryDocuments(new Document("_id", id), null, 0, 1, 0, null)) {
                return d.cloneDeeply();
            }
            return null;
        }
    }

    static final class Db extends MemoryDatabase {
        Db(String name, CursorRegistry cursors) {
            super(name, cursors);
        }

        @Override
        protected MemoryCollection openOrCreateCollection(String collectionName, CollectionOptions options) {
            return new Coll(this, collectionName, options, cursorRegistry);
        }
    }

    /** The in-memory backend with hello and the replica-set identity added. */
    static final class Backend extends MemoryBackend {
        private final String replSet; // null: present as a standalone server
        private final String me;

        Backend(String replSet, String me) {
            this.replSet = replSet;
            this.me = me;
            SluiceEvents.LOG.setLookup(this::lookup);
        }

        @Override
        public MemoryDatabase openOrCreateDatabase(String databaseName) {
            return new Db(databaseName, getCursorRegistry());
        }

        @Override
        protected Oplog createOplog() {
            return SluiceEvents.LOG;
        }

        private boolean databaseExists(String db) {
            return listDatabaseNames().contains(db);
        }

        private MongoCollection<?> existingCollection(String db, String coll) {
            return databaseExists(db) ? resolveDatabase(db).resolveCollection(coll, false) : null;
        }

        private Document lookup(String db, String coll, Object id) {
            MongoCollection<?> c = existingCollection(db, coll);
            if (c instanceof Coll) {
                return ((Coll) c).lookup(id);
            }
            return null;
        }

        @Override
        public Document handleCommand(Channel channel, String database, String command, Document query) {
            Document reply = dispatch(channel, database, command, query);
            if (replSet != null && reply != null && !reply.containsKey("operationTime")) {
                SluiceEvents.LOG.addClusterTime(reply);
            }
            return reply;
        }

        private static final java.util.Set<String> UPDATE_STAGES = java.util.Set.of("$addFields", "$set", "$project",
            "$unset", "$replaceRoot", "$replaceWith");

        private static boolean isPipelineUpdate(Object statement) {
            return statement instanceof Document && ((Document) statement).get("u") instanceof List;
        }

        /**
         * An update command with pipeline-style statements (u: [...]), which mongo-java-server cannot do:
         * those are computed here and written as replacements (their events carry the field-by-field
         * difference, as MongoDB's do); the other statements go to the library one by one.
         */
        private Document pipelineUpdates(Channel channel, String database, Document query) {
            String coll = String.valueOf(query.get("update"));
            List<?> updates = (List<?>) query.get("updates");
            boolean ordered = !Boolean.FALSE.equals(query.get("ordered"));
            int n = 0;
            int modified = 0;
            List<Document> upserted = new ArrayList<>();
            List<Document> errors = new ArrayList<>();
            for (int i = 0; i < updates.size(); i++) {
                Document st = (Document) updates.get(i);
                try {
                    if (isPipelineUpdate(st)) {
                        int[] r = new int[2];
                        Object id = pipelineUpdate(database, coll, st, r);
                        n += r[0];
                        modified += r[1];
                        if (id != null) {
                            upserted.add(new Document("index", i).append("_id", id));
                        }
                    } else {
                        Document one = new Document("update", coll).append("updates", List.of(st)).append("ordered", true);
                        Document r = super.handleCommand(channel, database, "update", one);
                        n += ((Number) r.getOrDefault("n", 0)).intValue();
                        modified += ((Number) r.getOrDefault("nModified", 0)).intValue();
                        if (r.get("upserted") instanceof List) {
                            for (Object u : (List<?>) r.get("upserted")) {
                                upserted.add(new Document("index", i).append("_id", ((Document) u).get("_id")));
                            }
                        }
                        if (r.get("writeErrors") instanceof List) {
                            for (Object w : (List<?>) r.get("writeErrors")) {
                                Document e = new Document((Document) w);
                                e.put("index", i);
                                errors.add(e);
                            }
                        }
                    }
                } catch (MongoServerError e) {
                    errors.add(new Document("index", i).append("code", e.getCode())
                        .append("codeName", e.getCodeName()).append("errmsg", e.getMessageWithoutErrorCode()));
                }
                if (ordered && !errors.isEmpty()) {
                    break;
                }
            }
            Document reply = new Document("n", n).append("nModified", modified);
            if (!upserted.isEmpty()) {
                reply.put("upserted", upserted);
            }
            if (!errors.isEmpty()) {
                reply.put("writeErrors", errors);
            }
            return reply.append("ok", 1.0);
        }

        /** One pipeline-style statement; r gets {n, nModified}; returns the upserted _id or null. */
        private Object pipelineUpdate(String database, String coll, Document st, int[] r) {
            List<Document> stages = Aggregation.parse(st.get("u"));
            for (Document stage : stages) {
                String name = stage.isEmpty() ? "" : stage.keySet().iterator().next();
                if (!UPDATE_STAGES.contains(name)) {
                    throw new MongoServerError(72, "InvalidOptions", name + " is not allowed to be used within an update");
                }
            }
            Aggregation agg = Aggregation.fromPipeline(SluiceEvents.rewritePipeline(stages), this::resolveDatabase, null, null,
                SluiceEvents.LOG);
            Document selector = st.get("q") instanceof Document ? (Document) st.get("q") : new Document();
            boolean multi = Boolean.TRUE.equals(st.get("multi"));
            boolean upsert = Boolean.TRUE.equals(st.get("upsert"));
            MongoDatabase db = resolveDatabase(database);
            MongoCollection<?> c = db.resolveCollection(coll, false);
            if (c == null) {
                if (!upsert) {
                    return null;
                }
                c = db.createCollectionOrThrowIfExists(coll);
            }
            if (!(c instanceof Coll)) {
                throw new MongoServerError(20, "IllegalOperation", "pipeline-style updates are not supported on " + coll);
            }
            Coll cc = (Coll) c;
            for (Document old : cc.matching(selector, multi ? 0 : 1)) {
                r[0]++;
                Document now = agg.runStages(java.util.stream.Stream.of(old.cloneDeeply())).get(0);
                if (!java.util.Objects.equals(now.get("_id"), old.get("_id"))) {
                    throw new MongoServerError(66, "ImmutableField",
                        "Performing an update on the path '_id' would modify the immutable field '_id'");
                }
                if (now.equals(old)) {
                    continue;
                }
                Document replacement = now.cloneDeeply();
                replacement.remove("_id");
                PIPELINE_UPDATE.set(Boolean.TRUE);
                try {
                    cc.updateDocuments(new Document("_id", old.get("_id")), replacement, ArrayFilters.empty(), false, false,
                        SluiceEvents.LOG);
                } finally {
                    PIPELINE_UPDATE.remove();
                }
                r[1]++;
            }
            if (r[0] == 0 && upsert) {
                Document base = new Document();
                for (var e : selector.entrySet()) {
                    Object v = e.getValue();
                    boolean operator = v instanceof Document && ((Document) v).keySet().stream().anyMatch(k -> k.startsWith("$"));
                    if (!e.getKey().startsWith("$") && !e.getKey().contains(".") && !operator) {
                        base.put(e.getKey(), v);
                    }
                }
                Document doc = agg.runStages(java.util.stream.Stream.of(base)).get(0);
                cc.insertDocuments(List.of(doc), true);
                r[0]++;
                return doc.get("_id");
            }
            return null;
        }

        private Document dispatch(Channel channel, String database, String command, Document query) {
            if (command.equalsIgnoreCase("update") && query.get("updates") instanceof List
                    && ((List<?>) query.get("updates")).stream().anyMatch(Backend::isPipelineUpdate)) {
                return pipelineUpdates(channel, database, query);
            }
            if (command.equalsIgnoreCase("aggregate") && query.get("pipeline") instanceof List) {
                List<Document> pipeline = Aggregation.parse(query.get("pipeline"));
                if (!pipeline.isEmpty() && pipeline.get(0).get("$changeStream") instanceof Document) {
                    return SluiceEvents.LOG.open(database, query.get("aggregate"), query, pipeline,
                        getCursorRegistry().generateCursorId(),
                        stages -> Aggregation.fromPipeline(stages, this::resolveDatabase, null, null, SluiceEvents.LOG));
                }
            }
            if (command.equalsIgnoreCase("getMore") && query.get(command) instanceof Number) {
                long id = ((Number) query.get(command)).longValue();
                if (SluiceEvents.LOG.owns(id)) {
                    return SluiceEvents.LOG.getMore(id, query);
                }
            }
            if (command.equalsIgnoreCase("killCursors") && query.get("cursors") instanceof List) {
                List<Long> mine = new ArrayList<>();
                List<Long> theirs = new ArrayList<>();
                for (Object o : (List<?>) query.get("cursors")) {
                    long id = ((Number) o).longValue();
                    (SluiceEvents.LOG.kill(id) ? mine : theirs).add(id);
                }
                Document reply = super.handleCommand(channel, database, command, new Document(command, query.get(command))
                    .append("cursors", theirs));
                @SuppressWarnings("unchecked")
                List<Object> killed = (List<Object>) reply.get("cursorsKilled");
                killed.addAll(0, mine);
                return reply;
            }
            if (command.equalsIgnoreCase("renameCollection") && database.equals("admin")) {
                String from = String.valueOf(query.get(command));
                String to = String.valueOf(query.get("to"));
                Document reply = super.handleCommand(channel, database, command, query);
                if (!from.equals(to)) {
                    int f = from.indexOf('.');
                    int t = to.indexOf('.');
                    SluiceEvents.LOG.recordRename(from.substring(0, f), from.substring(f + 1), to.substring(0, t),
                        to.substring(t + 1));
                }
                return reply;
            }
            if (command.equalsIgnoreCase("dropDatabase")) {
                boolean existed = databaseExists(database);
                Document reply = super.handleCommand(channel, database, command, query);
                if (existed) {
                    SluiceEvents.LOG.recordDropDatabase(database);
                }
                return reply;
            }
            if (command.equalsIgnoreCase("collMod")) {
                String coll = String.valueOf(query.get(command));
                if (existingCollection(database, coll) == null) {
                    throw new MongoServerError(26, "NamespaceNotFound", "ns does not exist: " + database + "." + coll);
                }
                Object images = query.get("changeStreamPreAndPostImages");
                if (images instanceof Document) {
                    SluiceEvents.LOG.setPreImages(database, coll, Boolean.TRUE.equals(((Document) images).get("enabled")));
                }
                return new Document("ok", 1.0);
            }
            if (command.equalsIgnoreCase("create") && query.containsKey("changeStreamPreAndPostImages")) {
                Document q = new Document(query);
                Object images = q.remove("changeStreamPreAndPostImages");
                Document reply = super.handleCommand(channel, database, command, q);
                if (images instanceof Document) {
                    SluiceEvents.LOG.setPreImages(database, String.valueOf(query.get(command)),
                        Boolean.TRUE.equals(((Document) images).get("enabled")));
                }
                return reply;
            }
            if (command.equalsIgnoreCase("sluiceTrimOplog") && database.equals("admin")) {
                int removed;
                if (query.get("ns") instanceof String && ((String) query.get("ns")).indexOf('.') > 0) {
                    String ns = (String) query.get("ns");
                    removed = SluiceEvents.LOG.trimNamespace(ns.substring(0, ns.indexOf('.')), ns.substring(ns.indexOf('.') + 1));
                } else {
                    int keep = query.get("keep") instanceof Number ? ((Number) query.get("keep")).intValue() : 0;
                    removed = SluiceEvents.LOG.trimTo(keep);
                }
                return new Document("removed", removed).append("remaining", SluiceEvents.LOG.size()).append("ok", 1.0);
            }
            if (command.equalsIgnoreCase("listCollections")) {
                Document reply = super.handleCommand(channel, database, command, query);
                Object cursor = reply.get("cursor");
                if (cursor instanceof Document && ((Document) cursor).get("firstBatch") instanceof List) {
                    for (Object o : (List<?>) ((Document) cursor).get("firstBatch")) {
                        Document c = (Document) o;
                        if (SluiceEvents.LOG.preImagesEnabled(database, String.valueOf(c.get("name")))
                                && c.get("options") instanceof Document) {
                            ((Document) c.get("options")).put("changeStreamPreAndPostImages", new Document("enabled", true));
                        }
                    }
                }
                return reply;
            }
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
        Backend backend = new Backend(replSet, me);
        // SluiceEvents replaces the library's oplog (local.oplog.rs): it
        // records the writes; change streams are cursors over it.
        backend.enableOplog();
        // MongoServer.bind's netty setup, with Handler in place of MongoDatabaseHandler.
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, new MongoThreadFactory("mongo-server-boss"),
            NioIoHandler.newFactory());
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(0, new MongoThreadFactory("mongo-server-worker"),
            NioIoHandler.newFactory());
        ExecutorService waits = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "sluice-getmore");
            t.setDaemon(true);
            return t;
        });
        ChannelGroup channels = new DefaultChannelGroup("mongodb-channels", workers.next());
        Channel listener;
        try {
            listener = new ServerBootstrap()
                .group(boss, workers)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 100)
                .localAddress(new InetSocketAddress(host, port))
                .childOption(ChannelOption.TCP_NODELAY, Boolean.TRUE)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    public void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new MongoWireReplyEncoder());
                        ch.pipeline().addLast(new MongoWireMessageEncoder());
                        ch.pipeline().addLast(new MongoWireProtocolHandler());
                        ch.pipeline().addLast(new Handler(backend, channels, waits));
                        ch.pipeline().addLast(new MongoExceptionHandler());
                    }
                })
                .bind().syncUninterruptibly().channel();
        } catch (Exception e) { // netty rethrows the checked BindException unchecked
            // Exit instead of dying in main: netty's threads would keep the JVM up.
            Throwable cause = e;
            while (cause.getCause() != null) {
                cause = cause.getCause();
            }
            System.err.printf("SluiceMongo: ERROR cannot listen on %s: %s%n", me, cause);
            System.exit(1);
            return;
        }
        Channel bound = listener;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.err.println("SluiceMongo: shutting down");
            bound.close().syncUninterruptibly();
            channels.close().syncUninterruptibly();
            waits.shutdownNow();
            boss.shutdownGracefully(0, 2, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 2, TimeUnit.SECONDS);
            backend.close();
        }, "sluice-mongo-shutdown"));

        String version = libraryVersion();
        System.err.printf("SluiceMongo: mongo-java-server %s (memory backend, MongoDB-shaped change streams) listening on %s, %s%n",
            version == null ? "(unknown version)" : version, me,
            replSet == null ? "standalone" : "replica set " + replSet + " (one member, primary)");
    }
}
