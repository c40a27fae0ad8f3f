/* Regex include/exclude filters (see filter.h). */
#include "core/filter.h"
#include "util/mem.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>


static int compile_list(const char *list, regex_t **out, int *n, const char *key, char *errstr, size_t errsz) {
    *out = NULL, *n = 0;
    if (!list || !*list) return 0;
    char *copy = sl_strdup(list), *save = NULL;
    int cap = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok)) tok++;
        size_t len = strlen(tok);
        while (len && isspace((unsigned char)tok[len - 1])) tok[--len] = 0;
        if (!len) continue;
        char *pat = sl_malloc(len + 5);
        snprintf(pat, len + 5, "^(%s)$", tok);
        if (*n == cap) cap = cap ? cap * 2 : 4, *out = sl_realloc(*out, (size_t)cap * sizeof **out);
        int rc = regcomp(&(*out)[*n], pat, REG_EXTENDED | REG_ICASE | REG_NOSUB);
        sl_free(pat);
        if (rc) {
            snprintf(errstr, errsz, "%s: '%s' is not a valid regular expression", key, tok);
            sl_free(copy);
            return -1;
        }
        (*n)++;
    }
    sl_free(copy);
    return 0;
}

int sl_filter_init(sl_filter *f, const char *include, const char *exclude, const char *key_inc,
                   const char *key_exc, char *errstr, size_t errsz) {
    memset(f, 0, sizeof *f);
    if (compile_list(include, &f->inc, &f->ninc, key_inc, errstr, errsz) < 0) return -1;
    return compile_list(exclude, &f->exc, &f->nexc, key_exc, errstr, errsz);
}

bool sl_filter_match(const sl_filter *f, const char *name) {
    if (f->ninc) {
        bool any = false;
        for (int i = 0; i < f->ninc && !any; i++) any = regexec(&f->inc[i], name, 0, NULL, 0) == 0;
        return any;
    }
    for (int i = 0; i < f->nexc; i++)
        if (regexec(&f->exc[i], name, 0, NULL, 0) == 0) return false;
    return true;
}

void sl_filter_free(sl_filter *f) {
    for (int i = 0; i < f->ninc; i++) regfree(&f->inc[i]);
    for (int i = 0; i < f->nexc; i++) regfree(&f->exc[i]);
    sl_free(f->inc), sl_free(f->exc);
    memset(f, 0, sizeof *f);
}

