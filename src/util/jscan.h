/*
 * JSON text read in place: one validating pass without building a tree,
 * then lookups of object members by key, each a scan of that object alone.
 * For JSON that is only looked at here and handed on as text (the Kafka
 * source's converter reads an envelope's op), where a jansson tree of every
 * message cost most of the time.
 *
 * What is well-formed is what jansson accepts with JSON_DECODE_ANY |
 * JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL (the fuzzer holds the two
 * against each other): any value at the top, strings of valid UTF-8 with
 * paired surrogate escapes, \u0000 allowed, integers of any length, no
 * number that overflows a double, at most 2048 levels of nesting.
 */
#ifndef SL_UTIL_JSCAN_H
#define SL_UTIL_JSCAN_H
#include <stdbool.h>
#include <stddef.h>

typedef struct sl_jscan_err {
    char text[128];
    int line, column;
} sl_jscan_err;

/* 0 when s[0, n) is one well-formed JSON value (with whitespace around it); -1 and err otherwise. */
int sl_jscan_validate(const char *s, size_t n, sl_jscan_err *err);

/* A value inside well-formed JSON text: [p, p + n). */
typedef struct sl_jval {
    const char *p;
    size_t n;
} sl_jval;

/*
 * sl_jscan_validate that also notes, in the same pass, what a reader of the
 * top-level value wants next: how many members the top-level object has
 * (-1: the value is no object), where the members named keys[0, nkeys) are
 * (at most 8; keys compared as their raw bytes, so a key written with
 * escapes is not found: look it up with sl_jval_members then; the last
 * occurrence wins, bit i of found set), whether a key of it is written with
 * escapes, and how many whitespace bytes lie outside strings (0: the text is
 * already compact).
 */
typedef struct sl_jscan_top {
    const char *const *keys;
    int nkeys;
    sl_jval vals[8];
    unsigned found;
    int members;
    bool escaped;
    size_t ws;
} sl_jscan_top;
int sl_jscan_validate_top(const char *s, size_t n, sl_jscan_err *err, sl_jscan_top *top);
/*
 * The end of a compact top-level object whose text before `from` is known to
 * be valid up to a member's colon (the prefix of an earlier text that
 * validated): s[from, n) must be one value with no whitespace outside
 * strings, then the closing '}' and nothing else. True with *v the value's
 * span; false for anything else (the caller then validates the whole text).
 * top (or NULL): what sl_jscan_validate_top notes, about that value (ws: 0).
 */
bool sl_jscan_last_member(const char *s, size_t n, size_t from, sl_jval *v, sl_jscan_top *top);

/* The value v with the whitespace around it left out. */
sl_jval sl_jval_trim(sl_jval v);
/* Its kind by its first character: '{', '[', '"', 'n' (null), 't', 'f', or '0' (a number). */
char sl_jval_kind(sl_jval v);
/* In object v: the value of member key (its last occurrence, as jansson keeps it; keys compared after
 * their escapes are decoded). False when v is no object or has no such member. */
bool sl_jval_member(sl_jval v, const char *key, sl_jval *out);
/* In object v, in one pass: the values of keys[0, nkeys) (at most 32; bit i of *found set for each one
 * present, its last occurrence in out[i]); returns how many distinct keys v has (repeats are looked for
 * among its first 64), or -1 when v is no object. */
int sl_jval_members(sl_jval v, const char *const *keys, int nkeys, sl_jval *out, unsigned *found);
/* In object v: how many distinct keys it has (-1: v is no object). */
int sl_jval_object_size(sl_jval v);
/* String v decoded into out (at most outsz - 1 bytes, NUL-terminated); its decoded length, or -1 when v
 * is no string. */
long sl_jval_string(sl_jval v, char *out, size_t outsz);

#endif
