/*
 * `sluice status`: asks a running `sluice serve` over its REST API for its
 * connectors and prints them as a table (or one JSON document).
 */
#ifndef SL_CLI_STATUS_H
#define SL_CLI_STATUS_H

/*
 * argv[0..argc) are the arguments after "status" (main passes argc - 2,
 * argv + 2; argc may be 0):
 *   [--url URL] [--token TOKEN | --token-file FILE] [--json] [--no-rate]
 * URL defaults to http://127.0.0.1:8083; the token to $SLUICE_REST_TOKEN.
 * Prints to stdout; returns the exit code: 0 ok, 1 the daemon cannot be
 * reached or answered with an error, 2 bad usage.
 */
int sl_cmd_status(int argc, char **argv);

/* The usage text of the command (for `sluice help`). */
extern const char sl_status_usage[];

#endif
