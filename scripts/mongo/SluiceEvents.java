/*
 * SluiceEvents - MongoDB-shaped change streams for the test server (SluiceMongo).
 *
 * mongo-java-server's own change streams deviate a lot from MongoDB's (see
 * README.md).  This file replaces them: the collections of the backend
 * (SluiceMongo.Coll) report every document write here with the document
 * before and after, the backend reports drops, renames and dropDatabase, and
 * this class keeps its own in-memory oplog of those writes and serves the
 * $changeStream aggregations (collection, database and cluster level) and
 * their getMores from it.
 *
 * Event shapes follow https://www.mongodb.com/docs/manual/reference/change-events/
 * (insert, update with updateDescription, replace, delete, drop, rename,
 * dropDatabase, invalidate; ns, documentKey, clusterTime, wallTime,
 * fullDocument, fullDocumentBeforeChange).
 *
 * Resume tokens are {_data: hex} where hex is
 *   "82" + 16 hex digits of the cluster time + 2 hex digits of the kind
 *   (00 event, 01 invalidate, 02 high-water mark) + 8 hex digits of a hash of
 *   the namespace; clients must treat them as opaque.
 *
 * The oplog can be trimmed (error 286 for a resume point before what is
 * left): -Dsluice.mongo.oplogMaxEntries=N keeps at most N entries; the
 * test-only admin command {sluiceTrimOplog: 1, keep: N} drops all but the
 * last N entries (default 0) at once, and {sluiceTrimOplog: 1, ns: "db.coll"}
 * forgets only that collection's history up to now (collection streams on it
 * get 286 for older resume points; other streams are not affected), which is
 * what tests on a shared server should use.
 */
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import de.bwaldvogel.mongo.backend.Cursor;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.bson.BinData;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import de.bwaldvogel.mongo.oplog.Oplog;

final class SluiceEvents implements Oplog {

    /** The one event log of the process (collections are created before any field of the backend is set). */
    static final SluiceEvents LOG = new SluiceEvents();

    /** The update statement being applied on this thread (update or findAndModify), or null. */
    static final ThreadLocal<Document> UPDATE_SPEC = new ThreadLocal<>();

    static final int KIND_EVENT = 0;
    static final int KIND_INVALIDATE = 1;
    static final int KIND_HWM = 2;

    private static final Object MISSING = new Object();
    private static final Pattern TOKEN = Pattern.compile("82[0-9A-Fa-f]{26}");
    private static final Set<String> INTERNAL_DBS = Set.of("admin", "local", "config");
    private static final Set<String> ALLOWED_STAGES = Set.of("$match", "$project", "$addFields", "$set", "$unset",
        "$replaceRoot", "$replaceWith", "$redact");
    private static final Set<String> SPEC_FIELDS = Set.of("resumeAfter", "startAfter", "startAtOperationTime",
        "fullDocument", "fullDocumentBeforeChange", "allChangesForCluster", "showExpandedEvents",
        "allowToRunOnConfigDB", "allowToRunOnSystemNS", "showSystemEvents", "showRawUpdateDescription");
    private static final long IDLE_CURSOR_MS = 10 * 60 * 1000L;
    /** Oplog entries copied out per look (the lock is not held while they are turned into events). */
    private static final int SCAN_CHUNK = 4096;
    /** Batches stop growing at about this size (a reply must stay under 16 MiB of BSON). */
    private static final long MAX_BATCH_BYTES = 8L << 20;

    /** One write. */
    static final class Entry {
        final long ts;
        final Instant wall;
        final String op; // insert update replace delete drop rename dropDatabase
        final String db;
        final String coll; // null for dropDatabase
        String toDb;
        String toColl;
        Object id;
        Document doc; // insert, replace: the new document
        Document desc; // update: updateDescription
        Document pre; // update, replace, delete: pre-image (pre-images enabled only)
        Document post; // update: post-image (pre-images enabled only)

        Entry(long ts, Instant wall, String op, String db, String coll) {
            this.ts = ts;
            this.wall = wall;
            this.op = op;
            this.db = db;
            this.coll = coll;
        }
    }

    private final ArrayList<Entry> entries = new ArrayList<>();
    private long lastTs;
    /** Resume points at or before this are gone (server start, trimmed entries). */
    private long lostUpTo;
    private final int maxEntries;
    private final Map<String, Long> nsLost = new HashMap<>();
    private final Set<String> preImages = ConcurrentHashMap.newKeySet();
    private final Map<Long, Stream_> cursors = new ConcurrentHashMap<>();
    private DocLookup lookup;

    interface DocLookup {
        /** The current document with that _id in db.coll, or null. */
        Document find(String db, String coll, Object id);
    }

    private SluiceEvents() {
        long now = Instant.now().getEpochSecond();
        lastTs = now << 32;
        lostUpTo = now << 32;
        maxEntries = Integer.getInteger("sluice.mongo.oplogMaxEntries", 0);
    }

