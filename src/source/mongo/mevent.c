/*
 * MongoDB change events as mongo-kafka and Debezium publish them.
 *
 * The JSON writer walks BSON once, straight into an sl_buf, in one of
 * mongo-kafka's formatters (DefaultJson = Java's legacy STRICT mode,
 * ExtendedJson = canonical, SimplifiedJson = relaxed with plain strings for
 * ObjectId, Decimal128, dates and binaries). Input is validated first
 * (nesting depth, then bson_validate: lengths, UTF-8), so the walker can
 * trust structure. Top-level records are compact JSON; JSON that travels
 * inside a string (Debezium's `after`, `updatedFields`, key id) keeps Java's
 * ": " / ", " spacing, so the strings equal the Java connectors' byte for byte
 * for the common types.
 */
#include "source/mongo/mevent.h"
#include "util/jnum.h"
#include <mongoc/mongoc.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <time.h>

typedef struct jw {
    sl_buf *out;
    sl_mjson_mode mode;
    const char *colon, *comma;
} jw;

/* Length of the valid UTF-8 sequence at s (1-4), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 && c >= 0xc2 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 && c <= 0xf4 ? 4 : 0;
    if (!k || k > n) return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (k == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))) return 0; /* overlong, surrogate */
    if (k == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))) return 0;
    return k;
}

/* A JSON string; bytes that are not UTF-8 (BSON regexes and code are not checked by bson_validate)
 * become U+FFFD, so the output is always valid JSON text. */
static void put_str(jw *w, const char *s, size_t n) { sl_mjson_str(w->out, s, n); }

void sl_mjson_str(sl_buf *out, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k;
    while (i < n && (k = utf8_len(u + i, n - i)) != 0) i += k;
    if (i == n) {
        sl_buf_put_json_str(out, s, n);
        return;
    }
    sl_buf fixed;
    sl_buf_init(&fixed);
    for (i = 0; i < n;) {
        k = utf8_len(u + i, n - i);
        if (k) sl_buf_put(&fixed, s + i, k), i += k;
        else sl_buf_puts(&fixed, "\xEF\xBF\xBD"), i++;
    }
    sl_buf_put_json_str(out, fixed.data, fixed.len);
    sl_buf_free(&fixed);
}
static void put_cstr(jw *w, const char *s) { put_str(w, s, strlen(s)); }

/* {"<name>": (the caller writes the value), then close with '}' */
static void open1(jw *w, const char *name) {
    sl_buf_putc(w->out, '{');
    put_cstr(w, name);
    sl_buf_puts(w->out, w->colon);
}

static void wrap_str(jw *w, const char *name, const char *val) {
    open1(w, name);
    put_cstr(w, val);
    sl_buf_putc(w->out, '}');
}

static void put_double(jw *w, double d) {
    bool canon = w->mode == SL_MJSON_EXTENDED;
    if (!isfinite(d)) {
        open1(w, "$numberDouble");
        put_cstr(w, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        sl_buf_putc(w->out, '}');
        return;
    }
    if (!canon) {
        sl_jnum_put_double(w->out, d);
        return;
    }
    sl_buf tmp;
    sl_buf_init(&tmp);
    sl_jnum_put_double(&tmp, d);
    open1(w, "$numberDouble");
    put_str(w, tmp.data, tmp.len);
    sl_buf_putc(w->out, '}');
    sl_buf_free(&tmp);
}

static void put_numstr(jw *w, const char *name, int64_t v) {
    char n[32];
    snprintf(n, sizeof n, "%" PRId64, v);
    wrap_str(w, name, n);
}

/* ISO-8601 UTC of epoch milliseconds. java_iso: DateTimeFormatter.ISO_DATE_TIME (fraction trimmed,
 * none when zero); else relaxed extended JSON's yyyy-MM-ddTHH:mm:ss.SSSZ. False when out of range. */
static bool iso_date(int64_t ms, bool java_iso, char *buf, size_t bufsz) {
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) frac += 1000, secs--;
    if (secs < -62135596800LL || secs > 253402300799LL) return false; /* years 1..9999 */
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) return false;
    size_t n = strftime(buf, bufsz, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!n) return false;
    if (java_iso) {
        if (frac) {
            char f[8];
            snprintf(f, sizeof f, ".%03d", (int)frac);
            size_t fl = strlen(f);
            while (f[fl - 1] == '0') f[--fl] = 0;
            snprintf(buf + n, bufsz - n, "%sZ", f);
        } else {
            snprintf(buf + n, bufsz - n, "Z");
        }
    } else {
        snprintf(buf + n, bufsz - n, ".%03dZ", (int)frac);
    }
    return true;
}

