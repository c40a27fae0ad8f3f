/*
 * Include/exclude filters: comma-separated lists of regular expressions,
 * anchored and case-insensitive (as Debezium's *.include.list /
 * *.exclude.list), matched against names such as "schema.table".
 */
#ifndef SL_CORE_FILTER_H
#define SL_CORE_FILTER_H
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sl_filter {
    regex_t *inc, *exc;
    int ninc, nexc;
} sl_filter;

/* key_inc/key_exc name the config keys in error messages. Returns 0 or -1 with errstr. */
int sl_filter_init(sl_filter *f, const char *include, const char *exclude, const char *key_inc, const char *key_exc,
                   char *errstr, size_t errstr_size);
/* With an include list: matches one of it; otherwise: matches none of the exclude list. */
bool sl_filter_match(const sl_filter *f, const char *name);
void sl_filter_free(sl_filter *f);

#endif
