/* REST routing and body checks (see route.h). Bytes from the network: every length is checked first. */
#include "rest/route.h"
#include "core/conf.h"
#include "core/plugin.h"
#include "runtime/connector.h"
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct route_def {
    const char *method, *pattern;
    sl_rest_body body;
    const char *name;
} route_def;

static const route_def routes[SL_ROUTE_COUNT] = {
#define SL_ROUTE_DEF(id, method, pattern, body) {method, pattern, SL_BODY_##body, #id},
    SL_REST_ROUTES(SL_ROUTE_DEF)
#undef SL_ROUTE_DEF
};

const char *sl_rest_route_name(sl_route route) { return route < SL_ROUTE_COUNT ? routes[route].name : "?"; }

static int fail(int status, char *msg, size_t msgsz, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(int status, char *msg, size_t msgsz, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
    return status;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (size outsz, NUL-terminated); plus: '+' is a space (query strings).
 * Returns the decoded length, or -1 for a bad escape, a NUL byte or no room. */
static long decode(const char *s, size_t n, bool plus, char *out, size_t outsz) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3) return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c == 0 || o + 1 >= outsz) return -1;
        out[o++] = c;
    }
    out[o] = 0;
    return (long)o;
}

/* Splits a path into at most 8 raw segments (a trailing '/' is ignored). Returns the count, -1 when too many. */
static int split(const char *path, size_t len, const char *seg[8], size_t seglen[8]) {
    if (len == 0 || path[0] != '/') return -1;
    if (len > 1 && path[len - 1] == '/') len--;
    int n = 0;
    size_t i = 1;
    if (len == 1) return 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && path[j] != '/') j++;
        if (n == 8) return -1;
        seg[n] = path + i, seglen[n] = j - i, n++;
        i = j + 1;
    }
    return n;
}

/* Matches the raw segments against one pattern; captures {name} and {task}. */
static bool match(const char *pattern, const char *seg[8], const size_t seglen[8], int nseg, const char **name,
                  size_t *namelen, const char **task, size_t *tasklen) {
    int i = 0;
    for (const char *p = pattern + 1; *p; i++) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (i >= nseg) return false;
        if (n == 6 && strncmp(p, "{name}", 6) == 0) *name = seg[i], *namelen = seglen[i];
        else if (n == 6 && strncmp(p, "{task}", 6) == 0) *task = seg[i], *tasklen = seglen[i];
        else if (seglen[i] != n || strncmp(seg[i], p, n) != 0) return false;
        p = e ? e + 1 : p + n;
    }
    return i == nseg;
}

static bool query_true(const char *v) { return strcasecmp(v, "true") == 0; }

static int parse_query(const char *q, size_t len, sl_rest_req *r, char *msg, size_t msgsz) {
    char key[64], val[64];
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && q[j] != '&') j++;
        const char *eq = memchr(q + i, '=', j - i);
        size_t klen = eq ? (size_t)(eq - (q + i)) : j - i;
        const char *v = eq ? eq + 1 : q + j;
        size_t vlen = eq ? (size_t)(q + j - v) : 0;
        /* Parameters sluice does not know are ignored, as Connect ignores them; long ones cannot be known. */
        if (klen < sizeof key && vlen < sizeof val) {
            if (decode(q + i, klen, true, key, sizeof key) < 0 || decode(v, vlen, true, val, sizeof val) < 0)
                return fail(400, msg, msgsz, "Malformed query string");
            if (strcmp(key, "expand") == 0) {
                /* Connect answers with the map whenever expand is given (unknown values: empty objects);
                 * "status,info" is taken as both. */
                r->expand = true;
                for (char *save = NULL, *t = strtok_r(val, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                    if (strcmp(t, "status") == 0) r->expand_status = true;
                    else if (strcmp(t, "info") == 0) r->expand_info = true;
                }
            } else if (strcmp(key, "includeTasks") == 0) r->include_tasks = query_true(val);
            else if (strcmp(key, "onlyFailed") == 0) r->only_failed = query_true(val);
        }
        i = j + 1;
    }
    return 0;
}

