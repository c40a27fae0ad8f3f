/*
 * Transform type: Debezium's outbox EventRouter
 * (io.debezium.transforms.outbox.EventRouter).
 *
 * An outbox row insert becomes one event: the topic from route.by.field
 * through route.topic.regex/replacement (Java regex with named groups, via
 * PCRE2), the key from table.field.event.key, the value the payload column
 * (or a struct {payload, extra fields} when some additional field is placed
 * in the envelope), header "id" with the event id. Deletes of outbox rows
 * are ignored; updates follow table.op.invalid.behavior; other records
 * (heartbeats, non-envelopes) pass unchanged; tombstones are dropped.
 *
 * Table-less outbox (sluice's own): a PostgreSQL logical decoding message
 * (pg_logical_emit_message) whose prefix is in message.prefix carries the
 * event as a JSON object; its members stand for the outbox row's columns, so
 * the same options route it (see docs/outbox.md for the shape).
 *
 * Purge (table.purge=durable): the ids of the rows emitted are kept and
 * deleted from the source table once the runtime reports the sink durable
 * (sl_outbox_durable, see debezium_int.h).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "xform/debezium_int.h"
#include "core/log.h"
#include "util/jscan.h"
#include "util/mem.h"
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <mysql.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { INV_WARN, INV_ERROR, INV_FATAL };
enum { PLACE_HEADER, PLACE_ENVELOPE, PLACE_PARTITION };
enum { PURGE_NONE, PURGE_DURABLE };

typedef struct outbox_conf {
    char *f_id, *f_key, *f_type, *f_ts, *f_payload, *f_version;
    char *route_by, *route_regex, *route_replacement;
    char *additional;
    int additional_missing;
    bool tombstone_on_empty, expand_json;
    int invalid_op, json_null, json_empty_array;
    char *message_prefix;
    bool message_only;
    int purge;
} outbox_conf;

#define F(x) offsetof(outbox_conf, x)
static const sl_prop outbox_props[] = {
    {"table.field.event.id", SL_PT_STRING, "id", NULL, 0, 0, 0, F(f_id),
     "Column with the event id; it goes into header `id` (a 16-byte binary id as a UUID string)."},
    {"table.field.event.key", SL_PT_STRING, "aggregateid", NULL, 0, 0, 0, F(f_key),
     "Column with the event key (the aggregate id); empty: no key."},
    {"table.field.event.type", SL_PT_STRING, "type", NULL, 0, 0, 0, F(f_type),
     "Column with the event type (kept for compatibility; place it with table.fields.additional.placement, "
     "e.g. `type:header:eventType`)."},
    {"table.field.event.timestamp", SL_PT_STRING, "", NULL, 0, 0, 0, F(f_ts),
     "Column with the event's timestamp, used as the record timestamp (Timestamp, MicroTimestamp, "
     "NanoTimestamp, and ZonedTimestamp strings); empty: the change event's ts_ms."},
    {"table.field.event.payload", SL_PT_STRING, "payload", NULL, 0, 0, 0, F(f_payload), "Column with the payload."},
    {"table.field.event.schema.version", SL_PT_STRING, "", NULL, 0, 0, 0, F(f_version),
     "Column with an int32 schema version, set as the value schema's version."},
    {"route.by.field", SL_PT_STRING, "aggregatetype", NULL, 0, 0, 0, F(route_by),
     "Column whose value routes the event (matched by route.topic.regex)."},
    {"route.topic.regex", SL_PT_STRING, "(?<routedByValue>.*)", NULL, 0, 0, 0, F(route_regex),
     "Java regex the route.by.field value must match entirely (named groups allowed)."},
    {"route.topic.replacement", SL_PT_STRING, "outbox.event.${routedByValue}", NULL, 0, 0, 0, F(route_replacement),
     "The topic, with $1 / ${name} group references (Java replacement syntax)."},
    {"table.fields.additional.placement", SL_PT_LIST, "", NULL, 0, 0, 0, F(additional),
     "Extra columns, comma-separated, each `column:placement[:alias]` with placement `header`, `envelope` or "
     "`partition`. `envelope` makes the value a struct {payload, alias...}; `partition` sets the record's "
     "partition from an integer column."},
    {"table.field.additional.missing", SL_PT_ENUM, "error", "error|ignore", 0, 0, 0, F(additional_missing),
     "When an additional column is missing: fail the connector or skip it."},
    {"route.tombstone.on.empty.payload", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(tombstone_on_empty),
     "A null or blank payload becomes a tombstone."},
    {"table.expand.json.payload", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(expand_json),
     "Parse a payload string holding a JSON object or array into a struct with an inferred schema (left as a "
     "string, with a warning, when it does not parse)."},
    {"table.op.invalid.behavior", SL_PT_ENUM, "warn", "warn|error|fatal", 0, 0, 0, F(invalid_op),
     "An update of an outbox row: skipped with a warning, skipped with an error logged, or fatal."},
    {"table.json.payload.null.behavior", SL_PT_ENUM, "ignore", "ignore|optional_bytes", 0, 0, 0, F(json_null),
     "table.expand.json.payload: null members are left out, or kept as optional bytes."},
    {"table.json.payload.empty.array.behavior", SL_PT_ENUM, "ignore", "ignore|optional_string", 0, 0, 0,
     F(json_empty_array),
     "table.expand.json.payload: empty arrays are left out, or kept as arrays of optional strings."},
    {"message.prefix", SL_PT_LIST, "", NULL, 0, 0, 0, F(message_prefix),
     "Table-less outbox: prefixes of PostgreSQL logical decoding messages (pg_logical_emit_message) that carry "
     "outbox events as JSON objects (`*`: any). Empty: messages pass unchanged, as in Debezium."},
    {"message.only", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(message_only),
     "Route only the messages of message.prefix: table change events pass unchanged (a connector that "
     "captures business tables too, without a predicate)."},
    {"table.purge", SL_PT_ENUM, "none", "none|durable", 0, 0, 0, F(purge),
     "`durable`: delete each outbox row from the source table (connection: the connector's database.* "
     "settings) once its event is durable in the sink."},
    {NULL}};
#undef F

typedef struct extra {
    char *col, *alias;
    int place;
} extra;

/* Ids of emitted rows awaiting the purge, for one table. */
typedef struct pending {
    char *schema, *table; /* schema NULL for MySQL/MariaDB (table qualified by db) */
    char dialect;         /* 'p' or 'm' */
    char *col;
    json_t *ids;          /* array of {"v": id value, "bytes": bool} */
} pending;

