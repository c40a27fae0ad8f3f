/*
 * DDL statement heads (see ddl.h). A small tokenizer: comments are skipped
 * (version comments /​*!NNNNN ... *​/ are read as their content, as the
 * server runs them), identifiers are bare words or `quoted` ("" in
 * ANSI_QUOTES mode), anything else is a one-character token.
 */
#include "source/mysql/ddl.h"
#include <stdbool.h>
#include <stdio.h>
#include <ctype.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

typedef struct cur {
    const char *s;
    size_t n, i;
} cur;

static bool word_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
           c >= 0x80;
}

static void skip_space(cur *c) {
    while (c->i < c->n) {
        unsigned char ch = (unsigned char)c->s[c->i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == ';') {
            c->i++;
        } else if (ch == '#' || (ch == '-' && c->i + 2 < c->n && c->s[c->i + 1] == '-' &&
                                 (c->s[c->i + 2] == ' ' || c->s[c->i + 2] == '\t'))) {
            while (c->i < c->n && c->s[c->i] != '\n') c->i++;
        } else if (ch == '/' && c->i + 1 < c->n && c->s[c->i + 1] == '*') {
            size_t j = c->i + 2;
            if (j < c->n && c->s[j] == 'M' && j + 1 < c->n && c->s[j + 1] == '!') j++;
            if (j < c->n && c->s[j] == '!') { /* executable comment: its content counts */
                j++;
                while (j < c->n && c->s[j] >= '0' && c->s[j] <= '9') j++;
                c->i = j;
                continue;
            }
            while (j + 1 < c->n && !(c->s[j] == '*' && c->s[j + 1] == '/')) j++;
            c->i = j + 1 < c->n ? j + 2 : c->n;
        } else if (ch == '*' && c->i + 1 < c->n && c->s[c->i + 1] == '/') {
            c->i += 2; /* the end of an executable comment */
        } else {
            break;
        }
    }
}

/* True (and consumed) if the next token is the keyword kw. */
static bool kw(cur *c, const char *k) {
    skip_space(c);
    size_t len = strlen(k);
    if (c->n - c->i < len || strncasecmp(c->s + c->i, k, len) != 0) return false;
    if (c->i + len < c->n && word_char((unsigned char)c->s[c->i + len])) return false;
    c->i += len;
    return true;
}

static bool peek_kw(cur *c, const char *k) {
    size_t save = c->i;
    bool ok = kw(c, k);
    c->i = save;
    return ok;
}

static bool punct(cur *c, char p) {
    skip_space(c);
    if (c->i < c->n && c->s[c->i] == p) {
        c->i++;
        return true;
    }
    return false;
}

/* One identifier into out (SL_MY_IDENT bytes); false if there is none. */
static bool ident(cur *c, char *out) {
    skip_space(c);
    size_t o = 0;
    if (c->i >= c->n) return false;
    char q = c->s[c->i];
    if (q == '`' || q == '"') {
        size_t j = c->i + 1;
        for (;;) {
            if (j >= c->n) return false; /* unterminated */
            if (c->s[j] == q) {
                if (j + 1 < c->n && c->s[j + 1] == q) j++; /* doubled: the character itself */
                else break;
            }
            if (o + 1 >= SL_MY_IDENT) return false;
            out[o++] = c->s[j++];
        }
        c->i = j + 1;
    } else {
        while (c->i < c->n && word_char((unsigned char)c->s[c->i])) {
            if (o + 1 >= SL_MY_IDENT) return false;
            out[o++] = c->s[c->i++];
        }
    }
    out[o] = 0;
    return o > 0;
}

/* [db.]name: db defaults to the session's. */
static bool table_name(cur *c, const char *session_db, char *db, char *name) {
    char a[SL_MY_IDENT];
    if (!ident(c, a)) return false;
    size_t save = c->i;
    if (c->i < c->n && c->s[c->i] == '.') { /* no space before the dot: db.table, db.`t` */
        c->i++;
        if (ident(c, name)) {
            memcpy(db, a, sizeof a);
            return true;
        }
        c->i = save;
    }
    memcpy(name, a, sizeof a);
    snprintf(db, SL_MY_IDENT, "%s", session_db ? session_db : "");
    return true;
}