    void setLookup(DocLookup lookup) {
        this.lookup = lookup;
    }

    // ------------------------------------------------------------------------------------------ clock

    private long nextTs() {
        long sec = Instant.now().getEpochSecond();
        long prevSec = lastTs >>> 32;
        if (sec > prevSec) {
            lastTs = (sec << 32) | 1;
        } else {
            lastTs = lastTs + 1;
        }
        return lastTs;
    }

    synchronized BsonTimestamp clusterTime() {
        return new BsonTimestamp(lastTs);
    }

    /** operationTime and $clusterTime, as a replica-set member puts them into every reply. */
    void addClusterTime(Document reply) {
        BsonTimestamp t = clusterTime();
        reply.put("operationTime", t);
        reply.put("$clusterTime", new Document("clusterTime", t)
            .append("signature", new Document("hash", new BinData(new byte[20])).append("keyId", 0L)));
    }

    // ------------------------------------------------------------------------------------------ recording

    static boolean ignored(String db, String coll) {
        return db == null || INTERNAL_DBS.contains(db) || (coll != null && (coll.startsWith("system.") || coll.contains("$")));
    }

    private synchronized Entry append(String op, String db, String coll) {
        Entry e = new Entry(nextTs(), Instant.now(), op, db, coll);
        entries.add(e);
        if (maxEntries > 0 && entries.size() > maxEntries) {
            trimTo(maxEntries);
        }
        notifyAll();
        return e;
    }

    synchronized int trimTo(int keep) {
        int n = Math.max(0, entries.size() - Math.max(0, keep));
        if (n > 0) {
            lostUpTo = Math.max(lostUpTo, entries.get(n - 1).ts);
            entries.subList(0, n).clear();
        }
        return n;
    }

    /** Resume points at or before this are gone for a collection stream on db.coll. */
    private long lostFor(String db, String coll) {
        Long ns = db == null || coll == null ? null : nsLost.get(db + "." + coll);
        return ns == null ? lostUpTo : Math.max(lostUpTo, ns);
    }

    /**
     * Test-only: forget the history of one collection up to now (its entries go, and
     * collection streams on it cannot resume from before now), leaving other streams alone.
     */
    synchronized int trimNamespace(String db, String coll) {
        long upTo = lastTs;
        int before = entries.size();
        entries.removeIf(e -> e.ts <= upTo && ((db.equals(e.db) && coll.equals(e.coll))
            || (db.equals(e.toDb) && coll.equals(e.toColl))));
        nsLost.merge(db + "." + coll, upTo, Math::max);
        return before - entries.size();
    }

    synchronized int size() {
        return entries.size();
    }

    void recordInsert(String db, String coll, Document doc) {
        if (ignored(db, coll)) {
            return;
        }
        Document copy = doc.cloneDeeply();
        synchronized (this) {
            Entry e = append("insert", db, coll);
            e.id = copy.get("_id");
            e.doc = copy;
        }
    }

    void recordDelete(String db, String coll, Document old) {
        if (ignored(db, coll) || old == null) {
            return;
        }
        boolean images = preImages.contains(db + "." + coll);
        Document copy = old.cloneDeeply();
        synchronized (this) {
            Entry e = append("delete", db, coll);
            e.id = copy.get("_id");
            if (images) {
                e.pre = copy;
            }
        }
    }

    void recordUpdate(String db, String coll, Document before, Document after, Document spec) {
        if (ignored(db, coll)) {
            return;
        }
        boolean images = preImages.contains(db + "." + coll);
        boolean replace = spec != null && spec.keySet().stream().noneMatch(k -> k.startsWith("$"));
        Document pre = before.cloneDeeply();
        Document post = after.cloneDeeply();
        Document desc = replace ? null : updateDescription(spec, pre, post);
        synchronized (this) {
            Entry e = append(replace ? "replace" : "update", db, coll);
            e.id = post.get("_id");
            if (replace) {
                e.doc = post;
            } else {
                e.desc = desc;
                if (images) {
                    e.post = post;
                }
            }
            if (images) {
                e.pre = pre;
            }
        }
    }

    void recordRename(String fromDb, String fromColl, String toDb, String toColl) {
        String from = fromDb + "." + fromColl;
        String to = toDb + "." + toColl;
        if (preImages.remove(from)) {
            preImages.add(to);
        }
        if (ignored(fromDb, fromColl) && ignored(toDb, toColl)) {
            return;
        }
        synchronized (this) {
            Entry e = append("rename", fromDb, fromColl);
            e.toDb = toDb;
            e.toColl = toColl;
        }
    }

    void recordDropDatabase(String db) {
        if (!ignored(db, null)) {
            append("dropDatabase", db, null);
        }
    }

    void setPreImages(String db, String coll, boolean enabled) {
        if (enabled) {
            preImages.add(db + "." + coll);
        } else {
            preImages.remove(db + "." + coll);
        }
    }

