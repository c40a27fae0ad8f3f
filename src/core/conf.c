/*
 * Config loading (JSON / .properties, secret providers) and the generic
 * property-table setter. See conf.h.
 */
#include "core/conf.h"
#include "core/log.h"
#include "util/buf.h"
#include "util/mem.h"
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void sl_errs_add(sl_errs *e, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sl_log_redact(msg);
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 8;
        e->msg = sl_realloc(e->msg, (size_t)e->cap * sizeof *e->msg);
    }
    e->msg[e->n++] = sl_strdup(msg);
}

void sl_errs_free(sl_errs *e) {
    for (int i = 0; i < e->n; i++) sl_free(e->msg[i]);
    sl_free(e->msg);
    e->msg = NULL, e->n = e->cap = 0;
}

static char *read_file(const char *path, char *errstr, size_t errsz) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errsz, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    sl_buf b;
    sl_buf_init(&b);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) sl_buf_put(&b, tmp, n);
    if (ferror(f)) { /* a directory opens, then fails here (EISDIR) */
        snprintf(errstr, errsz, "cannot read %s: %s", path, strerror(errno));
        fclose(f);
        sl_buf_free(&b);
        return NULL;
    }
    fclose(f);
    sl_buf_cstr(&b);
    return b.data;
}

static sl_config *config_new(const char *origin) {
    sl_config *c = sl_calloc(1, sizeof *c);
    c->origin = sl_strdup(origin ? origin : "-");
    return c;
}

void sl_config_destroy(sl_config *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) sl_free(c->kv[i].key), sl_free(c->kv[i].value);
    sl_free(c->kv);
    sl_free(c->name);
    sl_free(c->origin);
    sl_free(c);
}

static sl_kv *find(const sl_config *c, const char *key) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->kv[i].key, key) == 0) return &c->kv[i];
    return NULL;
}

void sl_config_set(sl_config *c, const char *key, const char *value) {
    sl_kv *kv = find(c, key);
    if (kv) {
        sl_free(kv->value);
        kv->value = sl_strdup(value);
        return;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->kv = sl_realloc(c->kv, (size_t)c->cap * sizeof *c->kv);
    }
    c->kv[c->n++] = (sl_kv){sl_strdup(key), sl_strdup(value), false, false};
}

const char *sl_config_get(const sl_config *c, const char *key) {
    sl_kv *kv = find(c, key);
    return kv ? kv->value : NULL;
}

void sl_config_claim(sl_config *c, const char *key) {
    sl_kv *kv = find(c, key);
    if (kv) kv->used = true;
}

/*
 * A secret file read whole (Docker and Kubernetes mount each secret as one),
 * less one trailing "\n" or "\r\n": echo and editors end a file with one,
 * a password never does. Errors name the config key, the reference and the path.
 */
static char *whole_file(const char *key, const char *ref, const char *path, char *errstr, size_t errsz) {
    char err[768];
    char *text = read_file(path, err, sizeof err);
    if (!text) {
        snprintf(errstr, errsz, "%s: ${%s}: %s", key, ref, err);
        return NULL;
    }
    size_t n = strlen(text);
    if (n && text[n - 1] == '\n') {
        text[--n] = 0;
        if (n && text[n - 1] == '\r') text[--n] = 0;
    }
    return text;
}