int sl_rest_check_name(const char *name, char *msg, size_t msgsz) {
    size_t n = strlen(name);
    if (n == 0) return fail(-1, msg, msgsz, "Connector name must not be empty");
    if (n > SL_REST_NAME_MAX) return fail(-1, msg, msgsz, "Connector name is longer than %d bytes", SL_REST_NAME_MAX);
    if (strchr(name, '/')) return fail(-1, msg, msgsz, "connector name should not contain '/'");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return fail(-1, msg, msgsz, "Connector name must not contain control characters");
    if (isspace((unsigned char)name[0]) || isspace((unsigned char)name[n - 1]))
        return fail(-1, msg, msgsz, "Connector name must not start or end with whitespace");
    json_t *utf8 = json_stringn(name, n);
    json_decref(utf8);
    return utf8 ? 0 : fail(-1, msg, msgsz, "Connector name is not valid UTF-8");
}

int sl_rest_route(const char *method, const char *target, sl_rest_req *r, char *msg, size_t msgsz) {
    memset(r, 0, sizeof *r);
    size_t len = strlen(target);
    if (len > SL_REST_URI_MAX) return fail(414, msg, msgsz, "URI Too Long");
    const char *q = memchr(target, '?', len);
    size_t plen = q ? (size_t)(q - target) : len;
    const char *seg[8];
    size_t seglen[8];
    int nseg = split(target, plen, seg, seglen);
    if (nseg < 0) return fail(404, msg, msgsz, "HTTP 404 Not Found");
    bool path_known = false;
    for (int i = 0; i < SL_ROUTE_COUNT; i++) {
        const char *name = NULL, *task = NULL;
        size_t namelen = 0, tasklen = 0;
        if (!match(routes[i].pattern, seg, seglen, nseg, &name, &namelen, &task, &tasklen)) continue;
        path_known = true;
        if (strcmp(routes[i].method, method) != 0) continue;
        r->route = (sl_route)i;
        r->body = routes[i].body;
        if (name && decode(name, namelen, false, r->name, sizeof r->name) < 0)
            return fail(400, msg, msgsz, "Malformed name in the path (bad %%-escape, NUL byte, or over %d bytes)",
                        SL_REST_NAME_MAX);
        if (name) {
            json_t *utf8 = json_string(r->name);
            json_decref(utf8);
            if (!utf8) return fail(400, msg, msgsz, "Malformed name in the path (not UTF-8)");
        }
        if (task) {
            /* A number, as JAX-RS takes an int path parameter: anything else is no such resource. */
            if (tasklen == 0 || tasklen > 9) return fail(404, msg, msgsz, "HTTP 404 Not Found");
            for (size_t k = 0; k < tasklen; k++)
                if (!isdigit((unsigned char)task[k])) return fail(404, msg, msgsz, "HTTP 404 Not Found");
            r->task = atoi(task);
        }
        return q ? parse_query(q + 1, len - plen - 1, r, msg, msgsz) : 0;
    }
    if (path_known) return fail(405, msg, msgsz, "HTTP 405 Method Not Allowed");
    return fail(404, msg, msgsz, "HTTP 404 Not Found");
}

/* ---- bodies ---- */

/* A config value as text: strings as they are, numbers and booleans spelled out; others rejected. */
static json_t *config_value(const char *key, json_t *v, bool allow_null, char *msg, size_t msgsz) {
    char tmp[64];
    if (json_is_string(v)) {
        if (json_string_length(v) > SL_REST_VALUE_MAX) {
            fail(400, msg, msgsz, "Config value of key '%s' is longer than %d bytes", key, SL_REST_VALUE_MAX);
            return NULL;
        }
        return json_incref(v);
    }
    if (json_is_integer(v)) {
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_string(tmp);
    }
    if (json_is_real(v)) {
        snprintf(tmp, sizeof tmp, "%.17g", json_real_value(v));
        return json_string(tmp);
    }
    if (json_is_boolean(v)) return json_string(json_is_true(v) ? "true" : "false");
    if (json_is_null(v) && allow_null) return json_null();
    fail(400, msg, msgsz, "Config value of key '%s' must be a string%s", key, allow_null ? " or null" : "");
    return NULL;
}