    boolean preImagesEnabled(String db, String coll) {
        return preImages.contains(db + "." + coll);
    }

    // The Oplog interface: only drops are taken from here; document writes come from the collections.

    @Override
    public void handleInsert(String namespace, List<Document> documents) {
    }

    @Override
    public void handleUpdate(String namespace, Document selector, Document query, List<Object> modifiedIds) {
    }

    @Override
    public void handleDelete(String namespace, Document query, List<Object> deletedIds) {
    }

    @Override
    public void handleDropCollection(String namespace) {
        int dot = namespace.indexOf('.');
        String db = namespace.substring(0, dot);
        String coll = namespace.substring(dot + 1);
        preImages.remove(namespace);
        if (!ignored(db, coll)) {
            append("drop", db, coll);
        }
    }

    @Override
    public Cursor createCursor(Document changeStreamDocument, String namespace, Aggregation aggregation) {
        throw new MongoServerError(20, "IllegalOperation", "$changeStream is only supported as the first stage of an aggregate");
    }

    // ------------------------------------------------------------------------------------------ updateDescription

    private static Object getPath(Object doc, String path) {
        Object cur = doc;
        for (String part : path.split("\\.", -1)) {
            if (cur instanceof Document) {
                Document d = (Document) cur;
                if (!d.containsKey(part)) {
                    return MISSING;
                }
                cur = d.get(part);
            } else if (cur instanceof List) {
                List<?> l = (List<?>) cur;
                int i;
                try {
                    i = Integer.parseInt(part);
                } catch (NumberFormatException e) {
                    return MISSING;
                }
                if (i < 0 || i >= l.size()) {
                    return MISSING;
                }
                cur = l.get(i);
            } else {
                return MISSING;
            }
        }
        return cur;
    }

    private static final class Desc {
        final Document updated = new Document();
        final Set<String> removed = new LinkedHashSet<>();
        final List<Document> truncated = new ArrayList<>();

        Document toDocument() {
            return new Document("updatedFields", updated)
                .append("removedFields", new ArrayList<>(removed))
                .append("truncatedArrays", truncated);
        }
    }

    /**
     * What MongoDB (5.0+) reports for an operator update: per path of the update spec, its new value; a new
     * field from its first new component on; elements appended to an array as a.N; the fields changed
     * through a positional path ($, $[], $[x]) one by one.
     */
    static Document updateDescription(Document spec, Document before, Document after) {
        Desc d = new Desc();
        if (spec == null || spec.isEmpty()) {
            diff(d, "", before, after);
            return d.toDocument();
        }
        Set<String> paths = new LinkedHashSet<>();
        for (Map.Entry<String, Object> op : spec.entrySet()) {
            if (!(op.getValue() instanceof Document)) {
                continue;
            }
            for (Map.Entry<String, Object> arg : ((Document) op.getValue()).entrySet()) {
                paths.add(arg.getKey());
                if (op.getKey().equals("$rename") && arg.getValue() instanceof String) {
                    paths.add((String) arg.getValue());
                }
            }
        }
        Set<String> done = new LinkedHashSet<>();
        for (String p : paths) {
            String[] parts = p.split("\\.");
            int dollar = -1;
            for (int i = 0; i < parts.length; i++) {
                if (parts[i].startsWith("$")) {
                    dollar = i;
                    break;
                }
            }
            if (dollar >= 0) {
                // positional ($, $[], $[x]): whatever changed below the array
                String prefix = String.join(".", java.util.Arrays.copyOfRange(parts, 0, dollar));
                if (done.add(prefix)) {
                    Object b = getPath(before, prefix);
                    Object a = getPath(after, prefix);
                    if (a == MISSING) {
                        if (b != MISSING) {
                            d.removed.add(prefix);
                        }
                    } else if (!Objects.equals(a, b)) {
                        if (b == MISSING) {
                            d.updated.put(prefix, a);
                        } else {
                            diff(d, prefix, b, a);
                        }
                    }
                }
                continue;
            }
            if (!done.add(p)) {
                continue;
            }
            Object b = getPath(before, p);
            Object a = getPath(after, p);
            if (a == MISSING) {
                if (b != MISSING) {
                    d.removed.add(p);
                }
            } else if (Objects.equals(a, b)) {
                // unchanged
            } else if (a instanceof List && b instanceof List) {
                List<?> al = (List<?>) a;
                List<?> bl = (List<?>) b;
                if (al.size() > bl.size() && al.subList(0, bl.size()).equals(bl)) {
                    // appended ($push, $addToSet): the new elements, by index
                    for (int i = bl.size(); i < al.size(); i++) {
                        d.updated.put(p + "." + i, al.get(i));
                    }
                } else {
                    // any other array operator ($pop, $pull...): the whole array (truncatedArrays only
                    // come from pipeline-style updates)
                    d.updated.put(p, a);
                }
            } else if (b == MISSING) {
                // a new field: from its first new path component on, whole ({"a.b": 1} without a: {"a": {"b": 1}})
                String created = p;
                for (int i = 1; i < parts.length; i++) {
                    String prefix = String.join(".", java.util.Arrays.copyOfRange(parts, 0, i));
                    if (getPath(before, prefix) == MISSING) {
                        created = prefix;
                        break;
                    }
                }
                if (done.add("\u0000" + created) || created.equals(p)) {
                    d.updated.put(created, getPath(after, created));
                }
            } else {
                d.updated.put(p, a);
            }
        }
        return d.toDocument();
    }