static bool regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * ${file:/path}: the whole file; ${file:/path:key}: key of a .properties file
 * (Kafka's FileConfigProvider). A path may itself hold a colon: when the
 * whole spec names a regular file it is the whole-file form, else the spec
 * splits at its last colon.
 */
static char *file_provider(const char *key, const char *spec, char *errstr, size_t errsz) {
    char ref[600];
    snprintf(ref, sizeof ref, "file:%s", spec);
    const char *colon = strrchr(spec, ':');
    if (!colon || regular_file(spec)) return whole_file(key, ref, spec, errstr, errsz);
    if (colon == spec || !colon[1]) {
        snprintf(errstr, errsz, "%s: ${%s}: expected ${file:/path} or ${file:/path:key}", key, ref);
        return NULL;
    }
    char *path = sl_strndup(spec, (size_t)(colon - spec));
    char err[768];
    char *text = read_file(path, err, sizeof err);
    sl_config *p = text ? sl_config_parse_properties(text, path, err, sizeof err) : NULL;
    char *val = NULL;
    if (p) {
        const char *v = sl_config_get(p, colon + 1);
        if (v) val = sl_strdup(v);
        else snprintf(errstr, errsz, "%s: ${%s}: key '%s' not found in %s", key, ref, colon + 1, path);
    } else if (!text) {
        snprintf(errstr, errsz, "%s: ${%s}: %s (and %s is not a file either)", key, ref, err, spec);
    } else {
        snprintf(errstr, errsz, "%s: ${%s}: %s", key, ref, err);
    }
    sl_config_destroy(p);
    sl_free(text);
    sl_free(path);
    return val;
}

/* ${dir:/dir:name}: the file `name` in directory /dir (Kafka's DirectoryConfigProvider), read like a whole file. */
static char *dir_provider(const char *key, const char *spec, char *errstr, size_t errsz) {
    char ref[600];
    snprintf(ref, sizeof ref, "dir:%s", spec);
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1] || strchr(colon + 1, '/')) {
        snprintf(errstr, errsz, "%s: ${%s}: expected ${dir:/directory:file} (a file directly in the directory)",
                 key, ref);
        return NULL;
    }
    size_t dlen = (size_t)(colon - spec);
    char *path = sl_malloc(strlen(spec) + 2);
    snprintf(path, strlen(spec) + 2, "%.*s/%s", (int)dlen, spec, colon + 1);
    char *v = whole_file(key, ref, path, errstr, errsz);
    sl_free(path);
    return v;
}

/* Resolves ${env:NAME}, ${file:/path}, ${file:/path:key} and ${dir:/dir:file} references in the value v of key. */
static char *resolve(const char *key, const char *v, char *errstr, size_t errsz) {
    sl_buf b;
    sl_buf_init(&b);
    const char *p = v;
    for (;;) {
        const char *s = strstr(p, "${");
        if (!s) break;
        const char *e = strchr(s, '}');
        if (!e) break;
        sl_buf_put(&b, p, (size_t)(s - p));
        char *ref = sl_strndup(s + 2, (size_t)(e - s - 2));
        if (strncmp(ref, "env:", 4) == 0) {
            const char *ev = getenv(ref + 4);
            if (!ev) {
                snprintf(errstr, errsz, "%s: environment variable %s is not set", key, ref + 4);
                goto fail;
            }
            sl_buf_puts(&b, ev);
        } else if (strncmp(ref, "file:", 5) == 0 || strncmp(ref, "dir:", 4) == 0) {
            char *fv = ref[0] == 'f' ? file_provider(key, ref + 5, errstr, errsz)
                                     : dir_provider(key, ref + 4, errstr, errsz);
            if (!fv) goto fail;
            sl_buf_puts(&b, fv);
            sl_free(fv);
        } else {
            sl_buf_put(&b, s, (size_t)(e - s + 1)); /* not a provider reference: keep as is */
        }
        sl_free(ref);
        p = e + 1;
        continue;
    fail:
        sl_free(ref);
        sl_buf_free(&b);
        return NULL;
    }
    sl_buf_puts(&b, p);
    sl_buf_cstr(&b);
    return b.data;
}

static int resolve_all(sl_config *c, char *errstr, size_t errsz) {
    for (int i = 0; i < c->n; i++) {
        if (!strstr(c->kv[i].value, "${")) continue;
        char *r = resolve(c->kv[i].key, c->kv[i].value, errstr, errsz);
        if (!r) return -1;
        sl_free(c->kv[i].value);
        c->kv[i].value = r;
    }
    return 0;
}