typedef struct outbox {
    const outbox_conf *c;
    pcre2_code *re;
    pcre2_match_data *md;
    extra *extras;
    int nextras;
    bool envelope;        /* some extra is placed in the envelope */
    int bin_mode;         /* binary.handling.mode: 0 bytes/base64, 1 base64-url-safe, 2 hex */
    /* purge */
    pending *pend;
    int npend;
    char *host, *user, *password, *dbname;
    int port;
    PGconn *pgc;          /* purge connections, made on first use */
    MYSQL *myc;
} outbox;

/* ---- Java replacement strings ---- */

/* Expands Java's replacement syntax ($n, ${name}, \x) for the match in md of subject; out NULL: only checks.
 * Returns -1 with err set on a bad group reference. */
static int expand(pcre2_code *re, pcre2_match_data *md, const char *subject, const char *rep, sl_buf *out,
                  char *err, size_t errsz) {
    uint32_t ngroups = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ngroups);
    PCRE2_SIZE *ov = md ? pcre2_get_ovector_pointer(md) : NULL;
    for (const char *p = rep; *p; p++) {
        if (*p == '\\') {
            if (!p[1]) {
                snprintf(err, errsz, "character to be escaped is missing");
                return -1;
            }
            if (out) sl_buf_putc(out, p[1]);
            p++;
            continue;
        }
        if (*p != '$') {
            if (out) sl_buf_putc(out, *p);
            continue;
        }
        long g;
        if (p[1] == '{') {
            const char *e = strchr(p + 2, '}');
            if (!e || e == p + 2) {
                snprintf(err, errsz, "named capturing group is missing trailing '}'");
                return -1;
            }
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(e - p - 2), p + 2);
            int n = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
            if (n < 0) {
                snprintf(err, errsz, "no group with name {%s}", name);
                return -1;
            }
            g = n;
            p = e;
        } else if (isdigit((unsigned char)p[1])) {
            g = p[1] - '0';
            p++;
            while (isdigit((unsigned char)p[1]) && g * 10 + (p[1] - '0') <= (long)ngroups) g = g * 10 + (*++p - '0');
            if (g > (long)ngroups) {
                snprintf(err, errsz, "no group %ld", g);
                return -1;
            }
        } else {
            snprintf(err, errsz, "illegal group reference");
            return -1;
        }
        if (out && ov && ov[2 * g] != PCRE2_UNSET) sl_buf_put(out, subject + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
    }
    return 0;
}

/* RegexRouter: the topic when the whole of v matches, else v. Returns a malloc'd string. */
static char *route_topic(outbox *o, const char *v) {
    size_t len = strlen(v);
    int rc = pcre2_match(o->re, (PCRE2_SPTR)v, len, 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, o->md, NULL);
    if (rc < 0) return sl_strdup(v);
    sl_buf b;
    sl_buf_init(&b);
    char err[128];
    expand(o->re, o->md, v, o->c->route_replacement, &b, err, sizeof err);
    char *t = sl_strdup(sl_buf_cstr(&b));
    sl_buf_free(&b);
    return t;
}

/* ---- setup ---- */

static void outbox_free(void *st) {
    outbox *o = st;
    if (!o) return;
    if (o->md) pcre2_match_data_free(o->md);
    if (o->re) pcre2_code_free(o->re);
    for (int i = 0; i < o->nextras; i++) {
        sl_free(o->extras[i].col);
        sl_free(o->extras[i].alias);
    }
    sl_free(o->extras);
    for (int i = 0; i < o->npend; i++) {
        sl_free(o->pend[i].schema);
        sl_free(o->pend[i].table);
        sl_free(o->pend[i].col);
        json_decref(o->pend[i].ids);
    }
    sl_free(o->pend);
    if (o->pgc) PQfinish(o->pgc);
    if (o->myc) mysql_close(o->myc);
    sl_free(o->host);
    sl_free(o->user);
    sl_free(o->password);
    sl_free(o->dbname);
    sl_free(o);
}

static char *trimmed(const char *a, const char *b) {
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    return sl_strndup(a, (size_t)(b - a));
}

/* table.fields.additional.placement: col:placement[:alias],... */
static void parse_extras(outbox *o, const char *list, const char *key, sl_errs *errs) {
    size_t cap = 1;
    for (const char *p = list ? list : ""; *p; p++) cap += *p == ',';
    o->extras = sl_calloc(cap, sizeof *o->extras);
    for (const char *p = list ? list : ""; *p;) {
        const char *e = p + strcspn(p, ",");
        char *item = trimmed(p, e);
        p = *e ? e + 1 : e;
        if (!*item) {
            sl_free(item);
            continue;
        }
        char *parts[4] = {0};
        int np = 0;
        for (char *s = item; np < 4;) {
            char *c = strchr(s, ':');
            parts[np++] = trimmed(s, c ? c : s + strlen(s));
            if (!c) break;
            s = c + 1;
        }
        int place = -1;
        if (np >= 2) {
            if (!strcasecmp(parts[1], "header")) place = PLACE_HEADER;
            else if (!strcasecmp(parts[1], "envelope")) place = PLACE_ENVELOPE;
            else if (!strcasecmp(parts[1], "partition")) place = PLACE_PARTITION;
        }
        if (np < 2 || np > 3 || place < 0 || !*parts[0] || (np == 3 && !*parts[2])) {
            sl_errs_add(errs, "%s: '%s' is not column:header|envelope|partition[:alias]", key, item);
        } else {
            extra *x = &o->extras[o->nextras++];
            x->col = sl_strdup(parts[0]);
            x->alias = sl_strdup(np == 3 ? parts[2] : parts[0]);
            x->place = place;
            if (place == PLACE_ENVELOPE) o->envelope = true;
        }
        for (int i = 0; i < np; i++) sl_free(parts[i]);
        sl_free(item);
    }
}