static sl_my_ddl_table *add_table(sl_my_ddl *d) {
    if (d->ntables == SL_MY_DDL_MAX_TABLES) {
        d->truncated = 1;
        return NULL;
    }
    sl_my_ddl_table *t = &d->tables[d->ntables++];
    memset(t, 0, sizeof *t);
    return t;
}

static bool one_table(cur *c, const char *session_db, sl_my_ddl *d) {
    sl_my_ddl_table t;
    if (!table_name(c, session_db, t.db, t.name)) return false;
    t.to_db[0] = t.to_name[0] = 0;
    sl_my_ddl_table *slot = add_table(d);
    if (slot) *slot = t;
    return true;
}

static sl_my_ddl_kind done(sl_my_ddl *d, sl_my_ddl_kind k) {
    d->kind = k;
    if (k == SL_MY_DDL_NONE) d->ntables = 0, d->db[0] = 0;
    return k;
}

static sl_my_ddl_kind database_stmt(cur *c, const char *session_db, sl_my_ddl *d, sl_my_ddl_kind k, bool optional) {
    if (k == SL_MY_DDL_CREATE_DB) {
        if (kw(c, "IF") && !(kw(c, "NOT") && kw(c, "EXISTS"))) return done(d, SL_MY_DDL_NONE);
    } else if (k == SL_MY_DDL_DROP_DB) {
        if (kw(c, "IF") && !kw(c, "EXISTS")) return done(d, SL_MY_DDL_NONE);
    }
    if (!ident(c, d->db)) {
        if (!optional || !session_db || !*session_db) return done(d, SL_MY_DDL_NONE);
        snprintf(d->db, sizeof d->db, "%s", session_db);
    }
    return done(d, k);
}

/* ALTER TABLE t ...: a RENAME [TO|AS] x at the top level makes it a rename; else an alter. */
static sl_my_ddl_kind alter_table(cur *c, const char *session_db, sl_my_ddl *d) {
    if (kw(c, "IF") && !kw(c, "EXISTS")) return done(d, SL_MY_DDL_NONE);
    if (!one_table(c, session_db, d)) return done(d, SL_MY_DDL_NONE);
    int depth = 0;
    while (c->i < c->n) {
        skip_space(c);
        if (c->i >= c->n) break;
        char ch = c->s[c->i];
        if (ch == '(') depth++, c->i++;
        else if (ch == ')') depth--, c->i++;
        else if (ch == '\'' || ch == '"') { /* a string literal */
            size_t j = c->i + 1;
            while (j < c->n && c->s[j] != ch) j += c->s[j] == '\\' ? 2 : 1;
            c->i = j < c->n ? j + 1 : c->n;
        } else if (depth == 0 && kw(c, "RENAME")) {
            if (peek_kw(c, "COLUMN") || peek_kw(c, "INDEX") || peek_kw(c, "KEY") || peek_kw(c, "CONSTRAINT")) continue;
            if (!kw(c, "TO")) (void)kw(c, "AS");
            sl_my_ddl_table *t = &d->tables[0];
            if (!table_name(c, session_db, t->to_db, t->to_name)) return done(d, SL_MY_DDL_NONE);
            return done(d, SL_MY_DDL_RENAME);
        } else if (ch == '`') {
            char skip[SL_MY_IDENT];
            if (!ident(c, skip)) c->i++;
        } else if (word_char((unsigned char)ch)) {
            while (c->i < c->n && word_char((unsigned char)c->s[c->i])) c->i++;
        } else {
            c->i++;
        }
    }
    return done(d, SL_MY_DDL_ALTER);
}

