/*
 * `sluice serve --config worker.json`: the daemon. A worker (worker/worker.h)
 * runs the connectors created through Kafka Connect's REST API
 * (rest/server.h); SIGINT/SIGTERM stop the API, drain and commit every
 * connector, and exit 0.
 */
#ifndef SL_REST_SERVE_H
#define SL_REST_SERVE_H

/* argv[0..argc) are the arguments after "serve": --config FILE (or FILE). Returns the exit code:
 * 0 after a signal, 1 when the worker cannot start, 2 bad usage or a bad worker config. */
int sl_cmd_serve(int argc, char **argv);

extern const char sl_serve_usage[];

#endif