sl_config *sl_config_parse_json(const char *text, const char *origin, char *errstr, size_t errsz) {
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root) {
        snprintf(errstr, errsz, "%s: malformed JSON at line %d column %d: %s", origin, jerr.line, jerr.column,
                 jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(errstr, errsz, "%s: expected a JSON object {\"name\": ..., \"config\": {...}}", origin);
        json_decref(root);
        return NULL;
    }
    sl_config *c = config_new(origin);
    json_t *cfg = json_object_get(root, "config");
    json_t *name = json_object_get(root, "name");
    if (cfg && !json_is_object(cfg)) {
        snprintf(errstr, errsz, "%s: \"config\" must be an object", origin);
        goto fail;
    }
    if (!cfg) cfg = root; /* a flat object of properties */
    const char *k;
    json_t *v;
    json_object_foreach(cfg, k, v) {
        if (json_is_string(v)) sl_config_set(c, k, json_string_value(v));
        else if (json_is_null(v)) continue;
        else if (json_is_true(v) || json_is_false(v)) sl_config_set(c, k, json_is_true(v) ? "true" : "false");
        else {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            sl_config_set(c, k, s);
            free(s);
        }
    }
    if (name && json_is_string(name)) c->name = sl_strdup(json_string_value(name));
    else if (sl_config_get(c, "name")) c->name = sl_strdup(sl_config_get(c, "name"));
    sl_config_claim(c, "name");
    json_decref(root);
    if (resolve_all(c, errstr, errsz) < 0) {
        sl_config_destroy(c);
        return NULL;
    }
    return c;
fail:
    json_decref(root);
    sl_config_destroy(c);
    return NULL;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

sl_config *sl_config_parse_properties(const char *text, const char *origin, char *errstr, size_t errsz) {
    sl_config *c = config_new(origin);
    char *copy = sl_strdup(text), *save = NULL;
    int lineno = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *l = trim(line);
        if (!*l || *l == '#' || *l == '!') continue;
        char *sep = strpbrk(l, "=:");
        if (!sep) {
            snprintf(errstr, errsz, "%s: line %d: expected key=value", origin, lineno);
            sl_free(copy);
            sl_config_destroy(c);
            return NULL;
        }
        *sep = 0;
        sl_config_set(c, trim(l), trim(sep + 1));
    }
    sl_free(copy);
    if (sl_config_get(c, "name")) c->name = sl_strdup(sl_config_get(c, "name"));
    sl_config_claim(c, "name");
    if (resolve_all(c, errstr, errsz) < 0) {
        sl_config_destroy(c);
        return NULL;
    }
    return c;
}

sl_config *sl_config_load(const char *path, char *errstr, size_t errsz) {
    char *text = read_file(path, errstr, errsz);
    if (!text) return NULL;
    const char *p = text;
    while (isspace((unsigned char)*p)) p++;
    sl_config *c = *p == '{' ? sl_config_parse_json(text, path, errstr, errsz)
                             : sl_config_parse_properties(text, path, errstr, errsz);
    sl_free(text);
    return c;
}

bool sl_list_has(const char *list, const char *s) {
    if (!list) return false;
    size_t n = strlen(s);
    for (const char *p = list; *p;) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && isspace((unsigned char)t[-1])) t--;
        if ((size_t)(t - p) == n && strncmp(p, s, n) == 0) return true;
        p = e;
    }
    return false;
}

static int enum_index(const char *enums, const char *v) {
    int i = 0;
    for (const char *p = enums; *p; i++) {
        const char *e = strchr(p, '|');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (strlen(v) == n && strncasecmp(p, v, n) == 0) return i;
        if (!e) break;
        p = e + 1;
    }
    return -1;
}

