/* `sluice serve` (see serve.h): worker config, start-up order, signals, shutdown order. */
#include "rest/serve.h"
#include "core/log.h"
#include "rest/server.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "worker/worker.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>

const char sl_serve_usage[] =
    "usage: sluice serve --config WORKER_CONFIG\n"
    "  Runs the daemon: connectors are created and managed through Kafka Connect's REST API\n"
    "  (docs/rest-api.md). WORKER_CONFIG is JSON or .properties with the worker keys\n"
    "  (listeners, rest.auth.token, config.storage.file.filename, ...: sluice config-docs).\n"
    "  SIGINT/SIGTERM: stops the API, drains and commits every connector, exits 0.\n";

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

static void warn_key(const char *key, void *arg) {
    SL_WARN("config", "unknown worker key ignored: key=%s file=%s", key, (const char *)arg);
}

/* Applies the worker table; prints every problem. Returns 0 or -1. */
static int load_conf(sl_config *cfg, sl_worker_conf *wc, const char *path) {
    sl_errs errs = {0};
    sl_conf_apply(sl_worker_props, cfg, wc, &errs);
    if (wc->log_level && sl_log_parse_level(wc->log_level) < 0)
        sl_errs_add(&errs, "log.level: '%s' is not allowed (allowed: error, warn, info, debug, trace)", wc->log_level);
    /* An empty token would turn authentication off without anyone asking for it (a "" in the file, or a
       ${env:X} whose X is set but empty). */
    const char *tok = sl_config_get(cfg, "rest.auth.token");
    if (tok && tok[strspn(tok, " \t\r\n")] == 0)
        sl_errs_add(&errs, "rest.auth.token: empty (as written, or from a ${env:...} / ${file:...} that gave nothing): "
                    "give a token, or leave the key out to run without authentication");
    sl_conf_refs refs = {wc->file_allowed, wc->dir_allowed, wc->env_allowlist}; /* as written: each key once */
    sl_conf_refs_check(&refs, &errs);
    sl_file_uses files = {0}; /* e.g. the config store given as the https key */
    sl_worker_files(wc, &files);
    sl_file_uses_check(&files, files.n, &errs);
    sl_file_uses_free(&files);
    if (wc->backoff_initial_ms > wc->backoff_max_ms)
        sl_errs_add(&errs, "task.restart.backoff.initial.ms: %lld is above task.restart.backoff.max.ms (%lld)",
                    (long long)wc->backoff_initial_ms, (long long)wc->backoff_max_ms);
    for (int i = 0; i < errs.n; i++) fprintf(stderr, "%s: %s\n", path, errs.msg[i]);
    int rc = errs.n ? -1 : 0;
    sl_errs_free(&errs);
    if (rc == 0) sl_conf_unknown_keys(cfg, warn_key, (void *)path);
    return rc;
}

int sl_cmd_serve(int argc, char **argv) {
    if (argc == 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        fputs(sl_serve_usage, stdout);
        return 0;
    }
    const char *path = argc == 2 && !strcmp(argv[0], "--config") ? argv[1]
                       : argc == 1 && argv[0][0] != '-'         ? argv[0]
                                                                : NULL;
    if (!path) {
        fputs(sl_serve_usage, stderr);
        return 2;
    }
    char err[1024];
    sl_worker_conf wc = {0};
    sl_worker *w = NULL;
    sl_rest_server *srv = NULL;
    int rc = 2;
    sl_config *cfg = sl_config_load(path, err, sizeof err);
    if (!cfg) {
        sl_log_redact(err);
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (load_conf(cfg, &wc, path) < 0) goto out;
    sl_log_set_level((sl_log_level)sl_log_parse_level(wc.log_level));
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = 1;
    if (!(w = sl_worker_new(&wc, err, sizeof err))) {
        SL_ERR("sluice", "serve: %s", err);
        goto out;
    }
    if (!(srv = sl_rest_server_start(w, &wc, err, sizeof err))) {
        SL_ERR("sluice", "serve: %s", err);
        goto out;
    }
    sl_worker_set_id(w, sl_rest_server_worker_id(srv));
    if (sl_worker_start(w, err, sizeof err) < 0) {
        SL_ERR("sluice", "serve: %s", err);
        goto out;
    }
    SL_INFO("sluice", "serve: worker %s ready", sl_worker_id(w)); /* the worker logged where its config store is */
    while (!stop_signal) sl_sleep_ms(1000, (volatile int *)&stop_signal);
    SL_INFO("sluice", "signal %d: stopping the REST API, then draining and committing every connector",
            (int)stop_signal);
    rc = 0;
out:
    if (w) sl_worker_begin_shutdown(w);
    sl_rest_server_stop(srv);
    sl_worker_destroy(w);
    if (rc == 0) SL_INFO("sluice", "serve: stopped");
    sl_conf_free(sl_worker_props, &wc);
    sl_config_destroy(cfg);
    return rc;
}
