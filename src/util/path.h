/*
 * File paths compared or checked as the kernel sees them: two spellings of
 * one file ("./a", "/dir/a", a symlink to it, "x/../a") give one resolved
 * path, so a check "is this file inside that directory" or "do these two
 * keys name the same file" cannot be fooled by "..", symlinks or a relative
 * path.
 */
#ifndef SL_UTIL_PATH_H
#define SL_UTIL_PATH_H
#include <stdbool.h>
#include <stddef.h>

/*
 * The absolute, symlink-free form of path: realpath() of the file when it
 * exists, else that of its directory (resolved the same way, down to the
 * deepest one that exists) plus its name. New string (sl_free).
 */
char *sl_path_real(const char *path);
/* True when path is dir or lies under it, matched at a component boundary ("/a/bc" is not under "/a/b"). Both
 * as sl_path_real gives them. */
bool sl_path_within(const char *path, const char *dir);

/* The whole file, NUL-terminated (*len: its size; NULL: not wanted); sl_free it. NULL with errstr ("cannot open
 * <path>: <why>"). */
char *sl_read_file(const char *path, size_t *len, char *errstr, size_t errsz);

#endif