static void *outbox_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    const outbox_conf *c = settings;
    int e0 = errs->n;
    outbox *o = sl_calloc(1, sizeof *o);
    o->c = c;
    int ec;
    PCRE2_SIZE eo;
    o->re = pcre2_compile((PCRE2_SPTR)c->route_regex, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
    if (!o->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        sl_errs_add(errs, "%sroute.topic.regex: '%s' is not a valid regex: %s at offset %zu", prefix, c->route_regex,
                    (char *)msg, (size_t)eo);
    } else {
        o->md = pcre2_match_data_create_from_pattern(o->re, NULL);
        char err[256];
        if (expand(o->re, NULL, "", c->route_replacement, NULL, err, sizeof err) < 0)
            sl_errs_add(errs, "%sroute.topic.replacement: '%s': %s in route.topic.regex '%s'", prefix,
                        c->route_replacement, err, c->route_regex);
    }
    if (!c->route_by || !*c->route_by) sl_errs_add(errs, "%sroute.by.field: must name a column", prefix);
    if (!c->f_id || !*c->f_id) sl_errs_add(errs, "%stable.field.event.id: must name a column", prefix);
    if (!c->f_payload || !*c->f_payload) sl_errs_add(errs, "%stable.field.event.payload: must name a column", prefix);
    char key[512];
    snprintf(key, sizeof key, "%stable.fields.additional.placement", prefix);
    parse_extras(o, c->additional, key, errs);
    const char *bm = sl_config_get(cfg, "binary.handling.mode");
    o->bin_mode = bm && !strcasecmp(bm, "hex") ? 2 : bm && !strcasecmp(bm, "base64-url-safe") ? 1 : 0;
    if (c->message_only && !(c->message_prefix && *c->message_prefix))
        sl_errs_add(errs, "%smessage.only: needs %smessage.prefix", prefix, prefix);
    if (c->purge == PURGE_DURABLE) {
        const char *v;
        o->host = sl_strdup((v = sl_config_get(cfg, "database.hostname")) ? v : "localhost");
        o->port = (v = sl_config_get(cfg, "database.port")) ? atoi(v) : 0;
        o->user = (v = sl_config_get(cfg, "database.user")) ? sl_strdup(v) : NULL;
        o->password = (v = sl_config_get(cfg, "database.password")) ? sl_strdup(v) : NULL;
        o->dbname = (v = sl_config_get(cfg, "database.dbname")) ? sl_strdup(v) : NULL;
    }
    if (errs->n > e0) {
        outbox_free(o);
        return NULL;
    }
    return o;
}

/* ---- bytes ---- */

static int b64val(int ch, bool url) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == (url ? '-' : '+')) return 62;
    if (ch == (url ? '_' : '/')) return 63;
    return -1;
}

/* Decodes base64 (mode 0), base64url (1) or hex (2) into out; -1 when s is not that. */
static int decode_bytes(const char *s, size_t n, int mode, sl_buf *out) {
    if (mode == 2) {
        if (n % 2) return -1;
        for (size_t i = 0; i < n; i += 2) {
            char h[3] = {s[i], s[i + 1], 0};
            if (!isxdigit((unsigned char)h[0]) || !isxdigit((unsigned char)h[1])) return -1;
            sl_buf_putc(out, (char)strtol(h, NULL, 16));
        }
        return 0;
    }
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') break;
        int v = b64val((unsigned char)s[i], mode == 1);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            sl_buf_putc(out, (char)((acc >> bits) & 0xff));
        }
    }
    return 0;
}

/* The event id as header value: a 16-byte binary id becomes a UUID string; NULL for a null id. */
static sl_val *render_id(sl_vheap *h, sl_val *id, sl_val *fs) {
    if (sl_v_is_null(h, id)) return NULL;
    const char *type = sl_v_strval(h, sl_v_get(h, fs, "type"), NULL);
    size_t n;
    const char *s = sl_v_strval(h, id, &n);
    if (s && type && !strcmp(type, "bytes")) {
        sl_buf b;
        sl_buf_init(&b);
        sl_val *out = NULL;
        if (decode_bytes(s, n, 0, &b) == 0 && b.len == 16) {
            const unsigned char *u = (const unsigned char *)b.data;
            char uuid[37];
            snprintf(uuid, sizeof uuid, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                     u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
            out = sl_v_str(h, uuid);
        }
        sl_buf_free(&b);
        if (out) return out;
    }
    return sl_v_copy(h, id);
}

/* ---- JSON text, read as jansson reads it ---- */

/* True when well-formed JSON text s holds what jansson refuses and sl_v_parse reads: an integer beyond 64
 * bits (jansson: "too big integer"; sl_v_parse: a double) or \u0000 in a string. */
static bool jansson_refuses(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') {
            for (i++; i < n && s[i] != '"'; i++) {
                if (s[i] != '\\') continue;
                if (n - i > 5 && !memcmp(s + i + 1, "u0000", 5)) return true;
                i++;
            }
        } else if (s[i] == '-' || isdigit((unsigned char)s[i])) {
            size_t j = i;
            bool real = false;
            for (; j < n && (isdigit((unsigned char)s[j]) || (s[j] && strchr("+-.eE", s[j]))); j++)
                real = real || s[j] == '.' || s[j] == 'e' || s[j] == 'E';
            char num[32];
            if (!real && j - i >= sizeof num) return true;
            if (!real) {
                snprintf(num, sizeof num, "%.*s", (int)(j - i), s + i);
                errno = 0;
                (void)strtoll(num, NULL, 10);
                if (errno == ERANGE) return true;
            }
            i = j - 1;
        }
    }
    return false;
}

/* JSON text parsed into h, when jansson's json_loadb(text, len, flags) would read it (flags: JSON_DECODE_ANY,
 * or 0 for an object or array only); else NULL with jansson's reason in why (jansson is asked, on this
 * error path only, so the messages stay its own). */
static sl_val *parse_json(sl_vheap *h, const char *text, size_t len, size_t flags, char *why, size_t whysz) {
    sl_jscan_err je;
    sl_val *v = NULL;
    if (sl_jscan_validate(text, len, &je) == 0 && !jansson_refuses(text, len))
        v = sl_v_parse(h, text, len, NULL, 0);
    if (v && !(flags & JSON_DECODE_ANY) && v->kind != SL_V_OBJ && v->kind != SL_V_ARR) v = NULL;
    if (!v) {
        json_error_t e;
        json_t *j = json_loadb(text, len, flags, &e);
        snprintf(why, whysz, "%s", j ? "unreadable JSON" : e.text);
        json_decref(j);
    }
    return v;
}

/* ---- JSON payload expansion (Debezium's JsonSchemaData) ---- */

static sl_val *infer(const outbox *o, sl_vheap *h, const char *key, sl_val *v, char *err, size_t errsz);

static sl_val *opt_prim(sl_vheap *h, const char *type) { return sl_vschema_prim(h, type, true); }

/* A new schema {"type": "struct", "fields": [], "optional": optional}. */
static sl_val *struct_schema(sl_vheap *h, bool optional) {
    sl_val *s = sl_v_obj(h, 5);
    sl_v_set_ref(h, s, "type", 4, sl_v_str_ref(h, "struct", 6));
    sl_v_set_ref(h, s, "fields", 6, sl_v_arr(h, 4));
    sl_v_set_ref(h, s, "optional", 8, sl_v_bool(h, optional));
    return s;
}

