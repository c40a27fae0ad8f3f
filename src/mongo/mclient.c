/* The MongoDB client set-up of the source and the sink (see mclient.h). */
#include "mongo/mclient.h"
#include "util/buf.h"
#include "util/mem.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void init_driver(void) { mongoc_init(); }

void sl_mongo_init(void) { pthread_once(&init_once, init_driver); }

/* mongodb://<hosts>, mongo-kafka's default partition name (no credentials, no options). */
static char *hosts_of(const mongoc_uri_t *uri) {
    sl_buf b;
    sl_buf_init(&b);
    const char *u = mongoc_uri_get_string(uri);
    sl_buf_puts(&b, strncmp(u, "mongodb+srv://", 14) == 0 ? "mongodb+srv://" : "mongodb://");
    const char *srv = mongoc_uri_get_srv_hostname(uri);
    if (srv) {
        sl_buf_puts(&b, srv);
    } else {
        for (const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri); h; h = h->next) {
            if (h != mongoc_uri_get_hosts(uri)) sl_buf_putc(&b, ',');
            sl_buf_puts(&b, h->host_and_port);
        }
    }
    char *out = sl_strdup(sl_buf_cstr(&b));
    sl_buf_free(&b);
    return out;
}

mongoc_client_t *sl_mongo_client_new(const char *uri_text, const char *appname, bool acked_writes, char **hosts,
                                     char *errstr, size_t errsz) {
    bson_error_t be;
    sl_mongo_init();
    /* The URI is sensitive: its parser's message may quote it, so it is not repeated. */
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_text, &be);
    if (!uri) {
        snprintf(errstr, errsz, "connection.uri: not a valid MongoDB connection string");
        return NULL;
    }
    const mongoc_write_concern_t *wc = mongoc_uri_get_write_concern(uri);
    if (acked_writes && wc && !mongoc_write_concern_is_acknowledged(wc)) {
        mongoc_uri_destroy(uri);
        snprintf(errstr, errsz, "connection.uri: w=0 (unacknowledged writes) is not allowed: the source offset is "
                                "committed only after MongoDB acknowledged the writes");
        return NULL;
    }
    if (hosts) *hosts = hosts_of(uri);
    mongoc_client_t *client = mongoc_client_new_from_uri_with_error(uri, &be);
    mongoc_uri_destroy(uri);
    if (!client) {
        snprintf(errstr, errsz, "connection.uri: %s", be.message);
        return NULL;
    }
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(client, appname);
    return client;
}

bool sl_mongo_operation_time(mongoc_client_t *client, uint32_t *t, uint32_t *i, char *errstr, size_t errsz) {
    bson_t ping = BSON_INITIALIZER, reply;
    BSON_APPEND_INT32(&ping, "ping", 1);
    bson_error_t be;
    bool ok = mongoc_client_command_simple(client, "admin", &ping, NULL, &reply, &be);
    bson_destroy(&ping);
    bson_iter_t it;
    *t = *i = 0;
    if (ok && bson_iter_init_find(&it, &reply, "operationTime") && BSON_ITER_HOLDS_TIMESTAMP(&it))
        bson_iter_timestamp(&it, t, i);
    bson_destroy(&reply);
    if (!ok) snprintf(errstr, errsz, "cannot reach the MongoDB server of connection.uri: %s", be.message);
    return ok;
}

bool sl_mongo_ping(mongoc_client_t *client, char *errstr, size_t errsz) {
    bson_t ping = BSON_INITIALIZER;
    BSON_APPEND_INT32(&ping, "ping", 1);
    bson_error_t be;
    bool ok = mongoc_client_command_simple(client, "admin", &ping, NULL, NULL, &be);
    bson_destroy(&ping);
    if (!ok) snprintf(errstr, errsz, "cannot reach the MongoDB server of connection.uri: %s", be.message);
    return ok;
}