    /** A field-by-field difference (pipeline-style), for writes whose update spec is unknown. */
    private static void diff(Desc d, String prefix, Object b, Object a) {
        String pre = prefix.isEmpty() ? "" : prefix + ".";
        if (a instanceof Document && b instanceof Document) {
            Document bd = (Document) b;
            Document ad = (Document) a;
            for (String k : bd.keySet()) {
                if (!ad.containsKey(k)) {
                    d.removed.add(pre + k);
                }
            }
            for (Map.Entry<String, Object> e : ad.entrySet()) {
                String k = e.getKey();
                if (!bd.containsKey(k)) {
                    d.updated.put(pre + k, e.getValue());
                } else if (!Objects.equals(bd.get(k), e.getValue())) {
                    diff(d, pre + k, bd.get(k), e.getValue());
                }
            }
        } else if (a instanceof List && b instanceof List && !prefix.isEmpty()) {
            List<?> al = (List<?>) a;
            List<?> bl = (List<?>) b;
            for (int i = 0; i < al.size(); i++) {
                if (i >= bl.size()) {
                    d.updated.put(pre + i, al.get(i));
                } else if (!Objects.equals(al.get(i), bl.get(i))) {
                    diff(d, pre + i, bl.get(i), al.get(i));
                }
            }
            if (al.size() < bl.size()) {
                d.truncated.add(new Document("field", prefix).append("newSize", al.size()));
            }
        } else {
            d.updated.put(prefix, a);
        }
    }

    // ------------------------------------------------------------------------------------------ tokens

    private static int nsHash(String db, String coll) {
        return (db + "." + (coll == null ? "" : coll)).hashCode();
    }

    static Document token(long ts, int kind, int hash) {
        return new Document("_data", String.format("82%016X%02X%08X", ts, kind, hash));
    }

    private static final class Token {
        final long ts;
        final int kind;

        Token(long ts, int kind) {
            this.ts = ts;
            this.kind = kind;
        }
    }

    /** The cluster time in one of our tokens. */
    static long tokenTs(Document token) {
        return Long.parseUnsignedLong(((String) token.get("_data")).substring(2, 18), 16);
    }

    private static MongoServerError invalidToken(String why) {
        return new MongoServerError(260, "InvalidResumeToken", why);
    }

    private static Token parseToken(String option, Object v) {
        if (!(v instanceof Document)) {
            throw new MongoServerError(14, "TypeMismatch", "BSON field '$changeStream." + option + "' is the wrong type '"
                + (v == null ? "null" : v.getClass().getSimpleName()) + "', expected type 'object'");
        }
        Document d = (Document) v;
        Object data = d.get("_data");
        if (d.size() != 1 || !(data instanceof String)) {
            throw invalidToken("Bad resume token: _data of missing or of wrong type. Expected string, got " + d.toString(true));
        }
        String s = (String) data;
        if (!TOKEN.matcher(s).matches()) {
            throw invalidToken("Failed to decode resume token: KeyString format error: " + s);
        }
        byte[] b = HexFormat.of().parseHex(s.substring(2));
        long ts = 0;
        for (int i = 0; i < 8; i++) {
            ts = (ts << 8) | (b[i] & 0xff);
        }
        int kind = b[8] & 0xff;
        if (kind > KIND_HWM) {
            throw invalidToken("Failed to decode resume token: unknown token type " + kind);
        }
        return new Token(ts, kind);
    }

    private static MongoServerError historyLost() {
        return new MongoServerError(286, "ChangeStreamHistoryLost",
            "Resume of change stream was not possible, as the resume point may no longer be in the oplog.");
    }

    // ------------------------------------------------------------------------------------------ streams

    /** One open change stream cursor. */
    final class Stream_ {
        final long id;
        final String db; // null: whole cluster
        final String coll; // null: database or cluster
        final String ns; // of the cursor replies
        final String fullDocument;
        final String beforeChange;
        final Aggregation pipeline;
        long afterTs; // scan entries with ts > afterTs (or >= pendingTs when resuming)
        Token resume; // scan from resume.ts, skipping events up to it
        boolean mustSeeToken; // the resumed-from event must come by (MongoDB's token check)
        Document resumeToken; // as the client gave it
        String resumeText = "";
        boolean closed;
        long lastUsed = System.currentTimeMillis();
        Document pbrt;
        boolean pbrtIsEvent;
        long pbrtTs;