/* A new schema {"type": "array", "items": items, "optional": true}. */
static sl_val *array_schema(sl_vheap *h, sl_val *items) {
    sl_val *s = sl_v_obj(h, 3);
    sl_v_set_ref(h, s, "type", 4, sl_v_str_ref(h, "array", 5));
    sl_v_set_ref(h, s, "items", 5, items);
    sl_v_set_ref(h, s, "optional", 8, sl_v_bool(h, true));
    return s;
}

static bool fits_int32(int64_t i) { return i >= INT32_MIN && i <= INT32_MAX; }

/* Field-by-field union of two struct schemas (left's order, then right's new fields): left changed, or right
 * when left is NULL. right's fields move into left (right is dropped after). */
static sl_val *merge(sl_vheap *h, sl_val *left, sl_val *right) {
    if (!left) return right;
    sl_val *fields = sl_v_get(h, right, "fields");
    for (uint32_t i = 0; fields && fields->kind == SL_V_ARR && i < fields->n; i++) {
        sl_val *f = fields->e[i];
        const char *n = sl_v_strval(h, sl_v_get(h, f, "field"), NULL);
        sl_val *old = sl_vschema_field(h, left, n);
        const char *ot = old ? sl_v_strval(h, sl_v_get(h, old, "type"), NULL) : NULL;
        const char *nt = sl_v_strval(h, sl_v_get(h, f, "type"), NULL);
        if (!old || (ot && nt && !strcmp(ot, "bytes") && strcmp(nt, "bytes"))) sl_vschema_put_field(h, left, n, f);
    }
    return left;
}

static sl_val *infer_array(const outbox *o, sl_vheap *h, const char *key, sl_val *a, char *err, size_t errsz) {
    if (a->n == 0) return o->c->json_empty_array == 0 ? NULL : array_schema(h, opt_prim(h, "string"));
    sl_val *ref = NULL;
    for (uint32_t i = 0; i < a->n; i++) {
        sl_val *e = a->e[i];
        sl_vkind k = sl_v_kind(h, e);
        if (k == SL_V_NULL) continue;
        if (!ref) ref = e;
        bool same = k == ref->kind;
        if (same && k == SL_V_INT) same = fits_int32(e->i) == fits_int32(ref->i);
        if (!same) {
            snprintf(err, errsz, "field %s is not a homogenous array", key ? key : "payload");
            return NULL;
        }
    }
    sl_val *items = NULL;
    if (ref && ref->kind == SL_V_OBJ) {
        for (uint32_t i = 0; i < a->n; i++) {
            if (a->e[i]->kind != SL_V_OBJ) continue;
            sl_val *s = infer(o, h, key, a->e[i], err, errsz);
            if (!s) return NULL;
            items = merge(h, items, s);
        }
    } else {
        items = ref ? infer(o, h, NULL, ref, err, errsz) : NULL;
        if (!items) {
            if (!*err) snprintf(err, errsz, "array %s has unrecognized member schema", key ? key : "payload");
            return NULL;
        }
    }
    return array_schema(h, items);
}

/* The Connect schema of JSON value v (NULL: left out, or an error when err is set). */
static sl_val *infer(const outbox *o, sl_vheap *h, const char *key, sl_val *v, char *err, size_t errsz) {
    switch (sl_v_kind(h, v)) {
    case SL_V_STR: return opt_prim(h, "string");
    case SL_V_BOOL: return opt_prim(h, "boolean");
    case SL_V_INT: return opt_prim(h, fits_int32(v->i) ? "int32" : "int64");
    case SL_V_REAL: return opt_prim(h, "float64");
    case SL_V_NULL: return o->c->json_null ? opt_prim(h, "bytes") : NULL;
    case SL_V_ARR: return infer_array(o, h, key, v, err, errsz);
    case SL_V_OBJ: {
        sl_val *s = struct_schema(h, true);
        if (key && *key) sl_v_set_ref(h, s, "name", 4, sl_v_str(h, key));
        for (uint32_t i = 0; i < v->n; i++) {
            const char *k = v->m[i].name;
            char fk[512];
            snprintf(fk, sizeof fk, "%s%s%s", key && *key ? key : "", key && *key ? "." : "", k);
            sl_val *fs = infer(o, h, fk, v->m[i].v, err, errsz);
            if (*err) return NULL;
            if (fs && !sl_vschema_field(h, s, k)) sl_vschema_put_field(h, s, k, fs);
        }
        return s;
    }
    case SL_V_LAZY: break;
    }
    return NULL;
}

/* v shaped by schema s (Connect Struct semantics: every schema field, null when absent), a new value. */
static sl_val *conform(sl_vheap *h, sl_val *v, sl_val *s) {
    const char *t = sl_v_strval(h, sl_v_get(h, s, "type"), NULL);
    if (sl_v_is_null(h, v) || !t) return sl_v_null(h);
    if (!strcmp(t, "struct") && sl_v_kind(h, v) == SL_V_OBJ) {
        sl_val *fields = sl_v_get(h, s, "fields");
        uint32_t nf = fields && fields->kind == SL_V_ARR ? fields->n : 0;
        sl_val *out = sl_v_obj(h, nf);
        for (uint32_t i = 0; i < nf; i++) {
            size_t len;
            const char *n = sl_v_strval(h, sl_v_get(h, fields->e[i], "field"), &len);
            if (n) sl_v_set_ref(h, out, n, len, conform(h, sl_v_get(h, v, n), fields->e[i]));
        }
        return out;
    }
    if (!strcmp(t, "array") && sl_v_kind(h, v) == SL_V_ARR) {
        sl_val *out = sl_v_arr(h, v->n), *items = sl_v_get(h, s, "items");
        for (uint32_t i = 0; i < v->n; i++) sl_v_push(h, out, conform(h, v->e[i], items));
        return out;
    }
    return sl_v_copy(h, v);
}

/* Expands a JSON text (object or array) into value + schema named key; false (err set) when it cannot. */
static bool expand_json(const outbox *o, sl_vheap *h, const char *key, sl_val *text, sl_val **val, sl_val **schema,
                        char *err, size_t errsz) {
    const char *s = sl_v_strval(h, text, NULL);
    if (!s || (s[0] != '{' && s[0] != '[')) {
        snprintf(err, errsz, "payload does not start with { or [");
        return false;
    }
    char why[JSON_ERROR_TEXT_LENGTH];
    sl_val *doc = parse_json(h, s, strlen(s), JSON_DECODE_ANY, why, sizeof why);
    if (!doc) {
        snprintf(err, errsz, "payload is not JSON: %s", why);
        return false;
    }
    err[0] = 0;
    sl_val *sc = infer(o, h, key, doc, err, errsz);
    if (sc) {
        *schema = sc;
        *val = conform(h, doc, sc);
        return true;
    }
    if (!*err) snprintf(err, errsz, "payload has no schema");
    return false;
}

