/* libFuzzer target: binlog QUERY statements through the MySQL source's DDL classifier. */
#include "source/mysql/ddl.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sl_my_ddl d;
    sl_my_ddl_kind k = sl_my_ddl_parse((const char *)data, size, "db", &d);
    if (k != SL_MY_DDL_NONE && d.ntables > SL_MY_DDL_MAX_TABLES) abort();
    for (int i = 0; i < d.ntables; i++)
        if (strnlen(d.tables[i].name, SL_MY_IDENT) == SL_MY_IDENT) abort();
    return 0;
}