/* CREATE|DROP [...] INDEX name ... ON t: an alter of t. */
static sl_my_ddl_kind index_stmt(cur *c, const char *session_db, sl_my_ddl *d) {
    char name[SL_MY_IDENT];
    if (kw(c, "IF")) {
        kw(c, "NOT");
        if (!kw(c, "EXISTS")) return done(d, SL_MY_DDL_NONE);
    }
    if (!ident(c, name)) return done(d, SL_MY_DDL_NONE);
    for (int guard = 0; guard < 8 && !kw(c, "ON"); guard++) { /* USING BTREE etc. */
        if (!ident(c, name)) return done(d, SL_MY_DDL_NONE);
    }
    if (!one_table(c, session_db, d)) return done(d, SL_MY_DDL_NONE);
    return done(d, SL_MY_DDL_ALTER);
}

sl_my_ddl_kind sl_my_ddl_parse(const char *sql, size_t len, const char *session_db, sl_my_ddl *d) {
    cur c = {sql ? sql : "", sql ? len : 0, 0};
    d->kind = SL_MY_DDL_NONE;
    d->db[0] = 0;
    d->ntables = 0;
    d->truncated = 0;
    if (kw(&c, "CREATE")) {
        if (kw(&c, "OR") && !kw(&c, "REPLACE")) return done(d, SL_MY_DDL_NONE);
        if (kw(&c, "DATABASE") || kw(&c, "SCHEMA")) return database_stmt(&c, session_db, d, SL_MY_DDL_CREATE_DB, false);
        if (kw(&c, "TEMPORARY")) return done(d, SL_MY_DDL_NONE); /* session-local: not a schema change */
        if (kw(&c, "TABLE")) {
            if (kw(&c, "IF") && !(kw(&c, "NOT") && kw(&c, "EXISTS"))) return done(d, SL_MY_DDL_NONE);
            return one_table(&c, session_db, d) ? done(d, SL_MY_DDL_CREATE) : done(d, SL_MY_DDL_NONE);
        }
        (void)(kw(&c, "ONLINE") || kw(&c, "OFFLINE"));
        (void)(kw(&c, "UNIQUE") || kw(&c, "FULLTEXT") || kw(&c, "SPATIAL"));
        if (kw(&c, "INDEX")) return index_stmt(&c, session_db, d);
        return done(d, SL_MY_DDL_NONE);
    }
    if (kw(&c, "ALTER")) {
        if (kw(&c, "DATABASE") || kw(&c, "SCHEMA")) {
            /* ALTER DATABASE [db] options: without a name (an option word follows) it is the session's */
            if (peek_kw(&c, "DEFAULT") || peek_kw(&c, "CHARACTER") || peek_kw(&c, "CHARSET") ||
                peek_kw(&c, "COLLATE") || peek_kw(&c, "COMMENT")) {
                if (!session_db || !*session_db) return done(d, SL_MY_DDL_NONE);
                snprintf(d->db, sizeof d->db, "%s", session_db);
                return done(d, SL_MY_DDL_ALTER_DB);
            }
            return database_stmt(&c, session_db, d, SL_MY_DDL_ALTER_DB, true);
        }
        (void)(kw(&c, "ONLINE") || kw(&c, "OFFLINE"));
        (void)kw(&c, "IGNORE");
        if (kw(&c, "TABLE")) return alter_table(&c, session_db, d);
        return done(d, SL_MY_DDL_NONE);
    }
    if (kw(&c, "DROP")) {
        if (kw(&c, "DATABASE") || kw(&c, "SCHEMA")) return database_stmt(&c, session_db, d, SL_MY_DDL_DROP_DB, false);
        if (kw(&c, "TEMPORARY")) return done(d, SL_MY_DDL_NONE);
        if (kw(&c, "TABLE")) {
            if (kw(&c, "IF") && !kw(&c, "EXISTS")) return done(d, SL_MY_DDL_NONE);
            do {
                if (!one_table(&c, session_db, d)) return done(d, SL_MY_DDL_NONE);
            } while (punct(&c, ','));
            return done(d, SL_MY_DDL_DROP);
        }
        (void)(kw(&c, "ONLINE") || kw(&c, "OFFLINE"));
        if (kw(&c, "INDEX")) return index_stmt(&c, session_db, d);
        return done(d, SL_MY_DDL_NONE);
    }
    if (kw(&c, "RENAME")) {
        if (!kw(&c, "TABLE") && !kw(&c, "TABLES")) return done(d, SL_MY_DDL_NONE);
        do {
            char db[SL_MY_IDENT], name[SL_MY_IDENT];
            if (!table_name(&c, session_db, db, name)) return done(d, SL_MY_DDL_NONE);
            if (kw(&c, "WAIT")) { /* MariaDB: RENAME TABLE t [WAIT n | NOWAIT] TO ... */
                char secs[SL_MY_IDENT];
                if (!ident(&c, secs)) return done(d, SL_MY_DDL_NONE);
            } else {
                (void)kw(&c, "NOWAIT");
            }
            if (!kw(&c, "TO")) return done(d, SL_MY_DDL_NONE);
            sl_my_ddl_table *t = add_table(d);
            sl_my_ddl_table tmp;
            if (!t) t = &tmp;
            memcpy(t->db, db, sizeof db);
            memcpy(t->name, name, sizeof name);
            if (!table_name(&c, session_db, t->to_db, t->to_name)) return done(d, SL_MY_DDL_NONE);
        } while (punct(&c, ','));
        return done(d, SL_MY_DDL_RENAME);
    }
    if (kw(&c, "TRUNCATE")) {
        (void)kw(&c, "TABLE");
        return one_table(&c, session_db, d) ? done(d, SL_MY_DDL_TRUNCATE) : done(d, SL_MY_DDL_NONE);
    }
    return done(d, SL_MY_DDL_NONE);
}

