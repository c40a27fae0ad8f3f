/*
 * Configuration: a connector config is a list of string key/values (loaded
 * from Kafka Connect-style JSON {"name":..., "config":{...}} or a flat
 * .properties file, with ${env:NAME}, ${file:/path} (the whole file, less one
 * trailing newline), ${file:/path:key} (a key of a .properties file) and
 * ${dir:/dir:file} resolved as it is loaded), and each component describes
 * its keys in a property table. One generic routine parses and checks a
 * table's keys into the component's settings struct; the same tables drive
 * `sluice validate`, secret redaction and the generated docs/CONFIGURATION.md.
 */
#ifndef SL_CORE_CONF_H
#define SL_CORE_CONF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { SL_PT_STRING, SL_PT_INT, SL_PT_BOOL, SL_PT_ENUM, SL_PT_LIST } sl_ptype;

#define SL_PF_SENSITIVE 1u  /* redacted in logs, errors and API output */
#define SL_PF_REQUIRED 2u   /* no default: must be set */
/* File keys, for sl_file_uses: no file one key writes may be named by another key (of the same connector,
 * of another connector, of the worker), except that SQLite stores (SHARED) may share a file. */
#define SL_PF_FILE_OUT 4u    /* the value names a file the component writes */
#define SL_PF_FILE_IN 8u     /* ... a file it only reads */
#define SL_PF_FILE_SHARED 16u /* with FILE_OUT: a SQLite store whose rows are keyed by connector (its own table) */

/*
 * One property. Settings struct field types: STRING/LIST -> char * (owned),
 * INT -> int64_t, BOOL -> bool, ENUM -> int (index into enums).
 */
typedef struct sl_prop {
    const char *name;
    sl_ptype type;
    const char *def;     /* default as text; NULL: unset */
    const char *enums;   /* ENUM: allowed values "a|b|c" (matched case-insensitively) */
    int64_t min, max;    /* INT range (min == max == 0: unbounded) */
    unsigned flags;
    size_t off;          /* offsetof() the field in the settings struct */
    const char *doc;
    const char *aliases; /* other accepted names "a|b", e.g. deprecated spellings */
} sl_prop;

typedef struct sl_kv {
    char *key, *value;
    bool used;           /* claimed by some property table */
    bool sensitive;
} sl_kv;

typedef struct sl_config {
    char *name;          /* connector name */
    char *origin;        /* file it came from */
    sl_kv *kv;
    int n, cap;
} sl_config;

/* Problems found while loading/validating; each names the key. */
typedef struct sl_errs {
    char **msg;
    int n, cap;
} sl_errs;

