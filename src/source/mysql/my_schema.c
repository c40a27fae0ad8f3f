/*
 * MySQL/MariaDB source: table schemas.
 *
 * The binlog describes each table in its TABLE_MAP event; with
 * binlog_row_metadata=FULL that includes column names, signedness,
 * charsets, ENUM/SET labels and the primary key, so the schema of every row
 * event comes from the binlog itself and stays right across DDL (a table
 * gets a new table id when its definition changes). information_schema
 * fills what the binlog lacks: names and keys on servers that log less
 * metadata, JSON columns (MariaDB's JSON is LONGTEXT with a json_valid
 * check), and the precision of old-format (MariaDB 5.3) temporal columns. The snapshot, which reads with SQL, uses information_schema only.
 */
#include "core/log.h"
#include "source/mysql/binlog.h"
#include "source/mysql/my_int.h"
#include "util/buf.h"
#include "util/mem.h"
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

my_rel *my_rel_find(my_source *s, uint64_t table_id) {
    for (int i = 0; i < s->nrels; i++)
        if (s->rels[i].table_id == table_id) return &s->rels[i];
    return NULL;
}

static void rel_clear(my_rel *r) {
    sl_free(r->tmap);
    r->tmap = NULL, r->tmap_len = 0;
    sl_table_unref(r->table);
    sl_free(r->map);
    sl_arena_free(&r->arena);
    r->table = NULL, r->map = NULL, r->cols = NULL, r->ncols = 0;
}

void my_rels_free(my_source *s) {
    for (int i = 0; i < s->nrels; i++) rel_clear(&s->rels[i]);
    sl_free(s->rels);
    s->rels = NULL, s->nrels = s->rels_cap = 0;
}

void my_rels_forget(my_source *s, const char *db, const char *table) {
    for (int i = 0; i < s->nrels; i++) {
        const sl_table *t = s->rels[i].table;
        if (!t || strcmp(t->db, db) || strcmp(t->name, table)) continue;
        rel_clear(&s->rels[i]);
        s->rels[i--] = s->rels[--s->nrels];
    }
}

static const char *type_name(uint8_t t) {
    switch (t) {
    case MYSQL_TYPE_TINY: return "TINYINT";
    case MYSQL_TYPE_SHORT: return "SMALLINT";
    case MYSQL_TYPE_INT24: return "MEDIUMINT";
    case MYSQL_TYPE_LONG: return "INT";
    case MYSQL_TYPE_LONGLONG: return "BIGINT";
    case MYSQL_TYPE_FLOAT: return "FLOAT";
    case MYSQL_TYPE_DOUBLE: return "DOUBLE";
    case MYSQL_TYPE_NEWDECIMAL: return "DECIMAL";
    case MYSQL_TYPE_DATE: case MYSQL_TYPE_NEWDATE: return "DATE";
    case MYSQL_TYPE_TIME: case MYSQL_TYPE_TIME2: return "TIME";
    case MYSQL_TYPE_DATETIME: case MYSQL_TYPE_DATETIME2: return "DATETIME";
    case MYSQL_TYPE_TIMESTAMP: case MYSQL_TYPE_TIMESTAMP2: return "TIMESTAMP";
    case MYSQL_TYPE_YEAR: return "YEAR";
    case MYSQL_TYPE_BIT: return "BIT";
    case MYSQL_TYPE_ENUM: return "ENUM";
    case MYSQL_TYPE_SET: return "SET";
    case MYSQL_TYPE_JSON: return "JSON";
    case MYSQL_TYPE_GEOMETRY: return "GEOMETRY";
    case MYSQL_TYPE_BLOB: case MYSQL_TYPE_TINY_BLOB: case MYSQL_TYPE_MEDIUM_BLOB: case MYSQL_TYPE_LONG_BLOB:
        return "BLOB";
    default: return "VARCHAR";
    }
}