/* ---- timestamps ---- */

/* ISO-8601 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm)" to epoch ms; false when it is not one. */
static bool iso_ms(const char *s, int64_t *ms) {
    int y, mo, d, h, mi, se, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || !n) return false;
    const char *p = s + n;
    int64_t frac_ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3) frac_ms = frac_ms * 10 + (*p - '0');
        for (; digits < 3; digits++) frac_ms *= 10;
    }
    int off = 0;
    if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) < 1) return false;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
    } else if (*p && *p != 'Z') {
        return false;
    }
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
    *ms = ((int64_t)timegm(&tm) - off) * 1000 + frac_ms;
    return true;
}

/* The record timestamp from table.field.event.timestamp; SL_X_ERROR as Debezium for unsupported types. */
static int event_ts(const outbox *o, sl_vheap *h, sl_val *es, sl_val *ev, int64_t *ts, char *err, size_t errsz) {
    const char *f = o->c->f_ts;
    if (!f || !*f) return SL_X_KEEP;
    sl_val *fs = es ? sl_vschema_field(h, es, f) : NULL;
    if (es && !fs) {
        snprintf(err, errsz, "unable to find timestamp field %s in event", f);
        return SL_X_ERROR;
    }
    sl_val *v = sl_v_get(h, ev, f);
    if (sl_v_is_null(h, v)) return SL_X_KEEP;
    const char *name = sl_v_strval(h, sl_v_get(h, fs, "name"), NULL);
    int64_t div = 1;
    if (name && (!strcmp(name, "io.debezium.time.MicroTimestamp"))) div = 1000;
    else if (name && !strcmp(name, "io.debezium.time.NanoTimestamp")) div = 1000000;
    else if (fs && (!name || (strcmp(name, "io.debezium.time.Timestamp") &&
                              strcmp(name, "org.apache.kafka.connect.data.Timestamp") &&
                              strcmp(name, "io.debezium.time.ZonedTimestamp")))) {
        snprintf(err, errsz, "unsupported field type %s%s for event timestamp (field %s)", name ? name : "",
                 name ? "" : " (without logical schema name)", f);
        return SL_X_ERROR;
    }
    if (sl_v_kind(h, v) == SL_V_INT) {
        *ts = v->i / div;
        return SL_X_KEEP;
    }
    const char *s = sl_v_strval(h, v, NULL);
    if (s && iso_ms(s, ts)) return SL_X_KEEP;
    snprintf(err, errsz, "event timestamp field %s is neither an integer nor an ISO-8601 timestamp", f);
    return SL_X_ERROR;
}

/* ---- routing one event ---- */

/* The routed value schema's name: Debezium inserts the route value before the last name segment. */
static sl_val *value_schema_name(sl_vheap *h, sl_val *es, const char *routed) {
    const char *n = sl_v_strval(h, sl_v_get(h, es, "name"), NULL);
    if (!n) return sl_v_str(h, routed);
    const char *dot = strrchr(n, '.');
    char buf[1024];
    if (dot) snprintf(buf, sizeof buf, "%.*s%s.%s", (int)(dot - n + 1), n, routed, dot + 1);
    else snprintf(buf, sizeof buf, "%s.%s", routed, n);
    return sl_v_str(h, buf);
}

/* True when column `col` exists in the row (its schema es, or the value when schemaless). */
static bool has_col(sl_vheap *h, sl_val *es, sl_val *ev, const char *col) {
    return es ? sl_vschema_field(h, es, col) != NULL : sl_v_get(h, ev, col) != NULL;
}

/* The columns the router needs must exist (Debezium's ConnectExceptions). */
static int check_columns(const outbox *o, sl_vheap *h, sl_val *es, sl_val *ev, char *err, size_t errsz) {
    const outbox_conf *c = o->c;
    const char *what = NULL, *col = NULL;
    if (!has_col(h, es, ev, c->f_payload)) what = "payload", col = c->f_payload;
    else if (!has_col(h, es, ev, c->f_id)) what = "event-id", col = c->f_id;
    else if (c->f_key && *c->f_key && !has_col(h, es, ev, c->f_key)) what = "event key", col = c->f_key;
    sl_val *rv = sl_v_get(h, ev, c->route_by);
    if (!what && sl_v_kind(h, rv) != SL_V_STR) {
        snprintf(err, errsz, "route.by.field %s is %s in the event", c->route_by, rv ? "not a string" : "missing");
        return SL_X_ERROR;
    }
    for (int i = 0; !what && i < o->nextras; i++)
        if (!has_col(h, es, ev, o->extras[i].col) && c->additional_missing == 0)
            what = "additional (table.fields.additional.placement)", col = o->extras[i].col;
    if (what) {
        snprintf(err, errsz, "unable to find %s field %s in event", what, col);
        return SL_X_ERROR;
    }
    return SL_X_KEEP;
}

/* The payload column (its schema in *ps, NULL when schemaless), expanded from JSON text when asked. */
static sl_val *event_payload(const outbox *o, sl_vheap *h, sl_val *es, sl_val *ev, sl_val **ps) {
    const outbox_conf *c = o->c;
    sl_val *payload = sl_v_get(h, ev, c->f_payload);
    *ps = sl_xdbz_field_schema(h, es ? sl_vschema_field(h, es, c->f_payload) : NULL);
    if (c->expand_json && sl_v_kind(h, payload) == SL_V_STR) {
        sl_val *v = NULL, *s = NULL;
        char why[256] = "";
        if (expand_json(o, h, c->f_payload, payload, &v, &s, why, sizeof why)) {
            *ps = s;
            return v;
        }
        SL_WARN("xform", "outbox: JSON expansion of the payload failed (%s): left as a string", why);
    } else if (c->expand_json && !sl_v_is_null(h, payload)) {
        SL_WARN("xform", "outbox: table.expand.json.payload is on but the payload is not a string");
    }
    return payload;
}

/* The record value: the payload alone, or with envelope placements a struct {payload, aliases...}. The
 * payload and its schema ps are placed as they are (they are the caller's to give). */
