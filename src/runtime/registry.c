/* The plugin registry: every source and sink sluice has, by name and alias (declared in core/plugin.h). */
#include "core/plugin.h"
#include <stddef.h>

extern const sl_source_ops sl_pg_source_ops, sl_mysql_source_ops, sl_mariadb_source_ops, sl_kafka_source_ops,
    sl_mongo_source_ops;
extern const sl_sink_ops sl_file_sink_ops, sl_stdout_sink_ops, sl_kafka_sink_ops, sl_mongo_sink_ops, sl_sql_sink_ops,
    sl_redis_sink_ops;

#define MAX_PLUGINS 16
const sl_source_ops *sl_sources[MAX_PLUGINS + 1] = {&sl_pg_source_ops, &sl_mysql_source_ops, &sl_mariadb_source_ops,
                                                    &sl_kafka_source_ops, &sl_mongo_source_ops, NULL};
const sl_sink_ops *sl_sinks[MAX_PLUGINS + 1] = {&sl_kafka_sink_ops, &sl_file_sink_ops, &sl_stdout_sink_ops,
                                                &sl_mongo_sink_ops, &sl_sql_sink_ops, &sl_redis_sink_ops, NULL};

int sl_plugin_add_source(const sl_source_ops *ops) {
    int n = 0;
    while (sl_sources[n]) n++;
    if (n == MAX_PLUGINS) return -1;
    sl_sources[n] = ops;
    return 0;
}

int sl_plugin_add_sink(const sl_sink_ops *ops) {
    int n = 0;
    while (sl_sinks[n]) n++;
    if (n == MAX_PLUGINS) return -1;
    sl_sinks[n] = ops;
    return 0;
}

const sl_source_ops *sl_source_find(const char *name) {
    for (int i = 0; name && sl_sources[i]; i++)
        if (sl_plugin_name_is(name, sl_sources[i]->name, sl_sources[i]->aliases)) return sl_sources[i];
    return NULL;
}

const sl_sink_ops *sl_sink_find(const char *name) {
    for (int i = 0; name && sl_sinks[i]; i++)
        if (sl_plugin_name_is(name, sl_sinks[i]->name, sl_sinks[i]->aliases)) return sl_sinks[i];
    return NULL;
}

const sl_source_ops *sl_source_of_topics(void) {
    for (int i = 0; sl_sources[i]; i++)
        if (sl_sources[i]->consumes_kafka) return sl_sources[i];
    return NULL;
}