        Stream_(long id, String db, String coll, String ns, String fullDocument, String beforeChange, Aggregation pipeline) {
            this.id = id;
            this.db = db;
            this.coll = coll;
            this.ns = ns;
            this.fullDocument = fullDocument;
            this.beforeChange = beforeChange;
            this.pipeline = pipeline;
        }

        private Document base(Entry e, String op, int kind) {
            Document d = new Document("_id", token(e.ts, kind, nsHash(e.db, e.coll)));
            d.put("operationType", op);
            d.put("clusterTime", new BsonTimestamp(e.ts));
            d.put("wallTime", e.wall);
            return d;
        }

        private Document ns(Entry e) {
            Document n = new Document("db", e.db);
            if (e.coll != null) {
                n.put("coll", e.coll);
            }
            return n;
        }

        private Document invalidate(Entry e) {
            return base(e, "invalidate", KIND_INVALIDATE);
        }

        private boolean sees(String edb, String ecoll) {
            if (db == null) {
                return true;
            }
            if (!db.equals(edb)) {
                return false;
            }
            return coll == null || coll.equals(ecoll);
        }

        private Object preImage(Entry e) {
            if (e.pre != null) {
                return e.pre.cloneDeeply();
            }
            if (beforeChange.equals("required")) {
                throw new MongoServerError(47, "NoMatchingDocument",
                    "Change stream was configured to require a pre-image for all update, delete and replace events, "
                        + "but the pre-image was not found for event: " + base(e, e.op, KIND_EVENT).toString(true));
            }
            return null;
        }

        /** The events an entry gives this stream (before the user's pipeline). */
        List<Document> expand(Entry e) {
            List<Document> out = new ArrayList<>(2);
            switch (e.op) {
                case "insert":
                case "update":
                case "replace":
                case "delete": {
                    if (!sees(e.db, e.coll)) {
                        break;
                    }
                    Document d = base(e, e.op, KIND_EVENT);
                    if (e.op.equals("insert") || e.op.equals("replace")) {
                        d.put("fullDocument", e.doc.cloneDeeply());
                    }
                    d.put("ns", ns(e));
                    d.put("documentKey", new Document("_id", e.id));
                    if (e.op.equals("update")) {
                        d.put("updateDescription", e.desc.cloneDeeply());
                        switch (fullDocument) {
                            case "updateLookup":
                                Document cur = lookup == null ? null : lookup.find(e.db, e.coll, e.id);
                                d.put("fullDocument", cur);
                                break;
                            case "whenAvailable":
                                d.put("fullDocument", e.post == null ? null : e.post.cloneDeeply());
                                break;
                            case "required":
                                if (e.post == null) {
                                    throw new MongoServerError(47, "NoMatchingDocument",
                                        "Change stream was configured to require a post-image for all update, delete and "
                                            + "replace events, but the post-image was not found for event: "
                                            + base(e, e.op, KIND_EVENT).toString(true));
                                }
                                d.put("fullDocument", e.post.cloneDeeply());
                                break;
                            default:
                                break;
                        }
                    }
                    if (!e.op.equals("insert") && !beforeChange.equals("off")) {
                        d.put("fullDocumentBeforeChange", preImage(e));
                    }
                    out.add(d);
                    break;
                }
                case "drop": {
                    if (!sees(e.db, e.coll)) {
                        break;
                    }
                    Document d = base(e, "drop", KIND_EVENT);
                    d.put("ns", ns(e));
                    out.add(d);
                    if (coll != null) {
                        out.add(invalidate(e));
                    }
                    break;
                }
                case "rename": {
                    boolean from = sees(e.db, e.coll);
                    boolean to = sees(e.toDb, e.toColl);
                    if (!from && !to) {
                        break;
                    }
                    Document d = base(e, "rename", KIND_EVENT);
                    d.put("ns", ns(e));
                    d.put("to", new Document("db", e.toDb).append("coll", e.toColl));
                    out.add(d);
                    if (coll != null) {
                        out.add(invalidate(e));
                    }
                    break;
                }
                case "dropDatabase": {
                    if (db != null && !db.equals(e.db)) {
                        break;
                    }
                    if (coll == null) {
                        Document d = base(e, "dropDatabase", KIND_EVENT);
                        d.put("ns", ns(e));
                        out.add(d);
                    }
                    if (db != null) {
                        out.add(invalidate(e));
                    }
                    break;
                }
                default:
                    break;
            }
            return out;
        }