static void event_value(const outbox *o, sl_vheap *h, sl_val *es, sl_val *ev, sl_val *payload, sl_val *ps,
                        sl_val **value, sl_val **vs) {
    const outbox_conf *c = o->c;
    if (!o->envelope) {
        *value = payload;
        *vs = ps;
        return;
    }
    *value = sl_v_obj(h, (uint32_t)o->nextras + 1);
    sl_v_set_ref(h, *value, "payload", 7, payload ? payload : sl_v_null(h));
    *vs = NULL;
    if (es) {
        *vs = struct_schema(h, false);
        sl_v_set_ref(h, *vs, "name", 4,
                     value_schema_name(h, es, sl_v_strval(h, sl_v_get(h, ev, c->route_by), NULL)));
        sl_val *ver = c->f_version && *c->f_version ? sl_v_get(h, ev, c->f_version) : NULL;
        if (sl_v_kind(h, ver) == SL_V_INT) sl_v_set_ref(h, *vs, "version", 7, sl_v_copy(h, ver));
        sl_vschema_put_field(h, *vs, "payload", ps ? ps : opt_prim(h, "string"));
    }
    for (int i = 0; i < o->nextras; i++) {
        const extra *x = &o->extras[i];
        if (x->place != PLACE_ENVELOPE || !has_col(h, es, ev, x->col)) continue;
        sl_val *v = sl_v_get(h, ev, x->col);
        sl_v_set(h, *value, x->alias, sl_v_is_null(h, v) ? sl_v_null(h) : sl_v_copy(h, v));
        if (*vs) sl_vschema_put_field(h, *vs, x->alias, sl_v_clone(h, sl_vschema_field(h, es, x->col)));
    }
}

/*
 * Turns r into the event of outbox row ev (struct schema es, NULL when schemaless) whose change event
 * had timestamp def_ts. The row's values move into the event (r's old value is dropped).
 */
static int route_event(outbox *o, sl_xrec *r, sl_val *es, sl_val *ev, int64_t def_ts, char *err, size_t errsz) {
    const outbox_conf *c = o->c;
    sl_vheap *h = r->heap;
    int64_t ts = def_ts;
    if (check_columns(o, h, es, ev, err, errsz) == SL_X_ERROR || event_ts(o, h, es, ev, &ts, err, errsz) == SL_X_ERROR)
        return SL_X_ERROR;
    sl_val *ps, *payload = event_payload(o, h, es, ev, &ps);
    sl_val *value, *vs;
    event_value(o, h, es, ev, payload, ps, &value, &vs);

    /* headers: id, then header placements; partition placement */
    sl_xrec_add_vheader(r, "id", render_id(h, sl_v_get(h, ev, c->f_id), es ? sl_vschema_field(h, es, c->f_id) : NULL));
    r->partition = -1;
    for (int i = 0; i < o->nextras; i++) {
        const extra *x = &o->extras[i];
        sl_val *v = sl_v_get(h, ev, x->col);
        if (!has_col(h, es, ev, x->col)) continue; /* missing, ignored */
        if (x->place == PLACE_HEADER) sl_xrec_add_vheader(r, x->alias, sl_v_is_null(h, v) ? NULL : sl_v_copy(h, v));
        else if (x->place == PLACE_PARTITION && sl_v_kind(h, v) == SL_V_INT) r->partition = (int32_t)v->i;
    }

    bool empty = sl_v_is_null(h, payload);
    const char *s = sl_v_strval(h, payload, NULL);
    if (s) empty = strspn(s, " \t\r\n\f\v") == strlen(s);
    if (empty && c->tombstone_on_empty) value = vs = NULL;
    r->vvalue = value;
    r->vvalue_schema = vs;
    sl_val *kfs = es && c->f_key && *c->f_key ? sl_vschema_field(h, es, c->f_key) : NULL;
    sl_val *key = c->f_key && *c->f_key ? sl_v_get(h, ev, c->f_key) : NULL;
    r->vkey = sl_v_is_null(h, key) ? NULL : sl_v_copy(h, key);
    r->vkey_schema = kfs ? sl_xdbz_field_schema(h, kfs) : key ? sl_vschema_prim(h, "string", false) : NULL;
    char *topic = route_topic(o, sl_v_strval(h, sl_v_get(h, ev, c->route_by), NULL));
    sl_xrec_set_topic(r, topic);
    sl_free(topic);
    r->ts_ms = ts;
    return SL_X_KEEP;
}

/* ---- purge bookkeeping ---- */

/* Remembers the id of the emitted row of table `source` (a Debezium source block); idfs: the id's field
 * schema. The SQL writes integer and string ids; any other id is kept as null (NULL in the statement). */
static void remember(outbox *o, sl_vheap *h, sl_val *source, sl_val *id, sl_val *idfs) {
    const char *conn = sl_v_strval(h, sl_v_get(h, source, "connector"), NULL);
    const char *db = sl_v_strval(h, sl_v_get(h, source, "db"), NULL);
    const char *schema = sl_v_strval(h, sl_v_get(h, source, "schema"), NULL);
    const char *table = sl_v_strval(h, sl_v_get(h, source, "table"), NULL);
    if (!conn || !table || sl_v_is_null(h, id)) return;
    char dialect = !strcmp(conn, "postgresql") ? 'p' : 'm';
    const char *qual = dialect == 'p' ? schema : db;
    pending *p = NULL;
    for (int i = 0; i < o->npend && !p; i++)
        if (!strcmp(o->pend[i].table, table) && !strcmp(o->pend[i].schema ? o->pend[i].schema : "", qual ? qual : ""))
            p = &o->pend[i];
    if (!p) {
        o->pend = sl_realloc(o->pend, (size_t)(o->npend + 1) * sizeof *o->pend);
        p = &o->pend[o->npend++];
        p->schema = qual ? sl_strdup(qual) : NULL;
        p->table = sl_strdup(table);
        p->dialect = dialect;
        p->col = sl_strdup(o->c->f_id);
        p->ids = json_array();
    }
    const char *type = sl_v_strval(h, sl_v_get(h, idfs, "type"), NULL);
    size_t n;
    const char *s = sl_v_strval(h, id, &n);
    json_t *v = sl_v_kind(h, id) == SL_V_INT ? json_integer((json_int_t)id->i)
                : s                          ? json_stringn_nocheck(s, n)
                                             : json_null();
    json_array_append_new(p->ids, json_pack("{s:o,s:b}", "v", v, "bytes", type && !strcmp(type, "bytes")));
}

static void put_ident(sl_buf *out, char dialect, const char *id) {
    char q = dialect == 'p' ? '"' : '`';
    sl_buf_putc(out, q);
    for (const char *p = id; *p; p++) {
        if (*p == q) sl_buf_putc(out, q);
        sl_buf_putc(out, *p);
    }
    sl_buf_putc(out, q);
}