void my_column_from_binlog(my_source *s, sl_column *c, const sl_my_col *mc) {
    c->type = sl_my_ctype(mc);
    c->optional = mc->nullable;
    c->is_unsigned = mc->is_unsigned;
    c->repr = (mc->binary || mc->type == MYSQL_TYPE_GEOMETRY) ? SL_REPR_RAW : SL_REPR_TEXT;
    c->precision = c->scale = c->length = -1;
    c->typmod = -1;
    c->src_type = mc->type;
    switch (mc->type) {
    case MYSQL_TYPE_NEWDECIMAL: c->precision = mc->meta >> 8, c->scale = mc->meta & 0xff; break;
    case MYSQL_TYPE_TIME2: case MYSQL_TYPE_DATETIME2: case MYSQL_TYPE_TIMESTAMP2:
    case MYSQL_TYPE_TIME: case MYSQL_TYPE_DATETIME: case MYSQL_TYPE_TIMESTAMP: /* fsp: information_schema */
        c->scale = mc->meta;
        break;
    case MYSQL_TYPE_BIT: c->length = (mc->meta >> 8) * 8 + (mc->meta & 0xff); break;
    default: break;
    }
    sl_free(c->type_name);
    c->type_name = sl_strdup(type_name(mc->type));
    if (mc->nlabels > 0) {
        sl_buf b;
        sl_buf_init(&b);
        for (int i = 0; i < mc->nlabels; i++) sl_buf_printf(&b, "%s%s", i ? "," : "", mc->labels[i]);
        sl_free(c->enum_values);
        c->enum_values = sl_strdup(sl_buf_cstr(&b));
        sl_buf_free(&b);
    }
}

/* ---- information_schema ---- */

static char *escape(MYSQL *m, const char *s) {
    size_t n = strlen(s);
    char *o = sl_malloc(n * 2 + 1);
    mysql_real_escape_string(m, o, s, (unsigned long)n);
    return o;
}

/* enum('a','b''c') / set(...) labels into arena. */
static int parse_labels(const char *coltype, sl_arena *arena, const char *const **out) {
    const char *p = strchr(coltype, '(');
    int n = 0, cap = 8;
    const char **labels = sl_arena_alloc(arena, sizeof(char *) * (size_t)cap);
    while (p && *p) {
        p = strchr(p, '\'');
        if (!p) break;
        sl_buf b;
        sl_buf_init(&b);
        for (p++; *p; p++) {
            if (*p == '\'' && p[1] == '\'') sl_buf_putc(&b, '\''), p++;
            else if (*p == '\'') break;
            else sl_buf_putc(&b, *p);
        }
        if (n == cap) {
            const char **more = sl_arena_alloc(arena, sizeof(char *) * (size_t)cap * 2);
            memcpy(more, labels, sizeof(char *) * (size_t)cap);
            labels = more, cap *= 2;
        }
        labels[n++] = sl_arena_strndup(arena, b.data ? b.data : "", b.len);
        sl_buf_free(&b);
        if (*p) p++;
    }
    *out = labels;
    return n;
}