/* "a|b|c" -> "a, b, c" */
static void allowed_list(const char *enums, char *out, size_t outsz) {
    size_t o = 0;
    for (const char *p = enums; *p && o + 3 < outsz; p++) {
        if (*p == '|') out[o++] = ',', out[o++] = ' ';
        else out[o++] = *p;
    }
    out[o] = 0;
}

/* Finds the configured entry for a property: <prefix><name>, then <prefix><alias> for each alias. */
static sl_kv *lookup(sl_config *cfg, const char *prefix, const sl_prop *p) {
    char key[512];
    snprintf(key, sizeof key, "%s%s", prefix, p->name);
    sl_kv *kv = find(cfg, key);
    if (kv || !p->aliases) return kv;
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", p->aliases);
    char *save = NULL;
    for (char *a = strtok_r(tmp, "|", &save); a; a = strtok_r(NULL, "|", &save)) {
        snprintf(key, sizeof key, "%s%s", prefix, a);
        if ((kv = find(cfg, key)) != NULL) return kv;
    }
    return NULL;
}

static int set_one(const sl_prop *p, const char *key, const char *v, void *settings, sl_errs *errs) {
    char *field = (char *)settings + p->off;
    switch (p->type) {
    case SL_PT_STRING:
    case SL_PT_LIST:
        sl_free(*(char **)field);
        *(char **)field = v ? sl_strdup(v) : NULL;
        return 0;
    case SL_PT_INT: {
        char *end;
        errno = 0;
        long long n = v ? strtoll(v, &end, 10) : 0;
        if (!v || errno || end == v || *trim(end)) {
            sl_errs_add(errs, "%s: '%s' is not an integer", key, v ? v : "");
            return 1;
        }
        if ((p->min || p->max) && (n < p->min || n > p->max)) {
            sl_errs_add(errs, "%s: %lld is out of range [%lld, %lld]", key, n, (long long)p->min,
                        (long long)p->max);
            return 1;
        }
        *(int64_t *)field = n;
        return 0;
    }
    case SL_PT_BOOL:
        if (v && strcasecmp(v, "true") == 0) *(bool *)field = true;
        else if (v && strcasecmp(v, "false") == 0) *(bool *)field = false;
        else {
            sl_errs_add(errs, "%s: '%s' is not a boolean (allowed: true, false)", key, v ? v : "");
            return 1;
        }
        return 0;
    case SL_PT_ENUM: {
        int i = v ? enum_index(p->enums, v) : -1;
        if (i < 0) {
            char allowed[512];
            allowed_list(p->enums, allowed, sizeof allowed);
            sl_errs_add(errs, "%s: '%s' is not allowed (allowed: %s)", key, v ? v : "", allowed);
            return 1;
        }
        *(int *)field = i;
        return 0;
    }
    }
    return 0;
}

static int apply(const sl_prop *tbl, sl_config *cfg, const char *prefix, bool fallback, void *settings,
                 sl_errs *errs);

int sl_conf_apply(const sl_prop *tbl, sl_config *cfg, void *settings, sl_errs *errs) {
    return sl_conf_apply_prefixed(tbl, cfg, "", settings, errs);
}

int sl_conf_apply_prefixed(const sl_prop *tbl, sl_config *cfg, const char *prefix, void *settings, sl_errs *errs) {
    return apply(tbl, cfg, prefix, false, settings, errs);
}

int sl_conf_apply_preferring(const sl_prop *tbl, sl_config *cfg, const char *prefix, void *settings, sl_errs *errs) {
    return apply(tbl, cfg, prefix, true, settings, errs);
}