        /** Up to max events (an entry's events are never split across batches); advances the stream. */
        List<Document> next(int max) {
            lastUsed = System.currentTimeMillis();
            List<Document> batch = new ArrayList<>();
            if (closed) {
                return batch;
            }
            Document lastToken = null;
            boolean endedOnEvent = false;
            long bytes = 0;
            boolean full = false;
            while (true) {
                List<Entry> snapshot;
                long endTs;
                boolean atEnd;
                synchronized (SluiceEvents.this) {
                    long from = resume != null ? resume.ts - 1 : afterTs;
                    if (from < lostFor(db, coll)) {
                        throw historyLost();
                    }
                    int i = firstAfter(from);
                    int j = Math.min(entries.size(), i + SCAN_CHUNK);
                    snapshot = new ArrayList<>(entries.subList(i, j));
                    atEnd = j == entries.size();
                    endTs = atEnd ? lastTs : entries.get(j - 1).ts;
                }
                int scanned = 0;
                for (Entry e : snapshot) {
                    if ((max > 0 && batch.size() >= max) || bytes >= MAX_BATCH_BYTES) {
                        full = true;
                        break;
                    }
                    scanned++;
                    endedOnEvent = false;
                    for (Document ev : expand(e)) {
                        Document tok = (Document) ev.get("_id");
                        int kind = ev.get("operationType").equals("invalidate") ? KIND_INVALIDATE : KIND_EVENT;
                        if (resume != null && e.ts == resume.ts && kind <= resume.kind) {
                            if (kind == KIND_EVENT && resume.kind == KIND_EVENT && passes(ev)) {
                                mustSeeToken = false;
                            }
                            continue;
                        }
                        List<Document> outs = apply(ev);
                        if (outs.isEmpty()) {
                            continue;
                        }
                        if (mustSeeToken) {
                            closed = true;
                            throw new MongoServerError(280, "ChangeStreamFatalError",
                                "cannot resume stream; the resume token was not found. " + resumeText);
                        }
                        for (Document o : outs) {
                            batch.add(o);
                            bytes += approxSize(o);
                        }
                        lastToken = tok;
                        endedOnEvent = true;
                        if (kind == KIND_INVALIDATE) {
                            closed = true;
                        }
                    }
                    afterTs = e.ts;
                    resume = null;
                    if (closed) {
                        break;
                    }
                }
                if (!closed && !full && scanned == snapshot.size() && resume == null) {
                    // everything up to endTs has been seen
                    afterTs = Math.max(afterTs, endTs);
                }
                if (closed || full || atEnd || resume != null) {
                    break;
                }
            }
            // postBatchResumeToken: the last event's token when the scan stopped right after it, else a
            // high-water mark at the cluster time up to which the oplog has been scanned.
            if (closed || endedOnEvent) {
                pbrt = lastToken;
            } else if (resume != null) {
                pbrt = resumeToken; // its entry is not in the oplog yet
            } else {
                // a high-water mark at t sorts before an event at t: the last event's token stays the
                // stream's position until the oplog moves past it
                if (!(pbrtIsEvent && pbrtTs >= afterTs)) {
                    pbrt = token(afterTs, KIND_HWM, 0);
                }
            }
            pbrtIsEvent = closed || endedOnEvent || (pbrtIsEvent && pbrtTs >= afterTs && resume == null);
            if (pbrtIsEvent && lastToken != null) {
                pbrtTs = tokenTs(lastToken);
            }
            return batch;
        }

        private boolean passes(Document ev) {
            return !apply(ev).isEmpty();
        }

        private List<Document> apply(Document ev) {
            if (pipeline == null) {
                return List.of(ev);
            }
            Object id = ev.get("_id");
            List<Document> outs = pipeline.runStagesAsStream(Stream.of(ev)).collect(Collectors.toList());
            for (Document o : outs) {
                if (!Objects.equals(o.get("_id"), id)) {
                    closed = true;
                    throw new MongoServerError(280, "ChangeStreamFatalError",
                        "Encountered an event whose _id field, which contains the resume token, was modified by the "
                            + "pipeline. Modifying the _id field of an event makes it impossible to resume the stream from "
                            + "that point. Only transformations that retain the unmodified _id field are allowed.");
                }
            }
            return outs;
        }
    }

    /** A rough BSON size. */
    static long approxSize(Object v) {
        if (v instanceof Document) {
            long n = 5;
            for (Map.Entry<String, Object> e : ((Document) v).entrySet()) {
                n += 2 + e.getKey().length() + approxSize(e.getValue());
            }
            return n;
        }
        if (v instanceof List) {
            long n = 5;
            int i = 0;
            for (Object o : (List<?>) v) {
                n += 2 + Integer.toString(i++).length() + approxSize(o);
            }
            return n;
        }
        if (v instanceof String) {
            return 5 + 3L * ((String) v).length();
        }
        if (v instanceof byte[]) {
            return 5 + ((byte[]) v).length;
        }
        if (v instanceof de.bwaldvogel.mongo.bson.BinData) {
            return 5 + ((de.bwaldvogel.mongo.bson.BinData) v).getData().length;
        }
        return 16;
    }

