/*
 * Values of the record view: the typed tree that transforms, predicates and
 * sinks read and write instead of JSON text.
 *
 * A value is null, a boolean, a 64-bit integer, a double, a string (bytes
 * with a length, NUL-terminated, may hold NULs), an object (members in
 * order) or an array, as the JSON data model has them, plus a lazy value:
 * one that has not been built yet and knows how to write itself (as JSON
 * text, straight from the batch's cells) and how to become one of the
 * others (sl_v_force) when something reads into it. A record whose
 * transforms only move a row (unwrap) or look at one column therefore never
 * builds the rest: the emitter writes the untouched cells as the encoder
 * would have without a transform.
 *
 * Memory: every node lives in an sl_vheap's arena and goes when the heap is
 * reset; nothing is freed one by one. Nodes are not reference counted: a
 * node may be reachable from two places (a transform that copies a field
 * into the key shares it). Frozen nodes (sl_v_freeze: the schemas cached
 * per table, shared by every record of it) must not change: a transform
 * that changes one asks sl_v_thaw for a copy of its own first (copy on
 * write, one level at a time: the copy's children stay shared and frozen).
 *
 * Threads: a heap and its values belong to one thread (a connector's sink
 * thread); frozen values may be read by any thread that holds the cache.
 */
#ifndef SL_CORE_VAL_H
#define SL_CORE_VAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/arena.h"
#include "util/buf.h"

typedef enum sl_vkind {
    SL_V_NULL = 0,
    SL_V_BOOL,
    SL_V_INT,
    SL_V_REAL,
    SL_V_STR,
    SL_V_OBJ,
    SL_V_ARR,
    SL_V_LAZY, /* not built yet: see sl_vlazy_ops */
} sl_vkind;

typedef struct sl_val sl_val;
typedef struct sl_vheap sl_vheap;

/* A lazy value's behaviour. Its four words of state are the maker's (e.g. options, column, cell). */
typedef struct sl_vlazy_ops {
    /* What it builds into when that is known beforehand (a row: SL_V_OBJ), else SL_V_LAZY. */
    sl_vkind kind;
    /* Appends the value as compact JSON, exactly as the built value would be written. */
    void (*put_json)(const sl_val *v, sl_buf *out);
    /* Optional: turns v into a built value in place (its nodes in h). NULL: by parsing put_json's text. */
    void (*force)(sl_val *v, sl_vheap *h);
    /* Optional, for an object: its member `name` built alone (NULL when it has none), v left lazy. */
    sl_val *(*get)(sl_val *v, sl_vheap *h, const char *name);
} sl_vlazy_ops;

typedef struct sl_vmember {
    const char *name; /* NUL-terminated */
    uint32_t len;
    sl_val *v;
} sl_vmember;

struct sl_val {
    uint8_t kind;   /* sl_vkind */
    bool frozen;    /* shared: must not change (sl_v_thaw) */
    uint32_t n;     /* string bytes; object members; array elements */
    uint32_t cap;   /* allocated members / elements */
    union {
        bool b;
        int64_t i;
        double d;
        const char *s;     /* SL_V_STR */
        sl_vmember *m;     /* SL_V_OBJ */
        sl_val **e;        /* SL_V_ARR */
        struct {
            const sl_vlazy_ops *ops;
            const void *p[4];
            uint32_t flags;
            uint32_t tlen;
            const char *text; /* its JSON, once written (sl_v_is_null), or NULL */
        } z;               /* SL_V_LAZY */
    };
};

/* Where values live: an arena and a scratch buffer for the text of lazy values. */
struct sl_vheap {
    sl_arena arena;
    sl_buf scratch;
};

void sl_vheap_init(sl_vheap *h);
/* Drops every value made in h (keeps memory for reuse). */
void sl_vheap_reset(sl_vheap *h);
void sl_vheap_free(sl_vheap *h);

