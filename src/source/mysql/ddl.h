/*
 * What a DDL statement from the binlog (a QUERY event) does to which tables:
 * enough to emit Debezium's schema change events and to know which table
 * descriptions to read. Not a SQL parser: it reads the statement's head
 * (CREATE/ALTER/DROP/RENAME/TRUNCATE TABLE, CREATE/DROP INDEX,
 * CREATE/ALTER/DROP DATABASE) and the table names that follow; anything
 * else is MY_DDL_NONE. Pure, bounds-checked, fuzzed.
 */
#ifndef SL_SOURCE_MYSQL_DDL_H
#define SL_SOURCE_MYSQL_DDL_H
#include "util/buf.h"
#include <stdbool.h>
#include <stddef.h>

typedef enum sl_my_ddl_kind {
    SL_MY_DDL_NONE = 0,
    SL_MY_DDL_CREATE,    /* CREATE [OR REPLACE] TABLE */
    SL_MY_DDL_ALTER,     /* ALTER TABLE, CREATE/DROP INDEX */
    SL_MY_DDL_DROP,      /* DROP TABLE a, b */
    SL_MY_DDL_RENAME,    /* RENAME TABLE a TO b, ...; ALTER TABLE a RENAME TO b */
    SL_MY_DDL_TRUNCATE,  /* TRUNCATE [TABLE] */
    SL_MY_DDL_CREATE_DB, /* CREATE DATABASE|SCHEMA */
    SL_MY_DDL_ALTER_DB,
    SL_MY_DDL_DROP_DB,
} sl_my_ddl_kind;

#define SL_MY_DDL_MAX_TABLES 64
#define SL_MY_IDENT 256 /* 64 characters of up to 4 bytes, NUL */

typedef struct sl_my_ddl_table {
    char db[SL_MY_IDENT], name[SL_MY_IDENT];       /* db: the statement's, else the session's */
    char to_db[SL_MY_IDENT], to_name[SL_MY_IDENT]; /* RENAME: the new name */
} sl_my_ddl_table;

typedef struct sl_my_ddl {
    sl_my_ddl_kind kind;
    char db[SL_MY_IDENT]; /* database statements: the database */
    int ntables;          /* table statements; more than SL_MY_DDL_MAX_TABLES are cut (truncated = 1) */
    int truncated;
    sl_my_ddl_table tables[SL_MY_DDL_MAX_TABLES];
} sl_my_ddl;

/* Classifies sql (len bytes, not NUL-terminated) run in session database session_db (may be NULL or "").
 * Returns out->kind; SL_MY_DDL_NONE for anything it does not recognise. */
sl_my_ddl_kind sl_my_ddl_parse(const char *sql, size_t len, const char *session_db, sl_my_ddl *out);
const char *sl_my_ddl_kind_name(sl_my_ddl_kind k);

/* One column as information_schema.COLUMNS describes it (strings NUL-terminated; NULL when SQL NULL). */
typedef struct sl_my_coldesc {
    const char *name;
    int position;            /* ORDINAL_POSITION, 1-based */
    const char *data_type;   /* DATA_TYPE: "int", "varchar", "enum", ... */
    const char *column_type; /* COLUMN_TYPE: "int(11) unsigned", "enum('a','b')", "decimal(12,2)", ... */
    bool nullable;           /* IS_NULLABLE = 'YES' */
    const char *charset;     /* CHARACTER_SET_NAME */
    const char *default_expr; /* COLUMN_DEFAULT (MariaDB: an expression, strings quoted, NULL as "NULL") */
    const char *extra;       /* EXTRA: "auto_increment", "VIRTUAL GENERATED", ... */
    const char *comment;     /* COLUMN_COMMENT */
    bool no_width;           /* the DDL statement declares this integer column without a display width:
                                Debezium's parser then reports no length (COLUMN_TYPE always has one) */
} sl_my_coldesc;

/*
 * How stmt (a CREATE or ALTER TABLE statement) declares column col as an integer: 1 with a display width
 * ("n INT(11)"), 0 without ("n INT"), -1 when the statement does not define it as an integer.
 */
int sl_my_ddl_declared_width(const char *stmt, size_t len, const char *col);

/* java.sql.Types of a MySQL DATA_TYPE, as Debezium's MySQL DDL parser assigns them (OTHER if unknown). */
int sl_my_jdbc_type(const char *data_type);

/*
 * Appends one element of Debezium's tableChanges array (io.debezium.connector.schema.Change, the
 * payload form): {"type":type,"id":"\"db\".\"table\"","table":{...}} — table null when cols is
 * NULL (a dropped table). pk: the primary key's column names in key order (npk may be 0).
 */
void sl_my_table_change_json(sl_buf *out, const char *type, const char *db, const char *table,
                             const char *default_charset, const char *table_comment, const sl_my_coldesc *cols,
                             int ncols, const char *const *pk, int npk);

#endif