static void put_date(jw *w, int64_t ms) {
    char iso[64];
    switch (w->mode) {
    case SL_MJSON_DEFAULT:
        open1(w, "$date");
        sl_buf_put_i64(w->out, ms);
        sl_buf_putc(w->out, '}');
        return;
    case SL_MJSON_SIMPLIFIED:
        if (iso_date(ms, true, iso, sizeof iso)) {
            put_cstr(w, iso);
            return;
        }
        break;
    case SL_MJSON_RELAXED:
        if (ms >= 0 && ms <= 253402300799999LL && iso_date(ms, false, iso, sizeof iso)) {
            wrap_str(w, "$date", iso);
            return;
        }
        break;
    case SL_MJSON_EXTENDED:
        break;
    }
    open1(w, "$date");
    put_numstr(w, "$numberLong", ms);
    sl_buf_putc(w->out, '}');
}

static void put_binary(jw *w, bson_subtype_t sub, const uint8_t *bin, uint32_t n) {
    char st[8];
    if (w->mode == SL_MJSON_SIMPLIFIED) {
        if (sub == BSON_SUBTYPE_UUID && n == 16) {
            char u[40];
            snprintf(u, sizeof u, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bin[0],
                     bin[1], bin[2], bin[3], bin[4], bin[5], bin[6], bin[7], bin[8], bin[9], bin[10], bin[11],
                     bin[12], bin[13], bin[14], bin[15]);
            put_cstr(w, u);
        } else {
            sl_buf_putc(w->out, '"');
            sl_buf_put_base64(w->out, bin, n);
            sl_buf_putc(w->out, '"');
        }
        return;
    }
    if (w->mode == SL_MJSON_DEFAULT) { /* {"$binary": "<b64>", "$type": "00"} */
        snprintf(st, sizeof st, "%02X", (unsigned)sub & 0xff);
        open1(w, "$binary");
        sl_buf_putc(w->out, '"');
        sl_buf_put_base64(w->out, bin, n);
        sl_buf_putc(w->out, '"');
        sl_buf_puts(w->out, w->comma);
        put_cstr(w, "$type");
        sl_buf_puts(w->out, w->colon);
        put_cstr(w, st);
        sl_buf_putc(w->out, '}');
        return;
    }
    snprintf(st, sizeof st, "%02x", (unsigned)sub & 0xff);
    open1(w, "$binary");
    open1(w, "base64");
    sl_buf_putc(w->out, '"');
    sl_buf_put_base64(w->out, bin, n);
    sl_buf_putc(w->out, '"');
    sl_buf_puts(w->out, w->comma);
    put_cstr(w, "subType");
    sl_buf_puts(w->out, w->colon);
    put_cstr(w, st);
    sl_buf_puts(w->out, "}}");
}

static void put_oid(jw *w, const bson_oid_t *oid) {
    char hex[25];
    bson_oid_to_string(oid, hex);
    if (w->mode == SL_MJSON_SIMPLIFIED) put_cstr(w, hex);
    else wrap_str(w, "$oid", hex);
}

/* Two fields in an object: {"a": <sa>, "b": <sb>} with string values. */
static void put_pair(jw *w, const char *a, const char *sa, const char *b, const char *sb) {
    sl_buf_putc(w->out, '{');
    put_cstr(w, a);
    sl_buf_puts(w->out, w->colon);
    put_cstr(w, sa);
    sl_buf_puts(w->out, w->comma);
    put_cstr(w, b);
    sl_buf_puts(w->out, w->colon);
    put_cstr(w, sb);
    sl_buf_putc(w->out, '}');
}

static int put_value(jw *w, const bson_iter_t *it, int depth);

static int put_container(jw *w, const bson_iter_t *it, bool array, int depth) {
    bson_iter_t child;
    if (depth >= SL_MEVENT_MAX_DEPTH || !bson_iter_recurse(it, &child)) return -1;
    sl_buf_putc(w->out, array ? '[' : '{');
    bool first = true;
    while (bson_iter_next(&child)) {
        if (!first) sl_buf_puts(w->out, w->comma);
        first = false;
        if (!array) {
            put_str(w, bson_iter_key(&child), bson_iter_key_len(&child));
            sl_buf_puts(w->out, w->colon);
        }
        if (put_value(w, &child, depth + 1) < 0) return -1;
    }
    sl_buf_putc(w->out, array ? ']' : '}');
    return 0;
}