static void put_literal(sl_buf *out, char dialect, const json_t *e) {
    const json_t *v = json_object_get(e, "v");
    if (json_is_integer(v)) {
        sl_buf_put_i64(out, (int64_t)json_integer_value(v));
        return;
    }
    const char *s = json_string_value(v);
    if (!s) {
        sl_buf_puts(out, "NULL");
        return;
    }
    if (json_is_true(json_object_get(e, "bytes"))) {
        sl_buf b;
        sl_buf_init(&b);
        decode_bytes(s, strlen(s), 0, &b);
        sl_buf_puts(out, dialect == 'p' ? "'\\x" : "X'");
        for (size_t i = 0; i < b.len; i++) sl_buf_printf(out, "%02x", (unsigned char)b.data[i]);
        sl_buf_puts(out, dialect == 'p' ? "'::bytea" : "'");
        sl_buf_free(&b);
        return;
    }
    sl_buf_putc(out, '\'');
    for (; *s; s++) {
        if (*s == '\'') sl_buf_putc(out, '\'');
        if (*s == '\\' && dialect == 'm') sl_buf_putc(out, '\\');
        sl_buf_putc(out, *s);
    }
    sl_buf_putc(out, '\'');
}

int sl_outbox_purge_sql(void *state, char dialect, sl_buf *out) {
    outbox *o = state;
    int n = 0;
    for (int i = 0; i < o->npend; i++) {
        pending *p = &o->pend[i];
        if (p->dialect != dialect || json_array_size(p->ids) == 0) continue;
        sl_buf_puts(out, "DELETE FROM ");
        if (p->schema) {
            put_ident(out, dialect, p->schema);
            sl_buf_putc(out, '.');
        }
        put_ident(out, dialect, p->table);
        sl_buf_puts(out, " WHERE ");
        put_ident(out, dialect, p->col);
        sl_buf_puts(out, " IN (");
        size_t k;
        json_t *e;
        json_array_foreach(p->ids, k, e) {
            if (k) sl_buf_putc(out, ',');
            put_literal(out, dialect, e);
            n++;
        }
        sl_buf_puts(out, ");");
    }
    return n;
}

/* Runs sql on the PostgreSQL connection (made on first use, dropped after an error). */
static int exec_pg(outbox *o, const char *sql) {
    if (!o->pgc) {
        char port[16];
        snprintf(port, sizeof port, "%d", o->port ? o->port : 5432);
        const char *keys[] = {"host", "port", "user", "password", "dbname", "application_name", NULL};
        const char *vals[] = {o->host, port, o->user, o->password, o->dbname, "sluice-outbox-purge", NULL};
        o->pgc = PQconnectdbParams(keys, vals, 0);
    }
    int rc = -1;
    if (PQstatus(o->pgc) != CONNECTION_OK) {
        SL_WARN("xform", "outbox purge: cannot connect to PostgreSQL: %s", PQerrorMessage(o->pgc));
    } else {
        PGresult *res = PQexec(o->pgc, sql);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) rc = 0;
        else SL_WARN("xform", "outbox purge failed: %s", PQerrorMessage(o->pgc));
        PQclear(res);
    }
    if (rc < 0) {
        PQfinish(o->pgc);
        o->pgc = NULL;
    }
    return rc;
}

/* The same on MySQL/MariaDB (the statements qualify tables by database). */
static int exec_my(outbox *o, const char *sql) {
    int rc = -1;
    if (!o->myc) {
        o->myc = mysql_init(NULL);
        if (!mysql_real_connect(o->myc, o->host, o->user, o->password, NULL, (unsigned)(o->port ? o->port : 3306),
                                NULL, CLIENT_MULTI_STATEMENTS)) {
            SL_WARN("xform", "outbox purge: cannot connect to MySQL/MariaDB: %s", mysql_error(o->myc));
            goto out;
        }
    }
    if (mysql_query(o->myc, sql)) {
        SL_WARN("xform", "outbox purge failed: %s", mysql_error(o->myc));
        goto out;
    }
    rc = 0;
    do {
        MYSQL_RES *res = mysql_store_result(o->myc);
        if (res) mysql_free_result(res);
        if (mysql_errno(o->myc)) rc = -1;
    } while (mysql_next_result(o->myc) == 0);
out:
    if (rc < 0) {
        mysql_close(o->myc);
        o->myc = NULL;
    }
    return rc;
}

int sl_outbox_durable(void *state) {
    outbox *o = state;
    int total = 0;
    static const char dialects[] = {'p', 'm'};
    for (int d = 0; d < 2; d++) {
        sl_buf sql;
        sl_buf_init(&sql);
        int n = sl_outbox_purge_sql(o, dialects[d], &sql);
        int rc = n ? (dialects[d] == 'p' ? exec_pg(o, sl_buf_cstr(&sql)) : exec_my(o, sl_buf_cstr(&sql))) : 0;
        sl_buf_free(&sql);
        if (rc < 0) return -1;
        total += n;
        for (int i = 0; i < o->npend; i++)
            if (o->pend[i].dialect == dialects[d]) json_array_clear(o->pend[i].ids);
    }
    return total;
}

/* A failed purge is logged by sl_outbox_durable and keeps its ids: the next durable point tries again. */
static void outbox_durable(void *state) { (void)sl_outbox_durable(state); }

/* ---- table-less outbox: logical decoding messages ---- */

static bool is_message(sl_xrec *r) {
    sl_vheap *h = r->heap;
    if (sl_v_kind(h, r->vvalue) != SL_V_OBJ) return false;
    if (r->vvalue_schema) {
        const char *n = sl_v_strval(h, sl_v_get(h, r->vvalue_schema, "name"), NULL);
        return n && strlen(n) >= 12 && !strcmp(n + strlen(n) - 12, "MessageValue");
    }
    const char *op = sl_v_strval(h, sl_v_get(h, r->vvalue, "op"), NULL);
    return op && !strcmp(op, "m") && sl_v_kind(h, sl_v_get(h, r->vvalue, "message")) == SL_V_OBJ;
}

static bool prefix_accepted(const outbox *o, const char *prefix) {
    return sl_list_has(o->c->message_prefix, "*") || (prefix && sl_list_has(o->c->message_prefix, prefix));
}

/* The event schema of a message event: inferred from its members (the payload expanded). */
static sl_val *message_schema(const outbox *o, sl_vheap *h, const char *topic, sl_val *ev, char *err, size_t errsz) {
    char name[512];
    snprintf(name, sizeof name, "%s.Value", topic);
    sl_val *s = struct_schema(h, false);
    sl_v_set_ref(h, s, "name", 4, sl_v_str(h, name));
    for (uint32_t i = 0; i < ev->n; i++) {
        const char *k = ev->m[i].name;
        sl_val *v = ev->m[i].v, *fs = sl_v_is_null(h, v) ? opt_prim(h, "string") : infer(o, h, k, v, err, errsz);
        if (*err) return NULL;
        if (fs && o->c->f_ts && !strcmp(k, o->c->f_ts)) { /* epoch ms, or an ISO-8601 string */
            const char *tn = sl_v_kind(h, v) == SL_V_STR ? "io.debezium.time.ZonedTimestamp"
                                                         : "org.apache.kafka.connect.data.Timestamp";
            sl_v_set_ref(h, fs, "name", 4, sl_v_str_ref(h, tn, strlen(tn)));
        }
        if (fs) sl_vschema_put_field(h, s, k, fs);
    }
    return s;
}