/* The binlog type byte and metadata a column of this information_schema description has. */
static void col_from_info(sl_my_col *mc, const char *dtype, const char *coltype, const char *prec, const char *scale,
                          const char *dtprec, const char *charset, sl_arena *arena) {
    int p = prec ? atoi(prec) : 0, sc = scale ? atoi(scale) : 0, fsp = dtprec ? atoi(dtprec) : 0;
    mc->is_unsigned = strstr(coltype, "unsigned") != NULL;
    mc->binary = !charset || !*charset;
    mc->charset = 0;
    /* MariaDB 10.5+ marks the old (5.3) temporal formats in COLUMN_TYPE ("time(3) / * mariadb-5.3 * /"):
       the binlog logs those under the old type codes. */
    bool old = strstr(coltype, "mariadb-5.3") != NULL;
    if (!strcmp(dtype, "tinyint")) mc->type = MYSQL_TYPE_TINY;
    else if (!strcmp(dtype, "smallint")) mc->type = MYSQL_TYPE_SHORT;
    else if (!strcmp(dtype, "mediumint")) mc->type = MYSQL_TYPE_INT24;
    else if (!strcmp(dtype, "int")) mc->type = MYSQL_TYPE_LONG;
    else if (!strcmp(dtype, "bigint")) mc->type = MYSQL_TYPE_LONGLONG;
    else if (!strcmp(dtype, "float")) mc->type = MYSQL_TYPE_FLOAT;
    else if (!strcmp(dtype, "double")) mc->type = MYSQL_TYPE_DOUBLE;
    else if (!strcmp(dtype, "decimal")) mc->type = MYSQL_TYPE_NEWDECIMAL, mc->meta = (uint16_t)(p << 8 | sc);
    else if (!strcmp(dtype, "date")) mc->type = MYSQL_TYPE_DATE;
    else if (!strcmp(dtype, "time")) mc->type = old ? MYSQL_TYPE_TIME : MYSQL_TYPE_TIME2, mc->meta = (uint16_t)fsp;
    else if (!strcmp(dtype, "datetime"))
        mc->type = old ? MYSQL_TYPE_DATETIME : MYSQL_TYPE_DATETIME2, mc->meta = (uint16_t)fsp;
    else if (!strcmp(dtype, "timestamp"))
        mc->type = old ? MYSQL_TYPE_TIMESTAMP : MYSQL_TYPE_TIMESTAMP2, mc->meta = (uint16_t)fsp;
    else if (!strcmp(dtype, "year")) mc->type = MYSQL_TYPE_YEAR;
    else if (!strcmp(dtype, "bit")) mc->type = MYSQL_TYPE_BIT, mc->meta = (uint16_t)((p / 8) << 8 | (p % 8));
    else if (!strcmp(dtype, "enum") || !strcmp(dtype, "set")) {
        mc->type = dtype[0] == 'e' ? MYSQL_TYPE_ENUM : MYSQL_TYPE_SET;
        mc->nlabels = parse_labels(coltype, arena, &mc->labels);
        mc->binary = false;
    } else if (!strcmp(dtype, "json")) mc->type = MYSQL_TYPE_JSON, mc->binary = false;
    else if (strstr(dtype, "blob") || strstr(dtype, "text")) mc->type = MYSQL_TYPE_BLOB;
    else if (!strcmp(dtype, "geometry") || !strcmp(dtype, "point") || !strcmp(dtype, "linestring") ||
             !strcmp(dtype, "polygon") || strstr(dtype, "multi") || !strcmp(dtype, "geometrycollection"))
        mc->type = MYSQL_TYPE_GEOMETRY, mc->binary = true;
    else mc->type = MYSQL_TYPE_VARCHAR;
    if (charset && (!strcmp(charset, "latin1"))) mc->charset = 8;
}

/*
 * The column's default as Debezium puts it in the field's Connect schema ("default"), kept in the form of
 * the column's cells (rowimage.h) so that the encoder writes it as it writes values. def is
 * information_schema's COLUMN_DEFAULT: MariaDB quotes literals ('abc', '2024-01-01') and writes numbers
 * and expressions bare; NULL and the word NULL mean no default. Expressions (current_timestamp(), ...)
 * and the types whose default Debezium converts through a time zone or a bit string give none. Checked
 * against Debezium's events by tests/it/golden_mysql/defaults.sql.
 */
static void set_default(const my_source *s, sl_column *c, const char *def) {
    if (!def || !strcmp(def, "NULL")) return;
    sl_buf v;
    sl_buf_init(&v);
    size_t dn = strlen(def);
    bool quoted = s->mariadb && dn >= 2 && def[0] == '\'' && def[dn - 1] == '\'';
    if (quoted) { /* the quotes go, what is between them stays as written ('it''s' is it''s, as in Debezium) */
        sl_buf_put(&v, def + 1, dn - 2);
    } else {
        sl_buf_puts(&v, def);
    }
    const char *x = sl_buf_cstr(&v);
    bool ok = false;
    switch (c->type) {
    case SL_T_INT16: case SL_T_INT32: case SL_T_INT64: case SL_T_YEAR: ok = sl_decimal_text_ok(x, false); break;
    case SL_T_FLOAT32: case SL_T_FLOAT64: ok = sl_decimal_text_ok(x, true); break;
    case SL_T_NUMERIC:
        if ((ok = sl_decimal_text_ok(x, true) && c->scale >= 0)) { /* exactly `scale` fraction digits, as the cells */
            sl_buf d;
            sl_buf_init(&d);
            sl_buf_put_decimal_scaled(&d, x, c->scale);
            sl_buf_free(&v);
            v = d;
        }
        break;
    case SL_T_STRING: case SL_T_ENUM: case SL_T_SET: ok = quoted || !s->mariadb; break;
    case SL_T_DATE: ok = quoted && strlen(x) == 10 && strcmp(x, "0000-00-00") != 0; break;
    case SL_T_TIME: ok = quoted; break;
    case SL_T_TIMESTAMP: /* DATETIME; Debezium takes CURRENT_TIMESTAMP as the epoch */
        if (!quoted && !strncasecmp(x, "current_timestamp", 17)) {
            sl_buf_reset(&v);
            sl_buf_puts(&v, "1970-01-01 00:00:00");
            ok = true;
        } else {
            ok = quoted && strncmp(x, "0000-00-00", 10) != 0;
        }
        break;
    case SL_T_BIT: /* b'101': the bits, most significant first, as many as the column has */
        if ((ok = !quoted && (x[0] == 'b' || x[0] == 'B') && x[1] == '\'' && c->length > 0)) {
            size_t nb = strspn(x + 2, "01");
            sl_buf d;
            sl_buf_init(&d);
            for (long i = (long)nb; i < c->length; i++) sl_buf_putc(&d, '0');
            sl_buf_put(&d, x + 2, nb > (size_t)c->length ? (size_t)c->length : nb);
            sl_buf_free(&v);
            v = d;
        }
        break;
    default: break; /* TIMESTAMP (time zone conversion): none, as Debezium */
    }
    if (ok) sl_column_set_default(c, v.data ? v.data : "", v.len);
    sl_buf_free(&v);
}