static int put_value(jw *w, const bson_iter_t *it, int depth) {
    uint32_t n = 0;
    const char *s;
    char buf[BSON_DECIMAL128_STRING];
    bool canon = w->mode == SL_MJSON_EXTENDED;
    switch (bson_iter_type(it)) {
    case BSON_TYPE_DOCUMENT: return put_container(w, it, false, depth);
    case BSON_TYPE_ARRAY: return put_container(w, it, true, depth);
    case BSON_TYPE_UTF8:
        s = bson_iter_utf8(it, &n);
        put_str(w, s, n);
        break;
    case BSON_TYPE_DOUBLE: put_double(w, bson_iter_double(it)); break;
    case BSON_TYPE_INT32:
        if (canon) put_numstr(w, "$numberInt", bson_iter_int32(it));
        else sl_buf_put_i64(w->out, bson_iter_int32(it));
        break;
    case BSON_TYPE_INT64:
        if (canon || w->mode == SL_MJSON_DEFAULT) put_numstr(w, "$numberLong", bson_iter_int64(it));
        else sl_buf_put_i64(w->out, bson_iter_int64(it));
        break;
    case BSON_TYPE_BOOL: sl_buf_puts(w->out, bson_iter_bool(it) ? "true" : "false"); break;
    case BSON_TYPE_NULL: sl_buf_puts(w->out, "null"); break;
    case BSON_TYPE_UNDEFINED:
        open1(w, "$undefined");
        sl_buf_puts(w->out, "true}");
        break;
    case BSON_TYPE_OID: put_oid(w, bson_iter_oid(it)); break;
    case BSON_TYPE_DATE_TIME: put_date(w, bson_iter_date_time(it)); break;
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t d;
        bson_iter_decimal128(it, &d);
        bson_decimal128_to_string(&d, buf);
        if (w->mode == SL_MJSON_SIMPLIFIED) put_cstr(w, buf);
        else wrap_str(w, "$numberDecimal", buf);
        break;
    }
    case BSON_TYPE_BINARY: {
        bson_subtype_t sub;
        const uint8_t *bin;
        bson_iter_binary(it, &sub, &n, &bin);
        put_binary(w, sub, bin, n);
        break;
    }
    case BSON_TYPE_TIMESTAMP: {
        uint32_t t, i;
        bson_iter_timestamp(it, &t, &i);
        open1(w, "$timestamp");
        sl_buf_printf(w->out, "{\"t\"%s%" PRIu32 "%s\"i\"%s%" PRIu32 "}}", w->colon, t, w->comma, w->colon, i);
        break;
    }
    case BSON_TYPE_REGEX: {
        const char *opts;
        const char *re = bson_iter_regex(it, &opts);
        if (w->mode == SL_MJSON_DEFAULT) {
            put_pair(w, "$regex", re, "$options", opts);
        } else {
            open1(w, "$regularExpression");
            put_pair(w, "pattern", re, "options", opts);
            sl_buf_putc(w->out, '}');
        }
        break;
    }
    case BSON_TYPE_SYMBOL:
        s = bson_iter_symbol(it, &n);
        if (w->mode == SL_MJSON_SIMPLIFIED) {
            put_str(w, s, n);
        } else {
            open1(w, "$symbol");
            put_str(w, s, n);
            sl_buf_putc(w->out, '}');
        }
        break;
    case BSON_TYPE_CODE:
        s = bson_iter_code(it, &n);
        open1(w, "$code");
        put_str(w, s, n);
        sl_buf_putc(w->out, '}');
        break;
    case BSON_TYPE_CODEWSCOPE: {
        uint32_t slen;
        const uint8_t *scope;
        s = bson_iter_codewscope(it, &n, &slen, &scope);
        bson_t sd;
        bson_iter_t si;
        if (!bson_init_static(&sd, scope, slen) || !bson_iter_init(&si, &sd)) return -1;
        open1(w, "$code");
        put_str(w, s, n);
        sl_buf_puts(w->out, w->comma);
        put_cstr(w, "$scope");
        sl_buf_puts(w->out, w->colon);
        if (sl_mjson_doc(w->out, &sd, w->mode, strcmp(w->colon, ": ") == 0) < 0) return -1;
        sl_buf_putc(w->out, '}');
        break;
    }
    case BSON_TYPE_DBPOINTER: {
        const char *coll;
        const bson_oid_t *oid;
        char hex[25];
        bson_iter_dbpointer(it, &n, &coll, &oid);
        bson_oid_to_string(oid, hex);
        if (w->mode != SL_MJSON_DEFAULT) open1(w, "$dbPointer");
        open1(w, "$ref");
        put_str(w, coll, n);
        sl_buf_puts(w->out, w->comma);
        put_cstr(w, "$id");
        sl_buf_puts(w->out, w->colon);
        wrap_str(w, "$oid", hex);
        sl_buf_putc(w->out, '}');
        if (w->mode != SL_MJSON_DEFAULT) sl_buf_putc(w->out, '}');
        break;
    }
    case BSON_TYPE_MINKEY:
        open1(w, "$minKey");
        sl_buf_puts(w->out, "1}");
        break;
    case BSON_TYPE_MAXKEY:
        open1(w, "$maxKey");
        sl_buf_puts(w->out, "1}");
        break;
    default: return -1; /* EOD or an unknown type: bson_validate lets neither through */
    }
    return 0;
}

static void jw_init(jw *w, sl_buf *out, sl_mjson_mode mode, bool java_spacing) {
    w->out = out;
    w->mode = mode;
    w->colon = java_spacing ? ": " : ":";
    w->comma = java_spacing ? ", " : ",";
}

int sl_mjson_doc(sl_buf *out, const bson_t *doc, sl_mjson_mode mode, bool java_spacing) {
    jw w;
    bson_iter_t it;
    jw_init(&w, out, mode, java_spacing);
    if (!bson_iter_init(&it, doc)) return -1;
    /* put_container wants an iterator positioned on a document: walk the top level here. */
    sl_buf_putc(out, '{');
    bool first = true;
    while (bson_iter_next(&it)) {
        if (!first) sl_buf_puts(out, w.comma);
        first = false;
        put_str(&w, bson_iter_key(&it), bson_iter_key_len(&it));
        sl_buf_puts(out, w.colon);
        if (put_value(&w, &it, 1) < 0) return -1;
    }
    sl_buf_putc(out, '}');
    return 0;
}

