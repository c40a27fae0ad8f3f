/*
 * bench-mysql's peer: a bare MariaDB Connector/C replication loop that
 * receives the binlog from FILE:POS up to END_FILE:END_POS and counts row
 * events, without decoding rows: the limit of what the server sends and
 * the client library delivers.
 *
 * usage: rpl_recv HOST PORT USER PASSWORD FILE POS END_FILE END_POS
 *        rpl_recv HOST PORT USER PASSWORD FILE POS table TABLE
 * The second form (live mode) stops at the commit of the first transaction
 * that writes rows of TABLE (a marker written after the workload).
 */
#include <mysql.h>
/* after mysql.h, which it needs */
#include <mariadb_rpl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: rpl_recv HOST PORT USER PASSWORD FILE POS (END_FILE END_POS | table TABLE)\n");
        return 2;
    }
    MYSQL *m = mysql_init(NULL);
    if (!mysql_real_connect(m, argv[1], argv[3], argv[4], NULL, (unsigned)atoi(argv[2]), NULL, 0)) {
        fprintf(stderr, "connect: %s\n", mysql_error(m));
        return 1;
    }
    mysql_query(m, "SET @master_binlog_checksum = @@global.binlog_checksum");
    mysql_query(m, "SET @mariadb_slave_capability = 4");
    MARIADB_RPL *rpl = mariadb_rpl_init(m);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, 99123);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, argv[5], strlen(argv[5]));
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, strtoul(argv[6], NULL, 10));
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, 0);
    if (mariadb_rpl_open(rpl)) {
        fprintf(stderr, "rpl open: %s\n", mysql_error(m));
        return 1;
    }
    const char *end_file = argv[7];
    unsigned long end_pos = strtoul(argv[8], NULL, 10);
    const char *marker = strcmp(argv[7], "table") == 0 ? argv[8] : NULL;
    int marker_seen = 0;
    char file[256];
    snprintf(file, sizeof file, "%s", argv[5]);
    unsigned long long rows_events = 0;
    MARIADB_RPL_EVENT *ev = NULL;
    while ((ev = mariadb_rpl_fetch(rpl, ev)) != NULL) {
        if (ev->event_type == ROTATE_EVENT)
            snprintf(file, sizeof file, "%.*s", (int)ev->event.rotate.filename.length, ev->event.rotate.filename.str);
        if (ev->event_type >= WRITE_ROWS_EVENT_V1 && ev->event_type <= DELETE_ROWS_EVENT_V1) rows_events++;
        if (marker && ev->event_type == TABLE_MAP_EVENT && ev->event.table_map.table.length == strlen(marker) &&
            memcmp(ev->event.table_map.table.str, marker, strlen(marker)) == 0)
            marker_seen = 1;
        if (marker) {
            if (ev->event_type == XID_EVENT && marker_seen) break;
            continue;
        }
        /* The range ends with a transaction's commit (XID) at END_FILE:END_POS; artificial events
           (format description, GTID list) carry no position and do not count. */
        if (ev->event_type == XID_EVENT && strcmp(file, end_file) == 0 && ev->next_event_pos >= end_pos) break;
    }
    printf("%llu\n", rows_events);
    if (ev) mariadb_free_rpl_event(ev);
    mariadb_rpl_close(rpl);
    mysql_close(m);
    return 0;
}