/* Applies tbl to the keys <prefix><name>; with fallback, a key missing with the prefix is taken without it. */
static int apply(const sl_prop *tbl, sl_config *cfg, const char *prefix, bool fallback, void *settings,
                 sl_errs *errs) {
    int bad = 0;
    for (const sl_prop *p = tbl; p->name; p++) {
        sl_kv *kv = lookup(cfg, prefix, p);
        if (!kv && fallback) kv = lookup(cfg, "", p);
        if (kv) {
            kv->used = true;
            if (p->flags & SL_PF_SENSITIVE) {
                kv->sensitive = true;
                sl_log_add_secret(kv->value);
            }
        }
        if ((!kv || !*kv->value) && (p->flags & SL_PF_REQUIRED)) { /* "" is as good as missing */
            sl_errs_add(errs, "%s%s: required, not set (%s)", fallback ? "" : prefix, p->name, p->doc);
            bad++;
            continue;
        }
        const char *v = kv ? kv->value : p->def;
        if (!v && p->type != SL_PT_STRING && p->type != SL_PT_LIST) continue;
        char key[512];
        snprintf(key, sizeof key, "%s%s", fallback ? "" : prefix, p->name);
        bad += set_one(p, kv ? kv->key : key, v, settings, errs);
    }
    return bad;
}

void sl_conf_free(const sl_prop *tbl, void *settings) {
    for (const sl_prop *p = tbl; p->name; p++)
        if (p->type == SL_PT_STRING || p->type == SL_PT_LIST) {
            char **f = (char **)((char *)settings + p->off);
            sl_free(*f);
            *f = NULL;
        }
}

/* Keys Debezium / Kafka Connect configs carry that sluice does not need. */
static const char *quiet[] = {
    "tasks.max", "database.server.name", "schema.history.internal*", "database.history*",
    "key.converter", "value.converter", "header.converter", "internal.key.converter*",
    "internal.value.converter*", "key.converter.*", "value.converter.*", "include.schema.changes",
    "connector.client.config.override.policy", "config.action.reload", "predicates*",
    "slot.stream.params", "status.update.interval.ms", NULL};

void sl_conf_unknown_keys(const sl_config *cfg, void (*warn)(const char *key, void *arg), void *arg) {
    for (int i = 0; i < cfg->n; i++) {
        if (cfg->kv[i].used) continue;
        int q = 0;
        for (const char **p = quiet; *p && !q; p++) q = fnmatch(*p, cfg->kv[i].key, 0) == 0;
        if (!q) warn(cfg->kv[i].key, arg);
    }
}

static const char *type_name(sl_ptype t) {
    static const char *n[] = {"string", "int", "boolean", "enum", "list"};
    return n[t];
}

void sl_conf_doc(FILE *out, const char *title, const char *intro, const sl_prop *tbl) {
    fprintf(out, "## %s\n\n%s\n\n| Key | Type | Default | Allowed | Description |\n|---|---|---|---|---|\n", title,
            intro);
    for (const sl_prop *p = tbl; p->name; p++) {
        char allowed[512] = "";
        if (p->type == SL_PT_ENUM) allowed_list(p->enums, allowed, sizeof allowed);
        else if (p->type == SL_PT_INT && (p->min || p->max))
            snprintf(allowed, sizeof allowed, "%lld..%lld", (long long)p->min, (long long)p->max);
        fprintf(out, "| `%s` | %s | %s%s%s | %s | %s%s%s%s%s |\n", p->name, type_name(p->type), p->def ? "`" : "",
                p->def ? (*p->def ? p->def : " ") : (p->flags & SL_PF_REQUIRED ? "required" : ""),
                p->def ? "`" : "", allowed, p->doc, p->flags & SL_PF_SENSITIVE ? " Sensitive: redacted." : "",
                p->aliases ? " Also accepted as `" : "", p->aliases ? p->aliases : "", p->aliases ? "`." : "");
    }
    fprintf(out, "\n");
}

void sl_conf_check_ops(const char *key, const char *list, sl_errs *errs) {
    if (!list) return;
    char *c = sl_strdup(list), *save = NULL;
    for (char *t = strtok_r(c, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (strcmp(t, "none") && (strlen(t) != 1 || !strchr("cudt", t[0])))
            sl_errs_add(errs, "%s: '%s' is not allowed (allowed: c, u, d, t, none)", key, t);
    sl_free(c);
}
