/*
 * Checks of the fields of a JSON object that came from outside (an offset
 * given through the REST API), with messages that name the field and show
 * what was given: `offset.lsn: must be a non-negative integer, not "x"`.
 *
 * Each returns 0 when the field has the wanted kind, or is absent or null
 * and not required; else -1 with errstr set. obj may be any JSON value (a
 * non-object has no fields). No CDC knowledge here.
 */
#ifndef SL_UTIL_JCHECK_H
#define SL_UTIL_JCHECK_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* An integer >= 0. */
int sl_jcheck_uint(const json_t *obj, const char *obj_name, const char *key, bool required, char *errstr,
                   size_t errsz);
int sl_jcheck_bool(const json_t *obj, const char *obj_name, const char *key, bool required, char *errstr,
                   size_t errsz);
/* A string; *out (may be NULL) is set to it, or to NULL when absent. */
int sl_jcheck_string(const json_t *obj, const char *obj_name, const char *key, bool required, const char **out,
                     char *errstr, size_t errsz);
/* Sets errstr to "<obj_name>.<key>: <what>, not <the value as JSON, shortened>" (or "...: missing (<what>)")
 * and returns -1. */
int sl_jcheck_fail(const json_t *obj, const char *obj_name, const char *key, const char *what, char *errstr,
                   size_t errsz);

#endif