    /** Index of the first entry with ts > t. */
    private int firstAfter(long t) {
        int lo = 0;
        int hi = entries.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (entries.get(mid).ts <= t) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    private static String option(Document spec, String name, String dflt, Set<String> allowed) {
        Object v = spec.get(name);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof String) || !allowed.contains(v)) {
            throw new MongoServerError(2, "BadValue", "'" + v + "' is not a valid value for $changeStream." + name);
        }
        return (String) v;
    }

    /**
     * {"a.b": x} as {"a": {"b": x}}: mongo-java-server's $addFields makes a field named "a.b" of a dotted
     * name, and merges an embedded document into the existing one, which is what MongoDB does for "a.b".
     */
    static Document nestDottedFields(Document spec) {
        if (spec.keySet().stream().noneMatch(k -> k.contains("."))) {
            return spec;
        }
        Document out = new Document();
        for (Map.Entry<String, Object> e : spec.entrySet()) {
            String[] parts = e.getKey().split("\\.");
            Document cur = out;
            for (int i = 0; i < parts.length - 1; i++) {
                Object next = cur.get(parts[i]);
                if (!(next instanceof Document)) {
                    next = new Document();
                    cur.put(parts[i], next);
                }
                cur = (Document) next;
            }
            cur.put(parts[parts.length - 1], e.getValue());
        }
        return out;
    }

    static List<Document> rewritePipeline(List<Document> stages) {
        List<Document> out = new ArrayList<>();
        for (Document stage : stages) {
            if (stage.size() != 1) {
                throw new MongoServerError(40323, "Location40323",
                    "A pipeline stage specification object must contain exactly one field.");
            }
            String name = stage.keySet().iterator().next();
            Object arg = stage.get(name);
            if (!ALLOWED_STAGES.contains(name)) {
                throw new MongoServerError(20, "IllegalOperation",
                    name + " is not permitted in a $changeStream pipeline");
            }
            if (name.equals("$set") || name.equals("$addFields")) {
                out.add(new Document("$addFields", arg instanceof Document ? nestDottedFields((Document) arg) : arg));
            } else if (name.equals("$replaceWith")) {
                out.add(new Document("$replaceRoot", new Document("newRoot", arg)));
            } else {
                out.add(stage);
            }
        }
        return out;
    }

    /**
     * aggregate with a $changeStream first stage.  db: the command's database;
     * target: the aggregate field (a collection name or 1).
     */
    Document open(String db, Object target, Document query, List<Document> pipeline,
                  long cursorId, Function<List<Document>, Aggregation> compile) {
        Document spec = (Document) pipeline.get(0).get("$changeStream");
        for (String k : spec.keySet()) {
            if (!SPEC_FIELDS.contains(k)) {
                throw new MongoServerError(40415, "Location40415", "BSON field '$changeStream." + k + "' is an unknown field.");
            }
        }
        boolean cluster = Boolean.TRUE.equals(spec.get("allChangesForCluster"));
        String sdb;
        String scoll;
        String ns;
        if (target instanceof String) {
            if (cluster) {
                throw new MongoServerError(73, "InvalidNamespace",
                    "A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, and with no collection name");
            }
            sdb = db;
            scoll = (String) target;
            ns = db + "." + scoll;
            if (ignored(sdb, scoll)) {
                throw new MongoServerError(73, "InvalidNamespace", "$changeStream may not be opened on the internal " + ns + " collection");
            }
        } else if (target instanceof Number && ((Number) target).intValue() == 1) {
            ns = db + ".$cmd.aggregate";
            if (db.equals("admin")) {
                if (!cluster) {
                    throw new MongoServerError(73, "InvalidNamespace",
                        "$changeStream may not be opened on the internal admin database");
                }
                sdb = null;
            } else {
                if (cluster) {
                    throw new MongoServerError(73, "InvalidNamespace",
                        "A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, and with no collection name");
                }
                if (INTERNAL_DBS.contains(db)) {
                    throw new MongoServerError(73, "InvalidNamespace", "$changeStream may not be opened on the internal " + db + " database");
                }
                sdb = db;
            }
            scoll = null;
        } else {
            throw new MongoServerError(73, "InvalidNamespace", "Invalid aggregate namespace: " + target);
        }
        String fullDocument = option(spec, "fullDocument", "default", Set.of("default", "updateLookup", "whenAvailable", "required"));
        String before = option(spec, "fullDocumentBeforeChange", "off", Set.of("off", "whenAvailable", "required"));

        int starts = (spec.containsKey("resumeAfter") ? 1 : 0) + (spec.containsKey("startAfter") ? 1 : 0)
            + (spec.containsKey("startAtOperationTime") ? 1 : 0);
        if (starts > 1) {
            throw new MongoServerError(40674, "Location40674", "Only one type of resume option is allowed, but multiple were found.");
        }
        List<Document> rest = rewritePipeline(pipeline.subList(1, pipeline.size()));
        Aggregation agg = rest.isEmpty() ? null : compile.apply(rest);

        Stream_ s = new Stream_(cursorId, sdb, scoll, ns, fullDocument, before, agg);
        synchronized (this) {
            long lost = lostFor(sdb, scoll);
            if (spec.containsKey("resumeAfter") || spec.containsKey("startAfter")) {
                boolean startAfter = spec.containsKey("startAfter");
                Token t = parseToken(startAfter ? "startAfter" : "resumeAfter", spec.get(startAfter ? "startAfter" : "resumeAfter"));
                if (t.kind == KIND_INVALIDATE && !startAfter) {
                    throw invalidToken("Attempting to resume a change stream using 'resumeAfter' is not allowed from an "
                        + "invalidate notification.");
                }
                if (t.kind == KIND_HWM) {
                    if (t.ts < lost) {
                        throw historyLost();
                    }
                    s.afterTs = t.ts;
                } else if (t.kind == KIND_INVALIDATE) {
                    if (t.ts <= lost) {
                        throw historyLost();
                    }
                    s.afterTs = t.ts;
                } else {
                    if (t.ts <= lost) {
                        throw historyLost();
                    }
                    s.resume = t;
                    s.mustSeeToken = true;
                    s.resumeToken = (Document) spec.get(startAfter ? "startAfter" : "resumeAfter");
                    s.resumeText = s.resumeToken.toString(true);
                    s.afterTs = t.ts - 1;
                }
            } else if (spec.containsKey("startAtOperationTime")) {
                Object v = spec.get("startAtOperationTime");
                if (!(v instanceof BsonTimestamp)) {
                    throw new MongoServerError(14, "TypeMismatch",
                        "BSON field '$changeStream.startAtOperationTime' is the wrong type, expected type 'timestamp'");
                }
                long t = ((BsonTimestamp) v).getValue();
                if (t <= lost) {
                    throw historyLost();
                }
                s.afterTs = t - 1;
            } else {
                s.afterTs = lastTs;
            }
        }
        pruneIdle();
        Document cursorOpt = (Document) query.get("cursor");
        int batchSize = 101;
        if (cursorOpt != null && cursorOpt.get("batchSize") instanceof Number) {
            batchSize = ((Number) cursorOpt.get("batchSize")).intValue();
        }
        List<Document> first = batchSize == 0 ? new ArrayList<>() : s.next(batchSize);
        if (batchSize == 0) {
            s.pbrt = s.resume != null ? s.resumeToken : token(s.afterTs, KIND_HWM, 0);
        }
        long id = s.closed ? 0L : cursorId;
        if (!s.closed) {
            cursors.put(cursorId, s);
        }
        Document cursor = new Document("firstBatch", first)
            .append("postBatchResumeToken", s.pbrt)
            .append("id", id)
            .append("ns", ns);
        return new Document("cursor", cursor).append("ok", 1.0);
    }

    /** A getMore of one of our cursors that asks to wait (maxTimeMS). */
    boolean mayWait(Document command) {
        if (command == null || command.isEmpty() || !command.keySet().iterator().next().equals("getMore")) {
            return false;
        }
        Object id = command.get("getMore");
        Object max = command.get("maxTimeMS");
        return id instanceof Number && owns(((Number) id).longValue()) && max instanceof Number
            && ((Number) max).longValue() > 0;
    }

    boolean owns(long cursorId) {
        return cursors.containsKey(cursorId);
    }

    Document getMore(long cursorId, Document query) {
        Stream_ s = cursors.get(cursorId);
        int batchSize = query.get("batchSize") instanceof Number ? ((Number) query.get("batchSize")).intValue() : 0;
        long waitMs = query.get("maxTimeMS") instanceof Number ? Math.min(30_000L, ((Number) query.get("maxTimeMS")).longValue()) : 0;
        long deadline = System.currentTimeMillis() + waitMs;
        List<Document> batch;
        try {
            while (true) {
                long seen;
                synchronized (this) {
                    seen = lastTs;
                }
                batch = s.next(batchSize);
                if (!batch.isEmpty() || s.closed) {
                    break;
                }
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    break;
                }
                synchronized (this) {
                    if (lastTs == seen) {
                        try {
                            wait(left);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            break;
                        }
                    }
                }
            }
        } catch (RuntimeException e) {
            cursors.remove(cursorId);
            throw e;
        }
        long id = cursorId;
        if (s.closed) {
            cursors.remove(cursorId);
            id = 0L;
        }
        Document cursor = new Document("nextBatch", batch)
            .append("postBatchResumeToken", s.pbrt)
            .append("id", id)
            .append("ns", s.ns);
        return new Document("cursor", cursor).append("ok", 1.0);
    }

    boolean kill(long cursorId) {
        return cursors.remove(cursorId) != null;
    }

    private void pruneIdle() {
        long now = System.currentTimeMillis();
        for (Iterator<Stream_> it = cursors.values().iterator(); it.hasNext(); ) {
            if (now - it.next().lastUsed > IDLE_CURSOR_MS) {
                it.remove();
            }
        }
    }

    int openCursors() {
        return cursors.size();
    }

}