int sl_mjson_value(sl_buf *out, const bson_iter_t *it, sl_mjson_mode mode, bool java_spacing) {
    jw w;
    jw_init(&w, out, mode, java_spacing);
    return put_value(&w, it, 1);
}

/* ---- validation ---- */

/* Nesting depth within the limit? Works on unvalidated bytes (bson_iter checks every length). */
static bool depth_ok(const bson_iter_t *it, int depth) {
    bson_iter_t child;
    if (depth > SL_MEVENT_MAX_DEPTH) return false;
    if (!bson_iter_recurse(it, &child)) return true; /* bad bytes: bson_validate reports them */
    while (bson_iter_next(&child))
        if ((BSON_ITER_HOLDS_DOCUMENT(&child) || BSON_ITER_HOLDS_ARRAY(&child)) && !depth_ok(&child, depth + 1))
            return false;
    return true;
}

static bool doc_depth_ok(const bson_t *doc) {
    bson_iter_t it;
    if (!bson_iter_init(&it, doc)) return true;
    while (bson_iter_next(&it))
        if ((BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) && !depth_ok(&it, 2)) return false;
    return true;
}

/* ---- events ---- */

void sl_mevent_init(sl_mevent *ev) {
    memset(ev, 0, sizeof *ev);
    sl_buf_init(&ev->topic);
    sl_buf_init(&ev->key);
    sl_buf_init(&ev->value);
    sl_buf_init(&ev->token);
}

void sl_mevent_free(sl_mevent *ev) {
    sl_buf_free(&ev->topic);
    sl_buf_free(&ev->key);
    sl_buf_free(&ev->value);
    sl_buf_free(&ev->token);
}

static const char *utf8_field(const bson_t *doc, const char *dotted) {
    bson_iter_t it, f;
    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, dotted, &f) || !BSON_ITER_HOLDS_UTF8(&f))
        return NULL;
    return bson_iter_utf8(&f, NULL);
}

/* *it = field `name` of doc; false when missing. */
static bool find(const bson_t *doc, const char *name, bson_iter_t *it) {
    return bson_iter_init_find(it, doc, name);
}

static bool get_doc(const bson_t *doc, const char *name, bson_t *sub) {
    bson_iter_t it;
    uint32_t len;
    const uint8_t *data;
    if (!find(doc, name, &it) || !BSON_ITER_HOLDS_DOCUMENT(&it)) return false;
    bson_iter_document(&it, &len, &data);
    return bson_init_static(sub, data, len);
}

static void put_joined(sl_buf *out, const char *a, const char *sep, const char *b) {
    if (a && *a) sl_buf_puts(out, a);
    if (a && *a && b && *b) sl_buf_puts(out, sep);
    if (b && *b) sl_buf_puts(out, b);
}

/* topic.namespace.map: "db.coll", then "db" (+ sep + coll), then "*". */
static const char *map_lookup(const bson_t *map, const char *key) {
    bson_iter_t it;
    if (!map || !bson_iter_init_find(&it, map, key) || !BSON_ITER_HOLDS_UTF8(&it)) return NULL;
    return bson_iter_utf8(&it, NULL);
}

void sl_mevent_topic(const sl_mevent_opts *o, const char *db, const char *coll, sl_buf *out) {
    const char *sep = o->sep ? o->sep : ".";
    sl_buf ns;
    sl_buf_init(&ns);
    put_joined(&ns, db, ".", coll);
    const char *mapped;
    sl_buf name;
    sl_buf_init(&name);
    if ((mapped = map_lookup(o->ns_map, sl_buf_cstr(&ns))) != NULL) {
        sl_buf_puts(&name, mapped);
    } else if (coll && *coll && (mapped = map_lookup(o->ns_map, db ? db : "")) != NULL) {
        put_joined(&name, mapped, sep, coll);
    } else if ((mapped = map_lookup(o->ns_map, "*")) != NULL) {
        sl_buf_puts(&name, mapped);
    } else {
        put_joined(&name, db, sep, coll);
    }
    sl_buf_reset(out);
    put_joined(out, o->prefix, sep, sl_buf_cstr(&name));
    if (o->suffix && *o->suffix) {
        if (out->len) sl_buf_puts(out, sep);
        sl_buf_puts(out, o->suffix);
    }
    sl_buf_cstr(out);
    sl_buf_free(&ns);
    sl_buf_free(&name);
}

static sl_op op_of(const char *t) {
    if (!strcmp(t, "insert")) return SL_OP_CREATE;
    if (!strcmp(t, "update") || !strcmp(t, "replace")) return SL_OP_UPDATE;
    if (!strcmp(t, "delete")) return SL_OP_DELETE;
    return SL_OP_MESSAGE; /* drop, rename, dropDatabase, invalidate, DDL: not row changes */
}

