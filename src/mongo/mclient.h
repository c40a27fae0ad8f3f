/*
 * What the MongoDB source and sink share: the driver's one-time set-up and
 * a client for a connection.uri (parsed once; the URI is sensitive, so its
 * text is never repeated in a message), with the v2 error API and the
 * application name set.
 */
#ifndef SL_MONGO_MCLIENT_H
#define SL_MONGO_MCLIENT_H
#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stddef.h>

/* Initialises libmongoc once per process (any thread, any number of times). */
void sl_mongo_init(void);

/*
 * A client for uri under appname. acked_writes: a URI that asks for unacknowledged writes (w=0) is refused
 * (a sink commits offsets only after MongoDB acknowledged its writes). hosts (NULL: not wanted): set to
 * mongo-kafka's name of the servers, mongodb[+srv]://<hosts> without credentials or options (sl_free it).
 * NULL with errstr naming connection.uri on failure.
 */
mongoc_client_t *sl_mongo_client_new(const char *uri, const char *appname, bool acked_writes, char **hosts,
                                     char *errstr, size_t errstr_size);

/* Asks the server for a ping: true, or false with errstr ("cannot reach the MongoDB server of connection.uri: ..."). */
bool sl_mongo_ping(mongoc_client_t *client, char *errstr, size_t errstr_size);
/* A ping whose reply's operationTime (a replica set's or sharded cluster's) goes to *t, *i (both 0 when the
 * reply has none, as a standalone server's). False with errstr when the server cannot be reached. */
bool sl_mongo_operation_time(mongoc_client_t *client, uint32_t *t, uint32_t *i, char *errstr, size_t errstr_size);

#endif