void my_column_copy_default(sl_column *to, const sl_column *from) {
    sl_column_set_default(to, from->default_value, from->default_len);
}

sl_table *my_describe(my_source *s, const char *db, const char *table, sl_my_col **cols_out, int *ncols_out,
                      sl_arena *arena, char *errstr, size_t errsz) {
    char *edb = escape(s->sql, db), *etb = escape(s->sql, table);
    sl_buf q;
    sl_buf_init(&q);
    sl_buf_printf(&q,
                  "SELECT c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.IS_NULLABLE, c.COLUMN_KEY, c.NUMERIC_PRECISION,"
                  " c.NUMERIC_SCALE, c.DATETIME_PRECISION, c.CHARACTER_SET_NAME,"
                  " (SELECT COUNT(*) FROM information_schema.CHECK_CONSTRAINTS k WHERE k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA"
                  "   AND k.TABLE_NAME = c.TABLE_NAME AND k.CHECK_CLAUSE = CONCAT('json_valid(`', c.COLUMN_NAME, '`)')),"
                  " c.CHARACTER_MAXIMUM_LENGTH, c.COLUMN_DEFAULT"
                  " FROM information_schema.COLUMNS c WHERE c.TABLE_SCHEMA = '%s' AND c.TABLE_NAME = '%s'"
                  " ORDER BY c.ORDINAL_POSITION",
                  edb, etb);
    sl_free(edb), sl_free(etb);
    sl_table *t = NULL;
    if (mysql_query(s->sql, sl_buf_cstr(&q)) != 0) {
        snprintf(errstr, errsz, "describing %s.%s: %s", db, table, mysql_error(s->sql));
        sl_buf_free(&q);
        return NULL;
    }
    sl_buf_free(&q);
    MYSQL_RES *res = mysql_store_result(s->sql);
    int n = res ? (int)mysql_num_rows(res) : 0;
    if (n == 0) {
        snprintf(errstr, errsz, "table %s.%s not found in information_schema", db, table);
        mysql_free_result(res);
        return NULL;
    }
    sl_my_col *cols = sl_arena_alloc(arena, sizeof *cols * (size_t)n);
    memset(cols, 0, sizeof *cols * (size_t)n);
    t = sl_table_new(db, db, table, n);
    MYSQL_ROW row;
    for (int i = 0; (row = mysql_fetch_row(res)) != NULL && i < n; i++) {
        sl_my_col *mc = &cols[i];
        mc->name = sl_arena_strndup(arena, row[0], strlen(row[0]));
        col_from_info(mc, row[1], row[2], row[5], row[6], row[7], row[8], arena);
        if (row[9] && atoi(row[9]) > 0) mc->type = MYSQL_TYPE_JSON, mc->binary = false;
        mc->nullable = !strcmp(row[3], "YES");
        sl_column *c = &t->cols[i];
        c->name = sl_strdup(mc->name);
        my_column_from_binlog(s, c, mc);
        c->key = !strcmp(row[4], "PRI");
        t->nkeys += c->key;
        /* The declared type name (BINARY, POINT, ...) and length refine Debezium's mapping. */
        sl_free(c->type_name);
        c->type_name = sl_strdup(row[1]);
        for (char *u = c->type_name; *u; u++) *u = (char)toupper((unsigned char)*u);
        if (row[10] && c->length < 0 && !strcmp(c->type_name, "BINARY")) c->length = atoi(row[10]);
        set_default(s, c, row[11]);
    }
    mysql_free_result(res);
    *cols_out = cols;
    *ncols_out = n;
    return t;
}