/* ts_us of an event: wallTime (ms) when present, else clusterTime's seconds. */
static int64_t event_ts_us(const bson_t *ev, uint32_t *ct_t, uint32_t *ct_i) {
    bson_iter_t it;
    *ct_t = *ct_i = 0;
    if (find(ev, "clusterTime", &it) && BSON_ITER_HOLDS_TIMESTAMP(&it)) bson_iter_timestamp(&it, ct_t, ct_i);
    if (find(ev, "wallTime", &it) && BSON_ITER_HOLDS_DATE_TIME(&it)) return bson_iter_date_time(&it) * 1000;
    return (int64_t)*ct_t * 1000000;
}

/* {"_id": <value at it>} in the record's formatter. */
static int put_id_key(const sl_mevent_opts *o, const bson_iter_t *id, sl_buf *out) {
    sl_buf_puts(out, "{\"_id\":");
    if (id) {
        if (sl_mjson_value(out, id, o->fmt, false) < 0) return -1;
    } else {
        sl_buf_puts(out, "null");
    }
    sl_buf_putc(out, '}');
    return 0;
}

/* The document's _id: documentKey._id, else fullDocument._id (copied documents: the document's own). */
static bool doc_id(const bson_t *ev, bool copy, bson_iter_t *id) {
    bson_t sub;
    if (copy) return find(ev, "_id", id);
    if (get_doc(ev, "documentKey", &sub) && bson_iter_init_find(id, &sub, "_id")) return true;
    return get_doc(ev, "fullDocument", &sub) && bson_iter_init_find(id, &sub, "_id");
}

/* mongo-kafka 2.x's key: the event's documentKey (change.stream.document.key.as.key, default true),
 * else (or for events without one: drop, rename, invalidate) {"_id": <the event's _id>}. */
static int put_event_key(const sl_mevent_opts *o, const bson_t *ev, sl_buf *out) {
    bson_t dk;
    bson_iter_t tok;
    if (o->key_is_event) return sl_mjson_doc(out, ev, o->fmt, false);
    if (o->doc_key_as_key && get_doc(ev, "documentKey", &dk)) return sl_mjson_doc(out, &dk, o->fmt, false);
    if (!find(ev, "_id", &tok)) return -1;
    return put_id_key(o, &tok, out);
}

/* mongo-kafka: value the event, or with publish.full.document.only its fullDocument; key as above. */
static int encode_mongo_kafka(const sl_mevent_opts *o, const bson_t *doc, bool copy, sl_mevent *ev) {
    bson_t full;
    if (copy) return 1; /* the caller builds mongo-kafka's insert-shaped copy event */
    if (!o->full_doc_only) {
        if (put_event_key(o, doc, &ev->key) < 0) return -1;
        return sl_mjson_doc(&ev->value, doc, o->fmt, false);
    }
    if (ev->op == SL_OP_DELETE && o->tombstone_on_delete) {
        ev->tombstone = true;
        return put_event_key(o, doc, &ev->key);
    }
    bson_iter_t fit;
    if (!find(doc, "fullDocument", &fit) || !BSON_ITER_HOLDS_DOCUMENT(&fit) || !get_doc(doc, "fullDocument", &full)) {
        ev->skip = true; /* no document to publish (delete, drop, update without updateLookup, ...) */
        return 0;
    }
    if (put_event_key(o, doc, &ev->key) < 0) return -1;
    return sl_mjson_doc(&ev->value, &full, o->fmt, false);
}

/* A copied document as mongo-kafka publishes it: an insert event with ns, documentKey, fullDocument. */
static int encode_copy_event(const sl_mevent_opts *o, const bson_t *doc, const char *db, const char *coll,
                             sl_mevent *ev) {
    bson_iter_t id;
    bool has_id = find(doc, "_id", &id);
    bson_t e = BSON_INITIALIZER, ns, dk;
    int rc = -1;
    BSON_APPEND_DOCUMENT_BEGIN(&e, "_id", &dk); /* mongo-kafka's {_id: '$_id', copyingData: true} */
    if (has_id) bson_append_iter(&dk, "_id", 3, &id);
    BSON_APPEND_BOOL(&dk, "copyingData", true);
    bson_append_document_end(&e, &dk);
    BSON_APPEND_UTF8(&e, "operationType", "insert");
    BSON_APPEND_DOCUMENT_BEGIN(&e, "ns", &ns);
    BSON_APPEND_UTF8(&ns, "db", db ? db : "");
    BSON_APPEND_UTF8(&ns, "coll", coll ? coll : "");
    bson_append_document_end(&e, &ns);
    BSON_APPEND_DOCUMENT_BEGIN(&e, "documentKey", &dk);
    if (has_id) bson_append_iter(&dk, "_id", 3, &id);
    bson_append_document_end(&e, &dk);
    BSON_APPEND_DOCUMENT(&e, "fullDocument", doc);
    /* The key as for any event: documentKey, or the generated _id. */
    if (put_event_key(o, &e, &ev->key) < 0) goto out;
    rc = sl_mjson_doc(&ev->value, o->full_doc_only ? doc : &e, o->fmt, false);
out:
    bson_destroy(&e);
    return rc;
}

