/*
 * Config loading (JSON / .properties, secret providers) and the generic
 * property-table setter. See conf.h.
 */
#include "core/conf.h"
#include "core/log.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/path.h"
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <regex.h>
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
    char *text = sl_read_file(path, NULL, err, sizeof err);
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

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static sl_config *parse_properties(const char *text, const char *origin, const sl_conf_refs *refs, bool refs_on,
                                   char *errstr, size_t errsz);

/* The resolved path to read when path lies in one of the comma-separated directories of list (NULL: anywhere,
 * path as given), else NULL. New string. */
static char *allowed_path(const char *list, const char *path) {
    if (!list) return sl_strdup(path);
    char *real = sl_path_real(path), *copy = sl_strdup(list), *save = NULL;
    bool in = false;
    for (char *d = strtok_r(copy, ",", &save); d && !in; d = strtok_r(NULL, ",", &save)) {
        d = trim(d);
        if (*d != '/') continue; /* refused when the worker starts (sl_conf_refs_check) */
        char *dir = sl_path_real(d);
        in = sl_path_within(real, dir);
        sl_free(dir);
    }
    sl_free(copy);
    if (in) return real;
    sl_free(real);
    return NULL;
}

/* allowed_path, or NULL with an error naming the config key, the reference, the path, the allow-list key and its
 * directories. */
static char *permit(const char *param, const char *list, const char *key, const char *ref, const char *path,
                    char *errstr, size_t errsz) {
    char *p = allowed_path(list, path);
    if (p) return p;
    char *real = sl_path_real(path);
    bool same = strcmp(real, path) == 0;
    snprintf(errstr, errsz, "%s: ${%s}: %s%s%s%s is outside %s (%s): not read", key, ref, path,
             same ? "" : " (resolved: ", same ? "" : real, same ? "" : ")", param, list);
    sl_free(real);
    return NULL;
}

/*
 * ${file:/path}: the whole file; ${file:/path:key}: key of a .properties file
 * (Kafka's FileConfigProvider: its values are taken as written, references in
 * them are not resolved). A path may itself hold a colon: when the whole spec
 * names a regular file it is the whole-file form, else the spec splits at its
 * last colon. Outside refs->file_allowed nothing is read (nor looked at).
 */
static char *file_provider(const char *key, const char *spec, const sl_conf_refs *refs, char *errstr, size_t errsz) {
    static const char param[] = "config.providers.file.param.allowed.paths";
    const char *list = refs ? refs->file_allowed : NULL;
    char ref[600];
    snprintf(ref, sizeof ref, "file:%s", spec);
    if (!*spec) {
        snprintf(errstr, errsz, "%s: ${file:}: no path given (expected ${file:/path} or ${file:/path:key})", key);
        return NULL;
    }
    const char *colon = strrchr(spec, ':');
    char *whole = colon ? allowed_path(list, spec) : NULL;
    bool is_whole = !colon || (whole && regular_file(whole));
    sl_free(whole);
    if (is_whole) {
        char *p = permit(param, list, key, ref, spec, errstr, errsz);
        char *v = p ? whole_file(key, ref, p, errstr, errsz) : NULL;
        sl_free(p);
        return v;
    }
    if (colon == spec || !colon[1]) {
        snprintf(errstr, errsz, "%s: ${%s}: expected ${file:/path} or ${file:/path:key}", key, ref);
        return NULL;
    }
    char *path = sl_strndup(spec, (size_t)(colon - spec));
    char *real = permit(param, list, key, ref, path, errstr, errsz);
    char err[768];
    char *text = real ? sl_read_file(real, NULL, err, sizeof err) : NULL;
    sl_config *p = text ? parse_properties(text, path, NULL, false, err, sizeof err) : NULL;
    char *val = NULL;
    if (p) {
        const char *v = sl_config_get(p, colon + 1);
        if (v) val = sl_strdup(v);
        else snprintf(errstr, errsz, "%s: ${%s}: key '%s' not found in %s", key, ref, colon + 1, path);
    } else if (real && !text) {
        snprintf(errstr, errsz, "%s: ${%s}: %s (and %s is not a file either)", key, ref, err, spec);
    } else if (real) {
        snprintf(errstr, errsz, "%s: ${%s}: %s", key, ref, err);
    }
    sl_config_destroy(p);
    sl_free(text);
    sl_free(real);
    sl_free(path);
    return val;
}

/* ${dir:/dir:name}: the file `name` in directory /dir (Kafka's DirectoryConfigProvider), read like a whole file. */
static char *dir_provider(const char *key, const char *spec, const sl_conf_refs *refs, char *errstr, size_t errsz) {
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
    char *real = permit("config.providers.dir.param.allowed.paths", refs ? refs->dir_allowed : NULL, key, ref, path,
                        errstr, errsz);
    char *v = real ? whole_file(key, ref, real, errstr, errsz) : NULL;
    sl_free(real);
    sl_free(path);
    return v;
}

