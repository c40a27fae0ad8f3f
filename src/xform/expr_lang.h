/*
 * The sluice expression language: small boolean/string expressions over a
 * record as transforms see it (sl_xrec), for the filter and the
 * content-based router (docs/transforms-expr.in.md is the reference).
 *
 *   op == 'u' and after.status in ('shipped', 'lost')
 *   source.table == 'orders' ? 'orders_' + after.region : null
 *
 * An expression is parsed once, at config time, into a flat array of nodes
 * (children by index) and evaluated per record without allocating: paths
 * borrow the record's JSON, literals the program's own strings; only string
 * concatenation writes, into a fixed scratch area owned by the program.
 *
 * Untrusted text is safe to parse: the source length, the node count and
 * the tree depth (including chains of binary operators) are capped, so both
 * the recursive-descent parser and the recursive evaluator have bounded
 * stacks; regexes are POSIX EREs without back-references and with bounded
 * repetition counts, compiled once.
 *
 * Threads: a program is not thread-safe (its scratch area); each belongs to
 * one transform state, which runs on one sink thread.
 */
#ifndef SL_XFORM_EXPR_LANG_H
#define SL_XFORM_EXPR_LANG_H
#include "xform/xform.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    SL_EXPR_MAX_LEN = 16384,  /* bytes of expression text */
    SL_EXPR_MAX_NODES = 4096, /* AST nodes */
    SL_EXPR_MAX_DEPTH = 128,  /* nesting of the tree (parentheses, operators, chains) */
    SL_EXPR_MAX_RE = 1024,    /* bytes of one regex */
    SL_EXPR_SCRATCH = 8192,   /* bytes of concatenated strings per evaluation */
};

typedef enum { SL_EV_NULL, SL_EV_BOOL, SL_EV_INT, SL_EV_REAL, SL_EV_STR, SL_EV_JSON } sl_expr_type;

/* A value during or after evaluation. Strings are borrowed (from the program, the record or the
 * program's scratch area): valid until the next evaluation with the same program or until the record
 * changes. s is NUL-terminated but may hold NULs (n is the length). JSON: an object or array of the record. */
typedef struct sl_expr_val {
    sl_expr_type t;
    bool b;
    int64_t i;
    double d;
    const char *s;
    size_t n;
    sl_val *j;      /* an object or array of the record's view (built) */
    sl_vheap *h;    /* where j lives */
} sl_expr_val;

typedef struct sl_expr sl_expr;

/* Parses text. Returns NULL with errstr set to "<what> at column <n>" (1-based, in bytes). */
sl_expr *sl_expr_parse(const char *text, char *errstr, size_t errsz);
void sl_expr_free(sl_expr *e);

/* Evaluates e over r (in the view: sl_xrec_to_view) into *out. Returns 0, or -1 with errstr set (only when a concatenation
 * outgrows SL_EXPR_SCRATCH). Paths missing from r evaluate to null. */
int sl_expr_eval(sl_expr *e, const sl_xrec *r, sl_expr_val *out, char *errstr, size_t errsz);
/* True when e evaluates to the boolean true (false, null, other types and errors: false). */
bool sl_expr_test(sl_expr *e, const sl_xrec *r);
/* The name of a value's type, for messages ("string", "number", ...). */
const char *sl_expr_type_name(const sl_expr_val *v);
/* Writes v as text (strings unquoted, JSON compact) into out; for messages and tests. */
void sl_expr_val_str(const sl_expr_val *v, char *out, size_t outsz);

#endif