/* A document (or null) as a JSON string of canonical extended JSON, Java spacing. */
static int put_json_string_of(sl_buf *out, const bson_t *doc) {
    if (!doc) {
        sl_buf_puts(out, "null");
        return 0;
    }
    sl_buf tmp;
    sl_buf_init(&tmp);
    int rc = sl_mjson_doc(&tmp, doc, SL_MJSON_EXTENDED, true);
    if (rc == 0) sl_buf_put_json_str(out, tmp.data, tmp.len);
    sl_buf_free(&tmp);
    return rc;
}

static void put_nullable_str(sl_buf *out, const char *s) {
    if (s) sl_buf_put_json_str(out, s, strlen(s));
    else sl_buf_puts(out, "null");
}

/* updateDescription: {"removedFields": [...]|null, "updatedFields": "<json>"|null, "truncatedArrays": [...]|null} */
static int put_dbz_update_desc(sl_buf *out, const bson_t *ev) {
    bson_t ud, sub;
    bson_iter_t it;
    if (!get_doc(ev, "updateDescription", &ud)) {
        sl_buf_puts(out, "null");
        return 0;
    }
    sl_buf_puts(out, "{\"removedFields\":");
    if (bson_iter_init_find(&it, &ud, "removedFields") && BSON_ITER_HOLDS_ARRAY(&it)) {
        if (sl_mjson_value(out, &it, SL_MJSON_RELAXED, false) < 0) return -1;
    } else {
        sl_buf_puts(out, "null");
    }
    sl_buf_puts(out, ",\"updatedFields\":");
    if (get_doc(&ud, "updatedFields", &sub)) {
        if (put_json_string_of(out, &sub) < 0) return -1;
    } else {
        sl_buf_puts(out, "null");
    }
    sl_buf_puts(out, ",\"truncatedArrays\":");
    bson_iter_t arr, f;
    if (bson_iter_init_find(&it, &ud, "truncatedArrays") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &arr)) {
        /* MongoDB's {field, newSize} become Debezium's {field, size}. */
        sl_buf_putc(out, '[');
        for (bool first = true; bson_iter_next(&arr); first = false) {
            bson_t el;
            uint32_t len;
            const uint8_t *data;
            if (!first) sl_buf_putc(out, ',');
            if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) {
                sl_buf_puts(out, "null");
                continue;
            }
            bson_iter_document(&arr, &len, &data);
            bson_init_static(&el, data, len);
            const char *name = bson_iter_init_find(&f, &el, "field") && BSON_ITER_HOLDS_UTF8(&f) ? bson_iter_utf8(&f, NULL)
                                                                                                  : "";
            int64_t size = bson_iter_init_find(&f, &el, "newSize") && BSON_ITER_HOLDS_NUMBER(&f) ? bson_iter_as_int64(&f)
                                                                                                   : 0;
            sl_buf_puts(out, "{\"field\":");
            sl_buf_put_json_str(out, name, strlen(name));
            sl_buf_printf(out, ",\"size\":%" PRId64 "}", size);
        }
        sl_buf_putc(out, ']');
    } else {
        sl_buf_puts(out, "null");
    }
    sl_buf_putc(out, '}');
    return 0;
}