/* ${env:NAME}, NAME matching refs->env_allowlist (compiled in env_re) when there is one. */
static const char *env_provider(const char *key, const char *name, const sl_conf_refs *refs, const regex_t *env_re,
                                char *errstr, size_t errsz) {
    if (env_re && regexec(env_re, name, 0, NULL, 0) != 0) {
        snprintf(errstr, errsz, "%s: ${env:%s}: %s does not match config.providers.env.param.allowlist.pattern (%s): "
                 "not read", key, name, name, refs->env_allowlist);
        return NULL;
    }
    const char *ev = getenv(name);
    if (!ev) snprintf(errstr, errsz, "%s: environment variable %s is not set", key, name);
    return ev;
}

static bool provider_ref(const char *ref) {
    return strncmp(ref, "env:", 4) == 0 || strncmp(ref, "file:", 5) == 0 || strncmp(ref, "dir:", 4) == 0;
}

/* Resolves ${env:NAME}, ${file:/path}, ${file:/path:key} and ${dir:/dir:file} references in the value v of key. */
static char *resolve(const char *key, const char *v, const sl_conf_refs *refs, const regex_t *env_re, char *errstr,
                     size_t errsz) {
    sl_buf b;
    sl_buf_init(&b);
    const char *p = v;
    for (;;) {
        const char *s = strstr(p, "${");
        if (!s) break;
        const char *e = strchr(s, '}');
        if (!e && provider_ref(s + 2)) { /* else the text would go on as it is: to a database, as a password */
            snprintf(errstr, errsz, "%s: unterminated reference '%.40s': a ${env:...}, ${file:...} or ${dir:...} "
                     "reference ends with '}'", key, s);
            sl_buf_free(&b);
            return NULL;
        }
        if (!e) break;
        sl_buf_put(&b, p, (size_t)(s - p));
        char *ref = sl_strndup(s + 2, (size_t)(e - s - 2));
        if (strncmp(ref, "env:", 4) == 0) {
            const char *ev = env_provider(key, ref + 4, refs, env_re, errstr, errsz);
            if (!ev) goto fail;
            sl_buf_puts(&b, ev);
        } else if (strncmp(ref, "file:", 5) == 0 || strncmp(ref, "dir:", 4) == 0) {
            char *fv = ref[0] == 'f' ? file_provider(key, ref + 5, refs, errstr, errsz)
                                     : dir_provider(key, ref + 4, refs, errstr, errsz);
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

/* Compiles refs->env_allowlist as a whole-name match into re; false with errstr set when it does not compile. */
static bool env_regex(const sl_conf_refs *refs, regex_t *re, char *errstr, size_t errsz) {
    size_t n = strlen(refs->env_allowlist) + 8;
    char *anchored = sl_malloc(n);
    snprintf(anchored, n, "^(%s)$", refs->env_allowlist);
    int rc = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
    sl_free(anchored);
    if (rc == 0) return true;
    char msg[256];
    regerror(rc, re, msg, sizeof msg);
    snprintf(errstr, errsz, "config.providers.env.param.allowlist.pattern: '%s' is not a regular expression: %s",
             refs->env_allowlist, msg);
    return false;
}

static int resolve_all(sl_config *c, const sl_conf_refs *refs, char *errstr, size_t errsz) {
    regex_t re;
    bool has_re = refs && refs->env_allowlist;
    if (has_re && !env_regex(refs, &re, errstr, errsz)) return -1;
    int rc = 0;
    for (int i = 0; i < c->n && rc == 0; i++) {
        if (!strstr(c->kv[i].value, "${")) continue;
        char *r = resolve(c->kv[i].key, c->kv[i].value, refs, has_re ? &re : NULL, errstr, errsz);
        if (!r) rc = -1;
        else sl_free(c->kv[i].value), c->kv[i].value = r;
    }
    if (has_re) regfree(&re);
    return rc;
}

int sl_conf_refs_check(const sl_conf_refs *refs, sl_errs *errs) {
    int before = errs->n;
    const char *keys[] = {"config.providers.file.param.allowed.paths", "config.providers.dir.param.allowed.paths"};
    const char *lists[] = {refs->file_allowed, refs->dir_allowed};
    for (int k = 0; k < 2; k++) {
        if (!lists[k]) continue;
        char *copy = sl_strdup(lists[k]), *save = NULL;
        int dirs = 0;
        for (char *d = strtok_r(copy, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
            d = trim(d);
            if (!*d) continue;
            dirs++;
            if (*d != '/')
                sl_errs_add(errs, "%s: '%s' is not an absolute path (a directory such as /run/secrets)", keys[k], d);
        }
        if (!dirs)
            sl_errs_add(errs, "%s: empty: give one or more directories, or leave the key out to allow any path",
                        keys[k]);
        sl_free(copy);
    }
    char err[512];
    regex_t re;
    if (refs->env_allowlist && !env_regex(refs, &re, err, sizeof err)) sl_errs_add(errs, "%s", err);
    else if (refs->env_allowlist) regfree(&re);
    return errs->n - before;
}

/* jansson's message for a duplicate key holds the key only when it is short: this finds it in the text, just
 * before the error's position (the end of the key's string). */
static void duplicate_key(const char *text, const json_error_t *jerr, char *out, size_t outsz) {
    const char *end = text + jerr->position;
    while (end > text && *end != '"') end--;
    const char *start = end;
    while (start > text && !(start[-1] == '"' && (start - 1 == text || start[-2] != '\\'))) start--;
    snprintf(out, outsz, "%.*s", (int)(end - start), start);
}

static sl_config *parse_json(const char *text, const char *origin, const sl_conf_refs *refs, char *errstr,
                             size_t errsz) {
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root && json_error_code(&jerr) == json_error_duplicate_key) {
        char key[256];
        duplicate_key(text, &jerr, key, sizeof key);
        snprintf(errstr, errsz, "%s: duplicate key \"%s\" (line %d): each key may appear once", origin, key,
                 jerr.line);
        return NULL;
    }
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
    if (resolve_all(c, refs, errstr, errsz) < 0) {
        sl_config_destroy(c);
        return NULL;
    }
    return c;
fail:
    json_decref(root);
    sl_config_destroy(c);
    return NULL;
}

sl_config *sl_config_parse_json(const char *text, const char *origin, char *errstr, size_t errsz) {
    return parse_json(text, origin, NULL, errstr, errsz);
}

sl_config *sl_config_parse_json_refs(const char *text, const char *origin, const sl_conf_refs *refs, char *errstr,
                                     size_t errsz) {
    return parse_json(text, origin, refs, errstr, errsz);
}

/* A .properties text; refs_on: resolve its references (not in a file a reference reads). */
static sl_config *parse_properties(const char *text, const char *origin, const sl_conf_refs *refs, bool refs_on,
                                   char *errstr, size_t errsz) {
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
    if (refs_on && resolve_all(c, refs, errstr, errsz) < 0) {
        sl_config_destroy(c);
        return NULL;
    }
    return c;
}

sl_config *sl_config_parse_properties(const char *text, const char *origin, char *errstr, size_t errsz) {
    return parse_properties(text, origin, NULL, true, errstr, errsz);
}

/* What a config file's text is when it cannot be a config (binary, a JSON array, JSON other than an object), for
 * the error; false when it may be one. */
static bool not_a_config(const char *text, size_t len, char *what, size_t whatsz) {
    const char *p = text;
    while (isspace((unsigned char)*p)) p++;
    long bad = sl_utf8_invalid_at(text, len);
    json_t *j = NULL;
    if (memchr(text, 0, len))
        snprintf(what, whatsz, "a binary file (a NUL byte at offset %ld)", (long)(strchr(text, 0) - text));
    else if (bad >= 0)
        snprintf(what, whatsz, "a binary file or not UTF-8 text (no UTF-8 at offset %ld)", bad);
    else if (*p == '[' || *p == '"' || *p == '-' || isdigit((unsigned char)*p) || *p == 't' || *p == 'f' || *p == 'n') {
        if (!(j = json_loads(text, JSON_DECODE_ANY, NULL)) && *p != '[') return false; /* key=value text */
        snprintf(what, whatsz, "%s", !j               ? "text that starts with '[' (an INI file?)"
                                     : json_is_array(j) ? "a JSON array"
                                     : json_is_string(j) ? "a JSON string"
                                     : json_is_number(j) ? "a JSON number"
                                                        : "a JSON literal (true, false or null)");
        json_decref(j);
    } else {
        return false;
    }
    return true;
}

sl_config *sl_config_load(const char *path, char *errstr, size_t errsz) {
    size_t len;
    char *text = sl_read_file(path, &len, errstr, errsz);
    if (!text) return NULL;
    char what[128];
    if (not_a_config(text, len, what, sizeof what)) {
        snprintf(errstr, errsz, "%s: this is %s, not a connector config; expected a JSON object {\"name\": ..., "
                 "\"config\": {...}} or a .properties file of key=value lines (UTF-8 text)", path, what);
        sl_free(text);
        return NULL;
    }
    const char *p = text;
    while (isspace((unsigned char)*p)) p++;
    sl_config *c = *p == '{' ? sl_config_parse_json(text, path, errstr, errsz)
                             : sl_config_parse_properties(text, path, errstr, errsz);
    sl_free(text);
    /* A reference's error starts with the key: say which file it is in. */
    size_t n = strlen(path);
    if (!c && (strncmp(errstr, path, n) != 0 || errstr[n] != ':')) {
        char *e = sl_strdup(errstr);
        snprintf(errstr, errsz, "%s: %s", path, e);
        sl_free(e);
    }
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
    "database.server.name", "schema.history.internal*", "database.history*",
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

void sl_conf_check_list(const char *key, const char *list, const char *allowed, sl_errs *errs) {
    if (!list) return;
    char *c = sl_strdup(list), *save = NULL;
    for (char *t = strtok_r(c, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        bool ok = false;
        for (const char *a = allowed; *a && !ok; a += strcspn(a, "|"), a += *a == '|') {
            size_t n = strcspn(a, "|");
            ok = strlen(t) == n && strncmp(a, t, n) == 0;
        }
        if (!ok) {
            sl_buf names;
            sl_buf_init(&names);
            for (const char *a = allowed; *a; a++) sl_buf_printf(&names, *a == '|' ? ", " : "%c", *a);
            sl_errs_add(errs, "%s: '%s' is not allowed (allowed: %s)", key, t, sl_buf_cstr(&names));
            sl_buf_free(&names);
        }
    }
    sl_free(c);
}

/* ---- files named by file keys ---- */

void sl_file_uses_add(sl_file_uses *u, const char *key, const char *path, unsigned flags, const char *owner, int tag) {
    if (!path || !*path) return;
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 8;
        u->v = sl_realloc(u->v, (size_t)u->cap * sizeof *u->v);
    }
    u->v[u->n++] = (sl_file_use){sl_strdup(key), sl_strdup(owner), sl_strdup(path), sl_path_real(path), flags, tag,
                                 false};
}

void sl_file_uses_add_props(sl_file_uses *u, const sl_prop *tbl, const void *settings, const char *owner, int tag) {
    for (const sl_prop *p = tbl; p->name; p++)
        if (p->flags & (SL_PF_FILE_OUT | SL_PF_FILE_IN))
            sl_file_uses_add(u, p->name, *(char *const *)((const char *)settings + p->off), p->flags, owner, tag);
}

static void use_free(sl_file_use *f) { sl_free(f->key), sl_free(f->owner), sl_free(f->path), sl_free(f->real); }

void sl_file_uses_drop(sl_file_uses *u, int from, const char *key) {
    for (int i = from; i < u->n; i++)
        if (strcmp(u->v[i].key, key) == 0) {
            use_free(&u->v[i]);
            memmove(&u->v[i], &u->v[i + 1], (size_t)(u->n - i - 1) * sizeof *u->v);
            u->n--, i--;
        }
}

void sl_file_uses_append(sl_file_uses *u, const sl_file_uses *from) {
    for (int i = 0; i < from->n; i++) {
        const sl_file_use *f = &from->v[i];
        sl_file_uses_add(u, f->key, f->path, f->flags, f->owner, f->tag);
    }
}

int sl_file_uses_check(sl_file_uses *u, int mine, sl_errs *errs) {
    int bad = 0;
    for (int i = 0; i < mine && i < u->n; i++)
        for (int j = i + 1; j < u->n; j++) {
            sl_file_use *a = &u->v[i], *b = &u->v[j];
            if (strcmp(a->real, b->real) != 0) continue;
            if (!(a->flags & SL_PF_FILE_OUT) && !(b->flags & SL_PF_FILE_OUT)) continue; /* both read it */
            if (a->flags & b->flags & SL_PF_FILE_SHARED) continue;
            bool same = strcmp(a->owner, b->owner) == 0;
            sl_errs_add(errs, "%s: '%s' and %s%s%s ('%s') name the same file %s: %s; give each its own file", a->key,
                        a->path, b->key, same ? "" : " of ", same ? "" : b->owner, b->path, a->real,
                        (a->flags & b->flags & SL_PF_FILE_OUT) ? "both would write it, over each other"
                                                               : "one would write over what the other reads");
            a->clash = b->clash = true;
            bad++;
        }
    return bad;
}

void sl_file_uses_free(sl_file_uses *u) {
    for (int i = 0; i < u->n; i++) use_free(&u->v[i]);
    sl_free(u->v);
    u->v = NULL, u->n = u->cap = 0;
}