/* ---- TABLE_MAP ---- */

static my_rel *rel_slot(my_source *s, uint64_t id) {
    my_rel *r = my_rel_find(s, id);
    if (r) {
        rel_clear(r);
        return r;
    }
    if (s->nrels == s->rels_cap) {
        s->rels_cap = s->rels_cap ? s->rels_cap * 2 : 16;
        s->rels = sl_realloc(s->rels, (size_t)s->rels_cap * sizeof *s->rels);
    }
    r = &s->rels[s->nrels++];
    memset(r, 0, sizeof *r);
    r->table_id = id;
    sl_arena_init(&r->arena);
    return r;
}

/* The 5.6-format type information_schema's description maps an old-format temporal type to. */
static uint8_t type56(uint8_t t) {
    switch (t) {
    case MYSQL_TYPE_TIME: return MYSQL_TYPE_TIME2;
    case MYSQL_TYPE_DATETIME: return MYSQL_TYPE_DATETIME2;
    case MYSQL_TYPE_TIMESTAMP: return MYSQL_TYPE_TIMESTAMP2;
    default: return 0;
    }
}

/*
 * MariaDB logs TIME/DATETIME/TIMESTAMP columns made with mysql56_temporal_format=OFF (or before
 * MariaDB 10.1) under the old type codes, and those with a fraction in MariaDB 5.3's "hires" layouts,
 * whose size depends on the precision; the table map has no metadata for these types. The precision
 * is the column's DATETIME_PRECISION in information_schema (found by name: the table may have
 * columns added or dropped since). Without it the classic formats (no fraction) are assumed.
 */
static void old_temporal_fsp(my_rel *r, const char *fq, const sl_my_col *icols, int nicols) {
    for (int i = 0; i < r->ncols; i++) {
        sl_my_col *mc = &r->cols[i];
        uint8_t t56 = type56(mc->type);
        if (!t56) continue;
        int k = i < nicols && !strcasecmp(icols[i].name, mc->name) ? i : -1;
        for (int j = 0; k < 0 && j < nicols; j++)
            if (!strcasecmp(icols[j].name, mc->name)) k = j;
        if (k >= 0 && (icols[k].type == mc->type || icols[k].type == t56)) {
            /* A column in the 5.6 format now was rebuilt after this event (an ALTER TABLE that copies
               converts old columns), or the server does not mark old columns (MySQL, whose old columns
               have no fraction; MariaDB before 10.5): its precision is the best guess there is. */
            if (icols[k].type == t56 && icols[k].meta)
                SL_DEBUG("mysql", "table %s column %s: old-format temporal event, the column is not marked "
                         "old-format now: taking its current precision %u", fq, mc->name, icols[k].meta);
            mc->meta = icols[k].meta;
            continue;
        }
        SL_WARN("mysql", "table %s column %s: old-format (MariaDB 5.3) temporal column that information_schema "
                "does not describe (the table changed or was dropped since): assuming no fractional seconds",
                fq, mc->name);
    }
}

/* Coarse kind of a column type, equal for the binlog's type code and information_schema's. */
static int type_kind(uint8_t t) {
    switch (t) {
    case MYSQL_TYPE_STRING: case MYSQL_TYPE_VAR_STRING: case MYSQL_TYPE_VARCHAR: case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_TINY_BLOB: case MYSQL_TYPE_MEDIUM_BLOB: case MYSQL_TYPE_LONG_BLOB: case MYSQL_TYPE_JSON:
        return MYSQL_TYPE_VARCHAR;
    case MYSQL_TYPE_NEWDATE: return MYSQL_TYPE_DATE;
    default: return type56(t) ? type56(t) : t;
    }
}

/*
 * ik[i] = the information_schema column that describes binlog column i, or -1. With column names in
 * the binlog (FULL) they are matched by name. Without them (MINIMAL, NO_LOG) information_schema
 * describes the table as it is now, which is the binlog's shape unless the table changed after the
 * event was written (the binlog is read behind the DDL): the columns must agree in number and kind,
 * except that a binlog with fewer columns whose kinds agree with information_schema's first ones is
 * taken as read before an ADD COLUMN at the end (logged). Anything else is an error that names the
 * table and the remedy: no row is ever decoded under the wrong column names.
 */