/* A message's members have fixed names (id, aggregatetype, aggregateid, type, payload, timestamp); a router
 * whose options name the columns of an outbox table otherwise finds them under those names too. */
static void canonical_names(const outbox *o, sl_vheap *h, sl_val *ev) {
    const outbox_conf *c = o->c;
    const char *map[][2] = {{c->f_id, "id"},     {c->f_key, "aggregateid"}, {c->route_by, "aggregatetype"},
                            {c->f_type, "type"}, {c->f_payload, "payload"}, {c->f_ts, "timestamp"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const char *name = map[i][0], *canon = map[i][1];
        if (name && *name && strcmp(name, canon) && !sl_v_get(h, ev, name) && sl_v_get(h, ev, canon))
            sl_v_set(h, ev, name, sl_v_get(h, ev, canon));
    }
    if (c->f_ts && *c->f_ts && !sl_v_get(h, ev, c->f_ts)) /* optional: the change event's time */
        sl_v_set(h, ev, c->f_ts, sl_v_null(h));
}

static int route_message(outbox *o, sl_xrec *r, char *err, size_t errsz) {
    sl_vheap *h = r->heap;
    sl_val *msg = sl_v_get(h, r->vvalue, "message");
    const char *prefix = sl_v_strval(h, sl_v_get(h, msg, "prefix"), NULL);
    if (!prefix_accepted(o, prefix)) return SL_X_KEEP;
    const char *cs = sl_v_strval(h, sl_v_get(h, msg, "content"), NULL);
    sl_val *cfs = sl_vschema_field(h, sl_vschema_field(h, r->vvalue_schema, "message"), "content");
    const char *type = sl_v_strval(h, sl_v_get(h, cfs, "type"), NULL);
    int mode = type && !strcmp(type, "bytes") ? 0 : o->bin_mode;
    sl_buf b;
    sl_buf_init(&b);
    if (!cs || decode_bytes(cs, strlen(cs), mode, &b) < 0) {
        sl_buf_free(&b);
        snprintf(err, errsz, "outbox message (prefix %s): content is not %s bytes", prefix ? prefix : "",
                 mode == 2 ? "hex" : "base64");
        return SL_X_ERROR;
    }
    char why[JSON_ERROR_TEXT_LENGTH];
    sl_val *ev = parse_json(h, b.data ? b.data : "", b.len, 0, why, sizeof why);
    sl_buf_free(&b);
    if (sl_v_kind(h, ev) != SL_V_OBJ) {
        snprintf(err, errsz, "outbox message (prefix %s): content is not a JSON object: %s", prefix ? prefix : "",
                 ev ? "another JSON value" : why);
        return SL_X_ERROR;
    }
    sl_val *hdrs = sl_v_get(h, ev, "headers");
    sl_v_del(h, ev, "headers");
    canonical_names(o, h, ev);
    err[0] = 0;
    sl_val *es = r->vvalue_schema ? message_schema(o, h, r->topic, ev, err, errsz) : NULL;
    if (*err) return SL_X_ERROR;
    sl_val *tsv = sl_v_get(h, r->vvalue, "ts_ms");
    int64_t ts = sl_v_kind(h, tsv) == SL_V_INT ? tsv->i : r->ts_ms;
    for (uint32_t i = 0; sl_v_kind(h, hdrs) == SL_V_OBJ && i < hdrs->n; i++)
        sl_xrec_add_vheader(r, hdrs->m[i].name, sl_v_is_null(h, hdrs->m[i].v) ? NULL : sl_v_copy(h, hdrs->m[i].v));
    /* its payload is JSON already: shaped by its inferred schema, as an expanded payload */
    return route_event(o, r, es, es ? conform(h, ev, es) : ev, ts, err, errsz);
}

/* ---- apply ---- */

static int outbox_apply(void *st, sl_xrec *r, char *err, size_t errsz) {
    outbox *o = st;
    sl_vheap *h = r->heap;
    if (sl_v_is_null(h, r->vvalue)) return SL_X_DROP; /* tombstones are ignored */
    if (o->c->message_prefix && *o->c->message_prefix && is_message(r)) return route_message(o, r, err, errsz);
    if (o->c->message_only || !sl_xdbz_is_envelope(r)) return SL_X_KEEP;
    const char *op = sl_v_strval(h, sl_v_get(h, r->vvalue, "op"), NULL);
    if (!op || !strcmp(op, "d") || !strcmp(op, "t")) return SL_X_DROP;
    if (!strcmp(op, "u")) {
        if (o->c->invalid_op == INV_FATAL) {
            snprintf(err, errsz, "unexpected update of an outbox row (table.op.invalid.behavior=fatal)");
            return SL_X_ERROR;
        }
        if (o->c->invalid_op == INV_ERROR) SL_ERR("xform", "outbox: unexpected update message ignored");
        else SL_WARN("xform", "outbox: unexpected update message ignored");
        return SL_X_DROP;
    }
    sl_val *env = r->vvalue; /* route_event replaces r's value */
    sl_val *after = sl_v_get(h, env, "after");
    sl_val *es = sl_vschema_field(h, r->vvalue_schema, "after");
    if (sl_v_kind(h, after) != SL_V_OBJ) {
        snprintf(err, errsz, "outbox event without an after state (op %s)", op);
        return SL_X_ERROR;
    }
    sl_val *tsv = sl_v_get(h, env, "ts_ms");
    int rc = route_event(o, r, es, after, sl_v_kind(h, tsv) == SL_V_INT ? tsv->i : r->ts_ms, err, errsz);
    if (rc == SL_X_KEEP && o->c->purge == PURGE_DURABLE)
        remember(o, h, sl_v_get(h, env, "source"), sl_v_get(h, after, o->c->f_id), sl_vschema_field(h, es, o->c->f_id));
    return rc;
}

const sl_xform_ops sl_xform_outbox_ops = {
    .name = "outbox",
    .aliases = "io.debezium.transforms.outbox.EventRouter",
    .doc = "Debezium's outbox event router, plus sluice's table-less outbox on PostgreSQL logical decoding "
           "messages (see docs/outbox.md).",
    .props = outbox_props,
    .settings_size = sizeof(outbox_conf),
    .init = outbox_init,
    .apply_v = outbox_apply,
    .free = outbox_free,
    .durable = outbox_durable,
};