/* A flat config object, normalized. NULL values: dropped, or kept when allow_null. */
static json_t *config_object(json_t *in, bool allow_null, char *msg, size_t msgsz) {
    if (!json_is_object(in)) {
        fail(400, msg, msgsz, "Connector config must be a JSON object of string values");
        return NULL;
    }
    if (json_object_size(in) > SL_REST_CONFIG_KEYS_MAX) {
        fail(400, msg, msgsz, "Connector config has more than %d keys", SL_REST_CONFIG_KEYS_MAX);
        return NULL;
    }
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v) {
        if (!*k || strlen(k) > SL_REST_KEY_MAX) {
            fail(400, msg, msgsz, "Config keys must be 1 to %d bytes long", SL_REST_KEY_MAX);
            goto err;
        }
        if (json_is_null(v) && !allow_null) continue;
        json_t *nv = config_value(k, v, allow_null, msg, msgsz);
        if (!nv) goto err;
        json_object_set_new(out, k, nv);
    }
    return out;
err:
    json_decref(out);
    return NULL;
}

/* config["name"] must be absent or equal name; it is set to name. */
static int claim_name(json_t *config, const char *name, char *msg, size_t msgsz) {
    json_t *n = json_object_get(config, "name");
    if (n && json_is_string(n) && strcmp(json_string_value(n), name) != 0)
        return fail(-1, msg, msgsz, "Connector name configuration (%s) doesn't match connector name in the URL (%s)",
                    json_string_value(n), name);
    json_object_set_new(config, "name", json_string(name));
    return 0;
}

static json_t *create_body(json_t *in, char *msg, size_t msgsz) {
    json_t *name = json_object_get(in, "name"), *config = json_object_get(in, "config");
    if (!json_is_string(name)) {
        fail(400, msg, msgsz, "Connector name must be specified: {\"name\": ..., \"config\": {...}}");
        return NULL;
    }
    if (sl_rest_check_name(json_string_value(name), msg, msgsz) < 0) return NULL;
    if (!config) {
        fail(400, msg, msgsz, "Connector config must be specified: {\"name\": ..., \"config\": {...}}");
        return NULL;
    }
    json_t *cfg = config_object(config, false, msg, msgsz);
    if (!cfg) return NULL;
    json_t *n = json_object_get(cfg, "name");
    if (n && strcmp(json_string_value(n), json_string_value(name)) != 0) {
        fail(400, msg, msgsz, "Connector name configuration (%s) doesn't match connector name (%s)",
             json_string_value(n), json_string_value(name));
        json_decref(cfg);
        return NULL;
    }
    json_object_set_new(cfg, "name", json_incref(name));
    return json_pack("{s:O, s:o}", "name", name, "config", cfg);
}

static json_t *offsets_body(json_t *in, char *msg, size_t msgsz) {
    json_t *list = json_is_object(in) ? json_object_get(in, "offsets") : NULL;
    if (!json_is_array(list) || json_array_size(list) == 0) {
        fail(400, msg, msgsz, "Partitions / offsets need to be provided for an alter offsets request: "
                              "{\"offsets\": [{\"partition\": {...}, \"offset\": {...}}]}");
        return NULL;
    }
    if (json_array_size(list) > SL_REST_OFFSETS_MAX) {
        fail(400, msg, msgsz, "More than %d partitions in one request", SL_REST_OFFSETS_MAX);
        return NULL;
    }
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        json_t *part = json_object_get(item, "partition"), *off = json_object_get(item, "offset");
        if (!json_is_object(item) || !json_is_object(part)) {
            fail(400, msg, msgsz, "offsets[%zu]: \"partition\" must be a JSON object", i);
            return NULL;
        }
        if (off && !json_is_object(off) && !json_is_null(off)) {
            fail(400, msg, msgsz, "offsets[%zu]: \"offset\" must be a JSON object, or null to remove it", i);
            return NULL;
        }
    }
    return json_incref(list);
}

/* A verify run's options: known keys of the right types. */
static json_t *verify_body(json_t *in, char *msg, size_t msgsz) {
    if (!json_is_object(in)) {
        fail(400, msg, msgsz, "Expected the options of the run as a JSON object (or no body)");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v) {
        bool ok = !strcmp(k, "strict_missing") || !strcmp(k, "levels") ? json_is_boolean(v)
                  : !strcmp(k, "until_consistent_seconds") ? json_is_number(v) && json_number_value(v) > 0
                  : !strcmp(k, "max_differences") ? json_is_integer(v) && json_integer_value(v) >= 0
                  : !strcmp(k, "rate") ? json_is_integer(v) && json_integer_value(v) > 0
                                       : false;
        if (!ok) {
            fail(400, msg, msgsz, "verify option '%s': expected until_consistent_seconds (a number > 0), "
                                  "max_differences (an integer >= 0), rate (an integer > 0), strict_missing or levels "
                                  "(true or false)", k);
            return NULL;
        }
    }
    return json_incref(in);
}