static int match_info(my_rel *r, const char *fq, const sl_my_col *icols, int nicols, int *ik, char *errstr,
                      size_t errsz) {
    bool names = r->cols[0].name != NULL;
    int bad = -1;
    for (int i = 0; i < r->ncols; i++) {
        ik[i] = -1;
        if (names) {
            for (int k = 0; k < nicols && ik[i] < 0; k++)
                if (!strcasecmp(icols[k].name, r->cols[i].name)) ik[i] = k;
            /* a name whose type differs now (MODIFY after this event): only its name is trusted */
            if (ik[i] >= 0 && type_kind(icols[ik[i]].type) != type_kind(r->cols[i].type)) ik[i] = -1;
            continue;
        }
        if (i < nicols && type_kind(icols[i].type) == type_kind(r->cols[i].type)) ik[i] = i;
        else if (bad < 0) bad = i;
    }
    if (names) return 0;
    if (!icols) {
        snprintf(errstr, errsz, "table %s: the binlog has no column names (binlog_row_metadata is not FULL) and "
                 "information_schema does not describe the table (dropped since?): set binlog_row_metadata=FULL",
                 fq);
        return -1;
    }
    if (bad >= 0 || r->ncols > nicols) {
        snprintf(errstr, errsz, "table %s: the binlog has no column names (binlog_row_metadata is not FULL) and "
                 "the table changed after this event was written (binlog column %d of %d does not match "
                 "information_schema's %d columns): set binlog_row_metadata=FULL on the server, or re-snapshot "
                 "from a position after the change", fq, bad >= 0 ? bad + 1 : nicols + 1, r->ncols, nicols);
        return -1;
    }
    if (r->ncols < nicols)
        SL_WARN("mysql", "table %s: binlog event with %d columns, information_schema has %d now: taking the first %d "
                "(an ADD COLUMN at the end since the event; binlog_row_metadata=FULL avoids this guess)",
                fq, r->ncols, nicols, r->ncols);
    return 0;
}

/* What information_schema knows and the binlog's optional metadata did not say. */
static void fill_from_info(sl_my_col *mc, const sl_my_col *ic) {
    if (!(mc->known & SL_MY_KNOWN_SIGN)) mc->is_unsigned = ic->is_unsigned;
    if (!(mc->known & SL_MY_KNOWN_CHARSET) && mc->type != MYSQL_TYPE_GEOMETRY)
        mc->binary = ic->binary, mc->charset = ic->charset;
    if (mc->nlabels == 0 && ic->nlabels) mc->nlabels = ic->nlabels, mc->labels = ic->labels;
}