/* Debezium's MongoDB connector: key {"id": "<_id as relaxed JSON>"}, value the envelope. */
static int encode_debezium(const sl_mevent_opts *o, const bson_t *doc, bool copy, const char *db, const char *coll,
                           uint32_t ct_t, uint32_t ct_i, sl_mevent *ev) {
    bson_iter_t id, it;
    bson_t full, before;
    if (!copy && ev->op == SL_OP_MESSAGE) {
        ev->skip = true; /* Debezium publishes only insert/update/replace/delete */
        return 0;
    }
    if (!doc_id(doc, copy, &id)) return -1;
    sl_buf tmp;
    sl_buf_init(&tmp);
    int rc = sl_mjson_value(&tmp, &id, SL_MJSON_RELAXED, true);
    if (rc == 0) {
        sl_buf_puts(&ev->key, "{\"id\":");
        sl_buf_put_json_str(&ev->key, tmp.data, tmp.len);
        sl_buf_putc(&ev->key, '}');
    }
    sl_buf_free(&tmp);
    if (rc < 0) return -1;
    sl_buf *v = &ev->value;
    bool has_full = copy ? (full = *doc, true) : get_doc(doc, "fullDocument", &full);
    bool has_before = !copy && get_doc(doc, "fullDocumentBeforeChange", &before);
    sl_buf_puts(v, "{\"before\":");
    if (put_json_string_of(v, has_before ? &before : NULL) < 0) return -1;
    sl_buf_puts(v, ",\"after\":");
    if (put_json_string_of(v, has_full && ev->op != SL_OP_DELETE ? &full : NULL) < 0) return -1;
    sl_buf_puts(v, ",\"updateDescription\":");
    if (copy) sl_buf_puts(v, "null");
    else if (put_dbz_update_desc(v, doc) < 0) return -1;
    int64_t ts_ms = copy ? o->now_ms : (int64_t)ct_t * 1000;
    if (!copy && ev->ts_us) ts_ms = ev->ts_us / 1000;
    sl_buf_puts(v, ",\"source\":{\"version\":");
    put_nullable_str(v, o->version ? o->version : "2.7.0.Final");
    sl_buf_puts(v, ",\"connector\":\"mongodb\",\"name\":");
    put_nullable_str(v, o->server_name ? o->server_name : "");
    sl_buf_printf(v, ",\"ts_ms\":%" PRId64 ",\"snapshot\":\"%s\",\"db\":", ts_ms, copy ? "true" : "false");
    put_nullable_str(v, db ? db : "");
    sl_buf_puts(v, ",\"sequence\":null,\"rs\":");
    put_nullable_str(v, o->rs_name ? o->rs_name : "");
    sl_buf_puts(v, ",\"collection\":");
    put_nullable_str(v, coll ? coll : "");
    sl_buf_printf(v, ",\"ord\":%" PRIu32 ",\"lsid\":", copy ? 0 : ct_i);
    bson_t lsid;
    if (!copy && get_doc(doc, "lsid", &lsid)) {
        bson_iter_t lit;
        sl_buf t2;
        sl_buf_init(&t2);
        /* Debezium writes the session id document as extended JSON text. */
        if (bson_iter_init_find(&lit, &lsid, "id")) rc = sl_mjson_value(&t2, &lit, SL_MJSON_EXTENDED, true);
        else rc = sl_mjson_doc(&t2, &lsid, SL_MJSON_EXTENDED, true);
        if (rc == 0) sl_buf_put_json_str(v, t2.data, t2.len);
        sl_buf_free(&t2);
        if (rc < 0) return -1;
    } else {
        sl_buf_puts(v, "null");
    }
    sl_buf_puts(v, ",\"txnNumber\":");
    if (!copy && find(doc, "txnNumber", &it) && (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it)))
        sl_buf_put_i64(v, bson_iter_as_int64(&it));
    else sl_buf_puts(v, "null");
    sl_buf_puts(v, ",\"wallTime\":");
    if (!copy && find(doc, "wallTime", &it) && BSON_ITER_HOLDS_DATE_TIME(&it))
        sl_buf_put_i64(v, bson_iter_date_time(&it));
    else sl_buf_puts(v, "null");
    sl_buf_printf(v, "},\"op\":\"%c\",\"ts_ms\":%" PRId64 ",\"transaction\":null}", copy ? 'r' : (char)ev->op,
                  o->now_ms);
    return 0;
}

int sl_mevent_encode(const sl_mevent_opts *o, const uint8_t *data, size_t len, bool copy, const char *copy_db,
                     const char *copy_coll, sl_mevent *ev, char *err, size_t errsz) {
    bson_t doc;
    bson_error_t be;
    uint32_t ct_t, ct_i;
    sl_buf_reset(&ev->topic), sl_buf_reset(&ev->key), sl_buf_reset(&ev->value), sl_buf_reset(&ev->token);
    ev->tombstone = ev->skip = ev->invalidate = false;
    ev->ts_us = 0;
    ev->op = SL_OP_CREATE;
    snprintf(ev->optype, sizeof ev->optype, "%s", copy ? "copy" : "");
    if (len > SL_MEVENT_MAX_BYTES || !bson_init_static(&doc, data, len)) {
        snprintf(err, errsz, "not a BSON document (%zu bytes)", len);
        return -1;
    }
    if (!doc_depth_ok(&doc)) {
        snprintf(err, errsz, "document nested deeper than %d levels", SL_MEVENT_MAX_DEPTH);
        return -1;
    }
    if (!bson_validate_with_error(&doc, BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL, &be)) {
        snprintf(err, errsz, "invalid BSON: %s", be.message);
        return -1;
    }
    const char *db = copy ? copy_db : utf8_field(&doc, "ns.db");
    const char *coll = copy ? copy_coll : utf8_field(&doc, "ns.coll");
    bson_iter_t nsit;
    if (!copy && !find(&doc, "ns", &nsit)) { /* events without ns (mongo-java-server): the watched namespace */
        db = o->def_db;
        coll = o->def_coll;
    }
    if (!copy) {
        const char *t = utf8_field(&doc, "operationType");
        if (!t) {
            snprintf(err, errsz, "change event without operationType");
            return -1;
        }
        snprintf(ev->optype, sizeof ev->optype, "%s", t);
        ev->op = op_of(t);
        ev->invalidate = !strcmp(t, "invalidate");
        ev->ts_us = event_ts_us(&doc, &ct_t, &ct_i);
        bson_iter_t tok;
        if (!find(&doc, "_id", &tok) || !BSON_ITER_HOLDS_DOCUMENT(&tok)) {
            snprintf(err, errsz, "change event (%s) without a resume token _id", t);
            return -1;
        }
        const char *data = utf8_field(&doc, "_id._data");
        if (data) sl_buf_puts(&ev->token, data);
    } else {
        ct_t = ct_i = 0;
        ev->op = o->debezium ? SL_OP_READ : SL_OP_CREATE;
    }
    int rc;
    if (o->debezium) {
        rc = encode_debezium(o, &doc, copy, db, coll, ct_t, ct_i, ev);
        if (rc == 0 && !ev->skip) {
            sl_buf_reset(&ev->topic);
            put_joined(&ev->topic, o->server_name, ".", db);
            if (coll && *coll) {
                sl_buf_putc(&ev->topic, '.');
                sl_buf_puts(&ev->topic, coll);
            }
        }
    } else {
        rc = encode_mongo_kafka(o, &doc, copy, ev);
        if (rc == 1) rc = encode_copy_event(o, &doc, db, coll, ev);
        if (rc == 0) sl_mevent_topic(o, db, coll, &ev->topic);
    }
    if (rc < 0) {
        snprintf(err, errsz, "cannot encode the %s event: %s", copy ? "copied" : ev->optype,
                 o->debezium ? "no document _id (documentKey._id)" : "value nested too deeply");
        return -1;
    }
    sl_buf_cstr(&ev->topic), sl_buf_cstr(&ev->key), sl_buf_cstr(&ev->value);
    return 0;
}