json_t *sl_rest_parse_body(const sl_rest_req *r, const char *body, size_t len, int *status, char *msg,
                           size_t msgsz) {
    *status = 400;
    if (r->body == SL_BODY_NONE) return json_null();
    if (r->body == SL_BODY_VERIFY && len == 0) return json_object();
    if (len > SL_REST_BODY_MAX) {
        *status = 413;
        fail(413, msg, msgsz, "Request body over %d bytes", SL_REST_BODY_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *in = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!in) {
        if (len) fail(400, msg, msgsz, "Malformed JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        else fail(400, msg, msgsz, "A JSON request body is required");
        return NULL;
    }
    json_t *out = NULL;
    switch (r->body) {
    case SL_BODY_CREATE:
        if (json_is_object(in)) out = create_body(in, msg, msgsz);
        else fail(400, msg, msgsz, "Expected {\"name\": ..., \"config\": {...}}");
        break;
    case SL_BODY_CONFIG:
        out = config_object(in, false, msg, msgsz);
        if (out && r->route == SL_ROUTE_CONFIG_PUT && claim_name(out, r->name, msg, msgsz) < 0)
            json_decref(out), out = NULL;
        break;
    case SL_BODY_PATCH:
        out = config_object(in, true, msg, msgsz);
        if (out && json_object_get(out, "name") && claim_name(out, r->name, msg, msgsz) < 0)
            json_decref(out), out = NULL;
        break;
    case SL_BODY_OFFSETS:
        out = offsets_body(in, msg, msgsz);
        break;
    case SL_BODY_VERIFY:
        out = verify_body(in, msg, msgsz);
        break;
    case SL_BODY_SIGNAL:
        if (json_is_object(in) && json_is_string(json_object_get(in, "type"))) out = json_incref(in);
        else fail(400, msg, msgsz, "Expected a signal {\"id\": ..., \"type\": \"execute-snapshot\", \"data\": {...}}");
        break;
    case SL_BODY_NONE:
        break;
    }
    json_decref(in);
    return out;
}

/* ---- secrets ---- */

static bool name_in(const char *key, const char *name, const char *aliases) {
    if (strcmp(key, name) == 0) return true;
    for (const char *p = aliases; p && *p;) {
        const char *e = strchr(p, '|');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (strlen(key) == n && strncmp(key, p, n) == 0) return true;
        p = e ? e + 1 : p + n;
    }
    return false;
}

/* key is name, an alias, or ends with ".name" (a pass-through key such as producer.override.<name>). */
static bool table_sensitive(const sl_prop *tbl, const char *key) {
    size_t kl = strlen(key);
    for (const sl_prop *p = tbl; p && p->name; p++) {
        if (!(p->flags & SL_PF_SENSITIVE)) continue;
        if (name_in(key, p->name, p->aliases)) return true;
        size_t nl = strlen(p->name);
        if (kl > nl && key[kl - nl - 1] == '.' && strcmp(key + kl - nl, p->name) == 0) return true;
    }
    return false;
}

bool sl_rest_key_sensitive(const char *key) {
    if (strcasestr(key, "password") || strcasestr(key, "secret") || strcasestr(key, "jaas")) return true;
    if (table_sensitive(sl_core_props, key)) return true;
    for (int i = 0; sl_sources[i]; i++)
        if (table_sensitive(sl_sources[i]->props, key)) return true;
    for (int i = 0; sl_sinks[i]; i++)
        if (table_sensitive(sl_sinks[i]->props, key)) return true;
    return false;
}

void sl_rest_hide_secrets(json_t *config) {
    const char *k;
    json_t *v;
    json_object_foreach(config, k, v) {
        if (sl_rest_key_sensitive(k) && !json_is_null(v)) json_object_set_new(config, k, json_string("[hidden]"));
    }
}