/* ---- making values ---- */
sl_val *sl_v_null(sl_vheap *h);
sl_val *sl_v_bool(sl_vheap *h, bool b);
sl_val *sl_v_int(sl_vheap *h, int64_t i);
sl_val *sl_v_real(sl_vheap *h, double d);
/* A string of n bytes, copied into h. */
sl_val *sl_v_strn(sl_vheap *h, const char *s, size_t n);
sl_val *sl_v_str(sl_vheap *h, const char *s);
/* A string that borrows s (it must outlive the value: static text, or text already in h). */
sl_val *sl_v_str_ref(sl_vheap *h, const char *s, size_t n);
sl_val *sl_v_obj(sl_vheap *h, uint32_t cap);
sl_val *sl_v_arr(sl_vheap *h, uint32_t cap);
sl_val *sl_v_lazy(sl_vheap *h, const sl_vlazy_ops *ops, const void *p0, const void *p1, const void *p2,
                  const void *p3, uint32_t flags);

/* ---- reading ---- */
/* v's kind after building it when lazy (NULL counts as SL_V_NULL). */
sl_vkind sl_v_kind(sl_vheap *h, sl_val *v);
/* Builds a lazy v in place (no-op otherwise). */
void sl_v_force(sl_vheap *h, sl_val *v);
/* True for NULL and null. A lazy value of unknown kind is written once (its text kept for the emitter), not
 * built: a null test does not parse the value. */
bool sl_v_is_null(sl_vheap *h, sl_val *v);
/* Member `name` of object v, or NULL (v no object, or no such member). */
sl_val *sl_v_get(sl_vheap *h, sl_val *v, const char *name);
/* Element i of array v, or NULL. */
sl_val *sl_v_at(sl_vheap *h, sl_val *v, size_t i);
/* The string of v, or NULL when v is no string (*n: its length when n is not NULL). */
const char *sl_v_strval(sl_vheap *h, sl_val *v, size_t *n);
/* Deep equality (objects: same members in any order; 1 and 1.0 differ, as in jansson). */
bool sl_v_equal(sl_vheap *h, sl_val *a, sl_val *b);

/* ---- changing (never a frozen value) ---- */
/* Sets member `name` (replacing one of that name in its place, else appending). name is copied. */
void sl_v_set(sl_vheap *h, sl_val *obj, const char *name, sl_val *v);
/* As sl_v_set, with a name that outlives the value (static text, a frozen schema's or text in h). */
void sl_v_set_ref(sl_vheap *h, sl_val *obj, const char *name, size_t len, sl_val *v);
/* Removes member `name`; false when absent. */
bool sl_v_del(sl_vheap *h, sl_val *obj, const char *name);
void sl_v_push(sl_vheap *h, sl_val *arr, sl_val *v);
/* Removes element i of array arr. */
void sl_v_remove(sl_vheap *h, sl_val *arr, size_t i);
/* Replaces v's contents with src's (src's nodes are shared, not copied). */
void sl_v_assign(sl_val *v, const sl_val *src);

/* ---- sharing ---- */
/* Marks v and everything below it frozen (after building it: a cached schema). */
void sl_v_freeze(sl_vheap *h, sl_val *v);
/* v when it may change, else a copy of its top level in h (object members / array elements copied,
 * the values they point at shared). Lazy values are built first. NULL stays NULL. */
sl_val *sl_v_thaw(sl_vheap *h, sl_val *v);
/* A copy of v's top level in h, frozen or not (what sl_v_thaw makes). */
sl_val *sl_v_clone(sl_vheap *h, sl_val *v);
/* A deep copy of v in h, not frozen (lazy values stay lazy). */
sl_val *sl_v_copy(sl_vheap *h, const sl_val *v);

/* A deep copy of v in h that owns everything it holds, strings and member names included, so that it
 * outlives the heaps v's parts live in (lazy values are built first). */
sl_val *sl_v_detach(sl_vheap *h, sl_val *v);

/* ---- JSON ---- */
/* Parses JSON text (one value, whitespace around it allowed) into h. Strings are decoded; integers that
 * do not fit 64 bits become doubles. The text must be valid UTF-8 (sl_jscan_validate checks text from
 * outside). NULL with errstr on malformed text. */
sl_val *sl_v_parse(sl_vheap *h, const char *text, size_t len, char *errstr, size_t errsz);
/* Appends v as compact JSON (members in order; doubles as Java prints them, NaN and the infinities as
 * strings, as Kafka Connect's JsonConverter writes them). NULL writes null. */
void sl_v_put_json(sl_buf *out, const sl_val *v);

#endif