const char *sl_my_ddl_kind_name(sl_my_ddl_kind k) {
    static const char *names[] = {"NONE",   "CREATE",    "ALTER",    "DROP",   "RENAME",
                                  "TRUNCATE", "CREATE_DB", "ALTER_DB", "DROP_DB"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "NONE";
}

/* ---- tableChanges ---- */

int sl_my_jdbc_type(const char *t) {
    static const struct {
        const char *name;
        int jdbc;
    } map[] = {
        {"bit", -7},        {"tinyint", 5},     {"smallint", 5},    {"mediumint", 4},   {"int", 4},
        {"integer", 4},     {"bigint", -5},     {"float", 6},       {"double", 8},      {"real", 7},
        {"decimal", 3},     {"numeric", 2},     {"date", 91},       {"time", 92},       {"datetime", 93},
        {"timestamp", 2014}, {"year", 4},       {"char", 1},        {"varchar", 12},    {"binary", -2},
        {"varbinary", -3},  {"tinytext", 12},   {"text", 12},       {"mediumtext", 12}, {"longtext", 12},
        {"tinyblob", 2004}, {"blob", 2004},     {"mediumblob", 2004}, {"longblob", 2004}, {"enum", 1},
        {"set", 1},         {"json", 1111},     {"boolean", 16},    {"bool", 16},
    };
    for (size_t i = 0; t && i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(t, map[i].name) == 0) return map[i].jdbc;
    return 1111; /* geometry types, inet6, uuid, ...: OTHER */
}

static void put_jstr(sl_buf *b, const char *s) {
    if (s) sl_buf_put_json_str(b, s, strlen(s));
    else sl_buf_puts(b, "null");
}

/* "(12,2)" after the type name in COLUMN_TYPE: length and scale (-1 when absent). */
static void type_numbers(const char *ct, long *len, long *scale) {
    *len = *scale = -1;
    const char *p = ct ? strchr(ct, '(') : NULL;
    if (!p) return;
    char *e;
    long a = strtol(p + 1, &e, 10);
    if (e == p + 1) return;
    *len = a;
    if (*e == ',') {
        const char *q = e + 1;
        long b = strtol(q, &e, 10);
        if (e != q) *scale = b;
    }
}

/* ENUM/SET labels from COLUMN_TYPE "enum('a','b''c')" as Debezium lists them: the SQL literals, quotes kept. */
static void put_labels(sl_buf *b, const char *ct) {
    const char *p = strchr(ct, '(');
    sl_buf_putc(b, '[');
    bool first = true;
    while (p && *p) {
        p = strchr(p, '\'');
        if (!p) break;
        const char *start = p;
        for (p++; *p; p++) {
            if ((*p == '\'' && p[1] == '\'') || (*p == '\\' && p[1])) p++;
            else if (*p == '\'') break;
        }
        if (!*p) break; /* unterminated */
        p++;
        if (!first) sl_buf_putc(b, ',');
        first = false;
        sl_buf_put_json_str(b, start, (size_t)(p - start));
    }
    sl_buf_putc(b, ']');
}

/* The default as Debezium's defaultValueExpression: a quoted string literal unquoted; NULL stays null. */
/*
 * defaultValueExpression as Debezium's DDL parser gives it: a quoted literal without its quotes (what is
 * between them as written: 'it''s' is it''s), b'1' as 1, CURRENT_TIMESTAMP of a TIMESTAMP or DATETIME
 * column as the epoch, NULL as null, anything else as written.
 */
static void put_default(sl_buf *b, const sl_my_coldesc *c) {
    const char *d = c->default_expr;
    if (!d || strcasecmp(d, "NULL") == 0) {
        sl_buf_puts(b, "null");
        return;
    }
    size_t n = strlen(d);
    bool temporal = c->data_type && (!strcasecmp(c->data_type, "timestamp") || !strcasecmp(c->data_type, "datetime"));
    if (temporal && !strncasecmp(d, "current_timestamp", 17)) sl_buf_put_json_str(b, "1970-01-01 00:00:00", 19);
    else if (n >= 2 && d[0] == '\'' && d[n - 1] == '\'') sl_buf_put_json_str(b, d + 1, n - 2);
    else if (n >= 3 && (d[0] == 'b' || d[0] == 'B') && d[1] == '\'' && d[n - 1] == '\'') sl_buf_put_json_str(b, d + 2, n - 3);
    else sl_buf_put_json_str(b, d, n);
}

static bool has_word(const char *s, const char *w) { return s && strcasestr(s, w) != NULL; }

/* The labels of COLUMN_TYPE "enum('a','b''c')". */
static long count_labels(const char *coltype) {
    long n = 0;
    const char *p = coltype ? strchr(coltype, '(') : NULL;
    for (bool in = false; p && *p; p++) {
        if (*p != '\'') continue;
        if (in && p[1] == '\'') p++;
        else if ((in = !in)) n++;
    }
    return n;
}

static void put_column(sl_buf *b, const sl_my_coldesc *c) {
    bool is_enum = c->data_type && (!strcasecmp(c->data_type, "enum") || !strcasecmp(c->data_type, "set"));
    long len, scale;
    type_numbers(is_enum || c->no_width ? NULL : c->column_type, &len, &scale);
    /* Debezium's DDL parser: an ENUM has length 1, a SET the length of all its labels' flags and commas */
    if (is_enum) len = tolower((unsigned char)c->data_type[0]) == 'e' ? 1 : 2 * count_labels(c->column_type) - 1;
    char tn[96];
    size_t o = 0;
    for (const char *p = c->data_type ? c->data_type : ""; *p && o + 1 < 64; p++)
        tn[o++] = (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
    tn[o] = 0;
    if (has_word(c->column_type, " unsigned")) snprintf(tn + o, sizeof tn - o, " UNSIGNED");
    o = strlen(tn);
    if (has_word(c->column_type, " zerofill")) snprintf(tn + o, sizeof tn - o, " ZEROFILL");
    bool autoinc = has_word(c->extra, "auto_increment");
    sl_buf_puts(b, "{\"name\":");
    put_jstr(b, c->name ? c->name : "");
    sl_buf_printf(b, ",\"jdbcType\":%d,\"nativeType\":null,\"typeName\":", sl_my_jdbc_type(c->data_type));
    put_jstr(b, tn);
    sl_buf_puts(b, ",\"typeExpression\":");
    put_jstr(b, tn);
    sl_buf_puts(b, ",\"charsetName\":");
    put_jstr(b, c->charset);
    sl_buf_puts(b, ",\"length\":");
    if (len >= 0) sl_buf_put_i64(b, len);
    else sl_buf_puts(b, "null");
    sl_buf_puts(b, ",\"scale\":");
    if (scale >= 0) sl_buf_put_i64(b, scale);
    else sl_buf_puts(b, "null");
    sl_buf_printf(b, ",\"position\":%d,\"optional\":%s,\"autoIncremented\":%s,\"generated\":%s,\"comment\":",
                  c->position, c->nullable ? "true" : "false", autoinc ? "true" : "false",
                  autoinc ? "true" : "false"); /* Debezium: generated means AUTO_INCREMENT, not GENERATED AS */
    put_jstr(b, c->comment && *c->comment ? c->comment : NULL);
    sl_buf_puts(b, ",\"defaultValueExpression\":");
    put_default(b, c);
    sl_buf_puts(b, ",\"enumValues\":");
    if (is_enum && c->column_type) put_labels(b, c->column_type);
    else sl_buf_puts(b, "null");
    sl_buf_putc(b, '}');
}

void sl_my_table_change_json(sl_buf *out, const char *type, const char *db, const char *table,
                             const char *default_charset, const char *table_comment, const sl_my_coldesc *cols,
                             int ncols, const char *const *pk, int npk) {
    sl_buf id;
    sl_buf_init(&id);
    sl_buf_printf(&id, "\"%s\".\"%s\"", db ? db : "", table ? table : "");
    sl_buf_puts(out, "{\"type\":");
    put_jstr(out, type);
    sl_buf_puts(out, ",\"id\":");
    sl_buf_put_json_str(out, id.data, id.len);
    sl_buf_free(&id);
    sl_buf_puts(out, ",\"table\":");
    if (!cols) {
        sl_buf_puts(out, "null}");
        return;
    }
    sl_buf_puts(out, "{\"defaultCharsetName\":");
    put_jstr(out, default_charset);
    sl_buf_puts(out, ",\"primaryKeyColumnNames\":[");
    for (int i = 0; i < npk; i++) {
        if (i) sl_buf_putc(out, ',');
        put_jstr(out, pk[i]);
    }
    sl_buf_puts(out, "],\"columns\":[");
    for (int i = 0; i < ncols; i++) {
        if (i) sl_buf_putc(out, ',');
        put_column(out, &cols[i]);
    }
    sl_buf_puts(out, "],\"comment\":");
    put_jstr(out, table_comment && *table_comment ? table_comment : NULL);
    sl_buf_puts(out, "}}");
}

int sl_my_ddl_declared_width(const char *stmt, size_t len, const char *col) {
    size_t cn = strlen(col);
    if (cn == 0) return -1;
    for (size_t i = 0; i + cn < len; i++) {
        /* the name as a whole word, bare or in backquotes */
        bool q = stmt[i] == '`';
        size_t at = i + q;
        if (at + cn > len || strncasecmp(stmt + at, col, cn) != 0) continue;
        size_t e = at + cn;
        if (q ? (e >= len || stmt[e] != '`') : (i > 0 && (isalnum((unsigned char)stmt[i - 1]) || stmt[i - 1] == '_')))
            continue;
        e += q;
        if (!q && e < len && (isalnum((unsigned char)stmt[e]) || stmt[e] == '_')) continue;
        if (e >= len || !isspace((unsigned char)stmt[e])) continue;
        while (e < len && isspace((unsigned char)stmt[e])) e++;
        size_t t = e;
        while (e < len && isalpha((unsigned char)stmt[e])) e++;
        static const char *const ints[] = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"};
        bool is_int = false;
        for (size_t k = 0; k < sizeof ints / sizeof *ints; k++)
            is_int |= e - t == strlen(ints[k]) && strncasecmp(stmt + t, ints[k], e - t) == 0;
        if (!is_int) continue; /* not the column's definition as an integer (an index, a RENAME, ...) */
        while (e < len && isspace((unsigned char)stmt[e])) e++;
        return e < len && stmt[e] == '(' ? 1 : 0;
    }
    return -1;
}