/* ---- relaxed JSON (configs) ---- */

static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '$' || c == '_' || c == '.'; }

void sl_mjson_relaxed(const char *in, sl_buf *out) {
    char prev = 0; /* the last character written outside strings and blanks */
    for (const char *p = in; *p;) {
        char c = *p;
        if (c == '"') { /* a strict string: as it is */
            const char *e = p + 1;
            while (*e && *e != '"') e += (*e == '\\' && e[1]) ? 2 : 1;
            if (*e) e++;
            sl_buf_put(out, p, (size_t)(e - p));
            p = e, prev = '"';
        } else if (c == '\'') { /* 'it\'s' -> "it's" */
            sl_buf_putc(out, '"');
            for (p++; *p && *p != '\''; p++) {
                if (*p == '\\' && p[1] == '\'') sl_buf_putc(out, '\''), p++;
                else if (*p == '\\' && p[1]) sl_buf_putc(out, *p++), sl_buf_putc(out, *p);
                else if (*p == '"') sl_buf_puts(out, "\\\"");
                else sl_buf_putc(out, *p);
            }
            if (*p) p++;
            sl_buf_putc(out, '"');
            prev = '"';
        } else if ((prev == '{' || prev == ',') && (isalpha((unsigned char)c) || c == '$' || c == '_')) {
            const char *e = p;
            while (ident_char(*e)) e++;
            const char *after = e;
            while (isspace((unsigned char)*after)) after++;
            if (*after == ':') sl_buf_putc(out, '"'), sl_buf_put(out, p, (size_t)(e - p)), sl_buf_putc(out, '"');
            else sl_buf_put(out, p, (size_t)(e - p));
            p = e, prev = 'a';
        } else {
            sl_buf_putc(out, c);
            if (!isspace((unsigned char)c)) prev = c;
            p++;
        }
    }
}

/* ---- errors ---- */

bool sl_mongo_history_lost(uint32_t code, const char *msg) {
    if (code == 286 || code == 280 || code == 260 || code == 136) return true;
    if (!msg) return false;
    char low[512];
    size_t n = 0;
    for (; msg[n] && n < sizeof low - 1; n++) low[n] = (char)(msg[n] >= 'A' && msg[n] <= 'Z' ? msg[n] + 32 : msg[n]);
    low[n] = 0;
    return strstr(low, "resume token") &&
           (strstr(low, "not found") || strstr(low, "does not exist") || strstr(low, "invalid resume token") ||
            strstr(low, "no longer in the oplog") || strstr(low, "history"));
}

sl_maction sl_mongo_error_action(uint32_t domain, uint32_t code, const char *msg, bool resuming,
                                 sl_mlost_policy policy) {
    /* Connection-level: the network, server selection, a primary that stepped down. */
    if (domain == MONGOC_ERROR_STREAM || domain == MONGOC_ERROR_SERVER_SELECTION) return SL_MACT_RETRY;
    static const uint32_t retry_codes[] = {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150,
                                           133, 43 /* CursorNotFound: reopen from the last token */};
    for (size_t i = 0; i < sizeof retry_codes / sizeof retry_codes[0]; i++)
        if (code == retry_codes[i] && domain != MONGOC_ERROR_BSON) return SL_MACT_RETRY;
    if (!sl_mongo_history_lost(code, msg)) return SL_MACT_FAIL;
    /* 280/286 without a stored position cannot be about our resume point; still fatal. */
    if (!resuming && code != 286 && code != 136) return SL_MACT_FAIL;
    switch (policy) {
    case SL_MLOST_COPY: return SL_MACT_LOST_COPY;
    case SL_MLOST_LATEST: return SL_MACT_LOST_LATEST;
    case SL_MLOST_FAIL: break;
    }
    return SL_MACT_LOST_FAIL;
}