void sl_errs_add(sl_errs *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_errs_free(sl_errs *e);

/*
 * What ${file:}, ${dir:} and ${env:} references may read, as Kafka Connect's
 * worker keys config.providers.file.param.allowed.paths,
 * config.providers.dir.param.allowed.paths and
 * config.providers.env.param.allowlist.pattern. NULL: no limit.
 */
typedef struct sl_conf_refs {
    const char *file_allowed; /* comma-separated absolute directories */
    const char *dir_allowed;
    const char *env_allowlist; /* POSIX extended regex a whole variable name must match */
} sl_conf_refs;

/* Checks the settings themselves (absolute directories, a regex that compiles); each error names its key. */
int sl_conf_refs_check(const sl_conf_refs *refs, sl_errs *errs);

/*
 * Loads JSON or .properties (chosen by content; a binary file, a JSON array or any JSON other than an object is
 * refused, saying what it is). A duplicate key is an error. Returns NULL with errstr set.
 */
sl_config *sl_config_load(const char *path, char *errstr, size_t errstr_size);
/* Parses JSON text (connector document or flat object); a duplicate key is an error. */
sl_config *sl_config_parse_json(const char *text, const char *origin, char *errstr, size_t errstr_size);
/* The same, with references limited to what refs allows (NULL: no limit). */
sl_config *sl_config_parse_json_refs(const char *text, const char *origin, const sl_conf_refs *refs, char *errstr,
                                     size_t errstr_size);
sl_config *sl_config_parse_properties(const char *text, const char *origin, char *errstr, size_t errstr_size);
void sl_config_destroy(sl_config *c);
void sl_config_set(sl_config *c, const char *key, const char *value);
/* Raw value of key, or NULL. */
const char *sl_config_get(const sl_config *c, const char *key);
/* Marks the key as known without a table (e.g. "name"). */
void sl_config_claim(sl_config *c, const char *key);

/*
 * Applies tbl to settings: for each property takes the configured value (or
 * its default), parses and range-checks it, stores it, marks the key used and
 * registers sensitive values with the log redactor. Problems go to errs.
 * Returns the number of problems added.
 */
int sl_conf_apply(const sl_prop *tbl, sl_config *cfg, void *settings, sl_errs *errs);
/* The same for the keys <prefix><name> (e.g. "transforms.unwrap."); errors name the full key. */
int sl_conf_apply_prefixed(const sl_prop *tbl, sl_config *cfg, const char *prefix, void *settings, sl_errs *errs);
/* The same, but a key given without the prefix is used when the prefixed one is not set (a sink's keys:
 * sink.<type>.<key> wins over <key>, which a source may also read). */
int sl_conf_apply_preferring(const sl_prop *tbl, sl_config *cfg, const char *prefix, void *settings, sl_errs *errs);
/* Frees the strings a table stored in settings. */
void sl_conf_free(const sl_prop *tbl, void *settings);
/* Keys nobody claimed and that Debezium/Connect users carry harmlessly are
 * ignored; others are reported through warn(). */
void sl_conf_unknown_keys(const sl_config *cfg, void (*warn)(const char *key, void *arg), void *arg);
/* Writes the Markdown table of a component's properties. */
void sl_conf_doc(FILE *out, const char *title, const char *intro, const sl_prop *tbl);
/* The files that file keys (SL_PF_FILE_*) name, to find two keys naming one file. */
typedef struct sl_file_use {
    char *key;    /* the property */
    char *owner;  /* whose: "connector a", "the worker" */
    char *path;   /* as configured */
    char *real;   /* sl_path_real(path) */
    unsigned flags;
    int tag;      /* the caller's: e.g. which config file */
    bool clash;   /* set by sl_file_uses_check */
} sl_file_use;

typedef struct sl_file_uses {
    sl_file_use *v;
    int n, cap;
} sl_file_uses;

void sl_file_uses_add(sl_file_uses *u, const char *key, const char *path, unsigned flags, const char *owner, int tag);
/* Adds the set file keys of tbl as applied to settings. */
void sl_file_uses_add_props(sl_file_uses *u, const sl_prop *tbl, const void *settings, const char *owner, int tag);
/* Removes the entries from index `from` on that are of key. */
void sl_file_uses_drop(sl_file_uses *u, int from, const char *key);
void sl_file_uses_append(sl_file_uses *u, const sl_file_uses *from);
/*
 * Adds to errs one error per two entries naming the same file, the first of them among the first `mine`
 * entries (one owner's: put them first); unless both only read it, or both are SHARED stores. The message
 * starts with the first one's key and names the second's key and, when it is another's, its owner. Both
 * entries get clash = true. Returns the number of errors added.
 */
int sl_file_uses_check(sl_file_uses *u, int mine, sl_errs *errs);
void sl_file_uses_free(sl_file_uses *u);

/* Checks each item of a comma-separated list against allowed ("a|b|c"): one error per other item, naming key
 * and the allowed values. */
void sl_conf_check_list(const char *key, const char *list, const char *allowed, sl_errs *errs);
/* True when s is in the comma-separated list (whitespace around items ignored). */
bool sl_list_has(const char *list, const char *s);

#endif
