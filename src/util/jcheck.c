/* Field checks of untrusted JSON objects (see jcheck.h). */
#include "util/jcheck.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOWN_MAX 60 /* characters of the offending value quoted in a message */

int sl_jcheck_fail(const json_t *obj, const char *obj_name, const char *key, const char *what, char *errstr,
                   size_t errsz) {
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        snprintf(errstr, errsz, "%s.%s: missing (%s)", obj_name, key, what);
        return -1;
    }
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    const char *shown = text ? text : "?";
    snprintf(errstr, errsz, "%s.%s: %s, not %.*s%s", obj_name, key, what, SHOWN_MAX, shown,
             strlen(shown) > SHOWN_MAX ? "..." : "");
    free(text);
    return -1;
}

/* The field, or NULL when absent or null. */
static const json_t *field(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

int sl_jcheck_uint(const json_t *obj, const char *obj_name, const char *key, bool required, char *errstr,
                   size_t errsz) {
    const json_t *v = field(obj, key);
    if (v ? json_is_integer(v) && json_integer_value(v) >= 0 : !required) return 0;
    return sl_jcheck_fail(obj, obj_name, key, "must be a non-negative integer", errstr, errsz);
}

int sl_jcheck_bool(const json_t *obj, const char *obj_name, const char *key, bool required, char *errstr,
                   size_t errsz) {
    const json_t *v = field(obj, key);
    if (v ? json_is_boolean(v) : !required) return 0;
    return sl_jcheck_fail(obj, obj_name, key, "must be true or false", errstr, errsz);
}

int sl_jcheck_string(const json_t *obj, const char *obj_name, const char *key, bool required, const char **out,
                     char *errstr, size_t errsz) {
    const json_t *v = field(obj, key);
    if (out) *out = json_string_value(v);
    if (v ? json_is_string(v) : !required) return 0;
    return sl_jcheck_fail(obj, obj_name, key, "must be a string", errstr, errsz);
}