int my_on_table_map(my_source *s, const uint8_t *b, size_t len, char *errstr, size_t errsz) {
    sl_my_tmap tm;
    if (sl_my_tmap_parse(b, len, &tm, errstr, errsz) < 0) return -1;
    /* Every transaction repeats its tables' TABLE_MAPs; a table id keeps its shape until DDL changes
       the id, so identical bytes mean the relation built before still holds (no catalog query). */
    my_rel *known = my_rel_find(s, tm.table_id);
    if (known && known->tmap && known->tmap_len == len && memcmp(known->tmap, b, len) == 0) return 0;
    uint64_t id = tm.table_id, ncols = (uint64_t)tm.ncols;
    const char *db = tm.db, *tb = tm.table;
    const uint8_t *types = tm.types, *meta = tm.meta, *nulls = tm.nulls, *p = tm.opt, *end = tm.opt + tm.opt_len;
    size_t metalen = tm.meta_len;
    my_rel *r = rel_slot(s, id);
    char fq[520];
    snprintf(fq, sizeof fq, "%s.%s", db, tb);
    const char *sc = sl_ctx_core(s->ctx)->sig_collection;
    bool match = sl_filter_match(&s->dbs, db) && sl_filter_match(&s->tables, fq);
    r->signal = sc && *sc && strcmp(fq, sc) == 0;
    r->hidden = !match;
    r->captured = match || r->signal;
    r->ncols = (int)ncols;
    r->tmap = sl_malloc(len);
    memcpy(r->tmap, b, len);
    r->tmap_len = len;
    if (!r->captured) return 0;
    r->cols = sl_arena_alloc(&r->arena, sizeof *r->cols * ncols);
    memset(r->cols, 0, sizeof *r->cols * ncols);
    for (uint64_t i = 0; i < ncols; i++) {
        r->cols[i].type = types[i];
        r->cols[i].nullable = (nulls[i / 8] >> (i % 8)) & 1;
    }
    if (sl_my_parse_meta(types, (int)ncols, meta, metalen, r->cols, errstr, errsz) < 0) return -1;
    int *pk = NULL, npk = 0;
    if (end > p && sl_my_parse_optional_meta(p, (size_t)(end - p), r->cols, (int)ncols, &r->arena, &pk, &npk, errstr,
                                             errsz) < 0)
        return -1;
    /* information_schema: what the binlog lacks (names, signedness, charsets, labels, keys with less
       than FULL metadata), and JSON columns. */
    sl_my_col *icols = NULL;
    int nicols = 0;
    char ierr[256];
    sl_table *info = my_describe(s, db, tb, &icols, &nicols, &r->arena, ierr, sizeof ierr);
    int *ik = sl_malloc(sizeof(int) * ncols);
    if (match_info(r, fq, info ? icols : NULL, nicols, ik, errstr, errsz) < 0) {
        sl_free(ik);
        sl_table_unref(info);
        return -1;
    }
    r->map = sl_malloc(sizeof(int) * ncols);
    int nt = 0;
    for (uint64_t i = 0; i < ncols; i++) {
        sl_my_col *mc = &r->cols[i];
        const sl_my_col *ic = ik[i] >= 0 ? &icols[ik[i]] : NULL;
        if (!mc->name) mc->name = ic->name;
        if (ic) fill_from_info(mc, ic);
        char fc[1024];
        snprintf(fc, sizeof fc, "%s.%s", fq, mc->name);
        r->map[i] = sl_filter_match(&s->columns, fc) ? nt++ : -1;
    }
    old_temporal_fsp(r, fq, icols, info ? nicols : 0);
    sl_table *t = sl_table_new(db, db, tb, nt);
    t->id = (uint32_t)id;
    sl_buf tb2;
    sl_buf_init(&tb2);
    sl_buf_printf(&tb2, "%s.%s.%s", s->cf->topic_prefix, db, tb);
    t->topic = sl_strdup(sl_buf_cstr(&tb2));
    sl_buf_free(&tb2);
    for (uint64_t i = 0; i < ncols; i++) {
        if (r->map[i] < 0) continue;
        sl_column *c = &t->cols[r->map[i]];
        c->name = sl_strdup(r->cols[i].name);
        my_column_from_binlog(s, c, &r->cols[i]);
        int k = ik[i];
        /* MariaDB's JSON is LONGTEXT with a json_valid() check: decoded as text, typed as JSON. */
        if (k >= 0 && icols[k].type == MYSQL_TYPE_JSON && r->cols[i].type == MYSQL_TYPE_BLOB) c->type = SL_T_JSON;
        if (k >= 0 && r->cols[i].type != MYSQL_TYPE_BLOB) {
            sl_free(c->type_name);
            c->type_name = sl_strdup(info->cols[k].type_name);
            if (c->length < 0) c->length = info->cols[k].length;
        }
        if (k >= 0) my_column_copy_default(c, &info->cols[k]);
        bool key = false;
        if (npk) {
            for (int j = 0; j < npk; j++) key |= pk[j] == (int)i;
        } else if (k >= 0) {
            key = info->cols[k].key;
        }
        c->key = key;
        t->nkeys += key;
    }
    sl_free(ik);
    sl_table_unref(info);
    r->table = t;
    SL_DEBUG("mysql", "table map id=%" PRIu64 " table=%s columns=%d captured=%d", id, fq, (int)ncols, nt);
    return 0;
}

/* ---- schema change events ---- */

