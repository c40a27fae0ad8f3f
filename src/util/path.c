/* Resolved file paths (see path.h). */
#include "util/path.h"
#include "util/buf.h"
#include "util/mem.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *sl_path_real(const char *path) {
    char buf[PATH_MAX];
    if (realpath(*path ? path : ".", buf)) return sl_strdup(buf);
    /* Missing: resolve the directory (itself perhaps missing), then add the last component by hand. */
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char *dir = slash ? sl_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : sl_strdup(".");
    char *real = strcmp(dir, path) ? sl_path_real(dir) : sl_strdup(dir);
    sl_free(dir);
    if (!*name || strcmp(name, ".") == 0) return real;
    if (strcmp(name, "..") == 0) { /* the parent of a directory that does not exist: lexically */
        char *up = strrchr(real, '/');
        if (up) up == real ? (void)(up[1] = 0) : (void)(*up = 0);
        return real;
    }
    size_t n = strlen(real) + strlen(name) + 2;
    char *out = sl_malloc(n);
    snprintf(out, n, "%s%s%s", real, strcmp(real, "/") ? "/" : "", name);
    sl_free(real);
    return out;
}

bool sl_path_within(const char *path, const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (strncmp(path, dir, n) != 0) return false;
    return path[n] == 0 || path[n] == '/' || (n == 1 && dir[0] == '/');
}

char *sl_read_file(const char *path, size_t *len, char *errstr, size_t errsz) {
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
    if (len) *len = b.len;
    return b.data;
}