int my_table_change(my_source *s, const char *type, const char *db, const char *table, bool comments,
                    const char *stmt, size_t stmt_len, sl_buf *out, char *errstr, size_t errsz) {
    char *edb = escape(s->sql, db), *etb = escape(s->sql, table);
    sl_buf q;
    sl_buf_init(&q);
    sl_buf_printf(&q,
                  "SELECT c.COLUMN_NAME, c.ORDINAL_POSITION, c.DATA_TYPE, c.COLUMN_TYPE, c.IS_NULLABLE,"
                  " c.CHARACTER_SET_NAME, c.COLUMN_DEFAULT, c.EXTRA, c.COLUMN_COMMENT, c.COLUMN_KEY,"
                  " (SELECT COUNT(*) FROM information_schema.CHECK_CONSTRAINTS k WHERE k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA"
                  "   AND k.TABLE_NAME = c.TABLE_NAME AND k.CHECK_CLAUSE = CONCAT('json_valid(`', c.COLUMN_NAME, '`)')),"
                  " (SELECT l.CHARACTER_SET_NAME FROM information_schema.TABLES t JOIN information_schema.COLLATIONS l"
                  "   ON l.COLLATION_NAME = t.TABLE_COLLATION WHERE t.TABLE_SCHEMA = c.TABLE_SCHEMA"
                  "   AND t.TABLE_NAME = c.TABLE_NAME),"
                  " (SELECT t.TABLE_COMMENT FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = c.TABLE_SCHEMA"
                  "   AND t.TABLE_NAME = c.TABLE_NAME),"
                  " (SELECT u.ORDINAL_POSITION FROM information_schema.KEY_COLUMN_USAGE u WHERE u.TABLE_SCHEMA ="
                  "   c.TABLE_SCHEMA AND u.TABLE_NAME = c.TABLE_NAME AND u.CONSTRAINT_NAME = 'PRIMARY'"
                  "   AND u.COLUMN_NAME = c.COLUMN_NAME)"
                  " FROM information_schema.COLUMNS c WHERE c.TABLE_SCHEMA = '%s' AND c.TABLE_NAME = '%s'"
                  " ORDER BY c.ORDINAL_POSITION",
                  edb, etb);
    sl_free(edb), sl_free(etb);
    if (mysql_query(s->sql, sl_buf_cstr(&q)) != 0) {
        snprintf(errstr, errsz, "describing %s.%s for a schema change event: %s", db, table, mysql_error(s->sql));
        sl_buf_free(&q);
        return -1;
    }
    sl_buf_free(&q);
    MYSQL_RES *res = mysql_store_result(s->sql);
    int n = res ? (int)mysql_num_rows(res) : 0;
    if (n == 0) { /* dropped (or renamed away) since: no description */
        mysql_free_result(res);
        sl_my_table_change_json(out, type, db, table, NULL, NULL, NULL, 0, NULL, 0);
        return 0;
    }
    sl_my_coldesc *cols = sl_calloc((size_t)n, sizeof *cols);
    const char **pk = sl_calloc((size_t)n, sizeof *pk);
    int npk = 0;
    const char *charset = NULL, *comment = NULL;
    MYSQL_ROW row;
    int nc = 0;
    while ((row = mysql_fetch_row(res)) != NULL && nc < n) {
        char fc[3 * SL_MY_IDENT + 3];
        snprintf(fc, sizeof fc, "%s.%s.%s", db, table, row[0]);
        charset = row[11], comment = comments ? row[12] : NULL;
        if (!sl_filter_match(&s->columns, fc)) continue; /* as in the change events: the column filters apply */
        int i = nc++;
        sl_my_coldesc *c = &cols[i];
        c->name = row[0];
        c->position = row[1] ? atoi(row[1]) : i + 1;
        /* MariaDB's JSON is LONGTEXT with a json_valid() check. Debezium reports what the statement it parses
           says: JSON for a column declared so in a DDL statement read from the binlog (stmt), LONGTEXT
           with its charset in the snapshot (SHOW CREATE TABLE shows it so). */
        bool json = stmt && row[10] && atoi(row[10]) > 0;
        c->data_type = json ? "json" : row[2];
        c->column_type = row[3];
        c->nullable = row[4] && !strcmp(row[4], "YES");
        c->charset = json ? NULL : row[5];
        c->default_expr = row[6];
        c->extra = row[7];
        c->comment = comments ? row[8] : NULL;
        c->no_width = stmt && sl_my_ddl_declared_width(stmt, stmt_len, c->name) == 0;
        if (row[13]) { /* PRIMARY KEY member: keep key order */
            int at = atoi(row[13]) - 1;
            if (at >= 0 && at < n && !pk[at]) pk[at] = row[0], npk = at + 1 > npk ? at + 1 : npk;
        }
    }
    int k = 0;
    for (int i = 0; i < npk; i++)
        if (pk[i]) pk[k++] = pk[i];
    sl_my_table_change_json(out, type, db, table, charset, comment, cols, nc, pk, k);
    sl_free(cols);
    sl_free(pk);
    mysql_free_result(res);
    return 0;
}
