/*
 * sluice command line: run | serve | status | validate | offsets | verify | version | config-docs | help.
 * Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad config.
 */
#include "cli/status.h"
#include "runtime/connector.h"
#include "core/log.h"
#include "migrate/migrate.h"
#include "rest/serve.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/path.h"
#include "verify/verify.h"
#include "worker/worker.h"
#include "xform/xform.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) { stop_requested = sig; }

static void usage(FILE *out) {
    fprintf(out,
            "sluice %s - change data capture\n\n"
            "usage:\n"
            "  sluice run CONFIG...            run connectors in the foreground (SIGINT/SIGTERM: drain, commit, exit 0)\n"
            "  sluice serve --config WORKER    daemon: Kafka Connect's REST API (docs/rest-api.md) manages connectors\n"
            "  sluice status [--url URL]       the connectors of a running `sluice serve` (status --help)\n"
            "  sluice validate CONFIG...       check configs without touching any database (exit 2 on problems)\n"
            "  sluice offsets list CONFIG      show the committed source offsets of a connector\n"
            "  sluice verify [--output json] [--max-differences N] [--until-consistent[=SECONDS]] [--rate ROWS]\n"
            "                [--strict-missing] [--levels on|off] [--queries FILE [--runs N] [--every SECONDS]] CONFIG\n"
            "                                  compare the connector's source with its target, or run the query\n"
            "                                  pairs of FILE on both (exit 0 equal, 1 differences, 2 error;\n"
            "                                  docs/verify.md)\n"
            "  sluice offsets reset CONFIG     forget them (the next run starts per snapshot.mode)\n"
            "  sluice migrate run|status|validate|approve|rollback|finish PLAN\n"
            "                                  run a SQL -> MongoDB migration plan phase by phase, see where it\n"
            "                                  stands, approve its gate, roll it back, retire it (docs/migration.md)\n"
            "  sluice version                  print the version\n"
            "  sluice config-docs [PLUGIN]     print the configuration reference (Markdown; PLUGIN transforms: the SMTs)\n\n"
            "CONFIG is a Kafka Connect-style JSON file {\"name\": ..., \"config\": {...}} or a .properties file.\n",
            SLUICE_VERSION);
}

/* Loads and validates one config; prints every problem. NULL if any. */
static sl_connector *load(const char *path, sl_config **cfg_out) {
    char err[1024];
    sl_config *cfg = sl_config_load(path, err, sizeof err);
    *cfg_out = cfg;
    if (!cfg) {
        sl_log_redact(err);
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    sl_errs errs = {0};
    sl_connector *c = sl_connector_new(cfg, &errs);
    for (int i = 0; i < errs.n; i++) fprintf(stderr, "%s: %s\n", path, errs.msg[i]);
    sl_errs_free(&errs);
    if (c && sl_connector_tasks(c) > 1)
        SL_INFO("cli", "connector=%s: sluice run runs one task of tasks.max=%d (its consumer group takes every "
                "partition); `sluice serve` runs them all", sl_connector_name(c), sl_connector_tasks(c));
    return c;
}

/*
 * Two keys naming one file (a sink's file and an offset store, two connectors' sink files, a TLS key a sink would
 * append to): each clash is printed under the config where it is found, naming the other key and, when it is
 * another connector's, its connector and config. bad[i] is set for every config in a clash. Returns how many.
 */
static int check_files(int n, char **paths, sl_connector **cs, bool *bad) {
    sl_file_uses earlier = {0};
    int clashes = 0;
    for (int i = 0; i < n; i++) {
        if (!cs[i]) continue;
        char owner[1200];
        snprintf(owner, sizeof owner, "connector %s (%s)", sl_connector_name(cs[i]), paths[i]);
        sl_file_uses mine = {0}, u = {0};
        sl_errs errs = {0};
        sl_connector_files(cs[i], owner, i, &mine);
        sl_file_uses_append(&u, &mine);
        sl_file_uses_append(&u, &earlier);
        clashes += sl_file_uses_check(&u, mine.n, &errs);
        for (int k = 0; k < errs.n; k++) fprintf(stderr, "%s: %s\n", paths[i], errs.msg[k]);
        for (int k = 0; k < u.n; k++)
            if (u.v[k].clash) bad[u.v[k].tag] = true;
        sl_file_uses_append(&earlier, &mine);
        sl_errs_free(&errs);
        sl_file_uses_free(&u);
        sl_file_uses_free(&mine);
    }
    sl_file_uses_free(&earlier);
    return clashes;
}

static int cmd_validate(int argc, char **argv) {
    sl_connector **cs = sl_calloc((size_t)argc, sizeof *cs);
    sl_config **cfgs = sl_calloc((size_t)argc, sizeof *cfgs);
    bool *bad = sl_calloc((size_t)argc, sizeof *bad);
    int rc = 0;
    for (int i = 0; i < argc; i++)
        if (!(cs[i] = load(argv[i], &cfgs[i]))) rc = 2;
    if (check_files(argc, argv, cs, bad)) rc = 2;
    for (int i = 0; i < argc; i++)
        if (cs[i] && !bad[i]) printf("%s: ok (connector %s)\n", argv[i], sl_connector_name(cs[i]));
    for (int i = 0; i < argc; i++) sl_connector_destroy(cs[i]), sl_config_destroy(cfgs[i]);
    sl_free(cs);
    sl_free(cfgs);
    sl_free(bad);
    return rc;
}

static int cmd_run(int argc, char **argv) {
    sl_connector **cs = sl_calloc((size_t)argc, sizeof *cs);
    sl_config **cfgs = sl_calloc((size_t)argc, sizeof *cfgs);
    int rc = 0, started = 0;
    char err[1024];
    bool *bad = sl_calloc((size_t)argc, sizeof *bad);
    for (int i = 0; i < argc; i++)
        if (!(cs[i] = load(argv[i], &cfgs[i]))) rc = 2;
    if (check_files(argc, argv, cs, bad)) rc = 2;
    sl_free(bad);
    if (rc) goto out;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < argc; i++, started++) {
        if (sl_connector_start(cs[i], err, sizeof err) < 0) {
            SL_ERR("sluice", "connector %s failed to start: %s (code=%s)", sl_connector_name(cs[i]), err,
                   sl_err_name(sl_connector_error_code(cs[i])));
            rc = 1;
            break; /* not counted as started: nothing to wait for */
        }
    }
    for (;;) {
        int running = 0;
        for (int i = 0; i < started; i++) running += sl_connector_running(cs[i]);
        if (!running || stop_requested || rc) break;
        sl_sleep_ms(100, NULL);
    }
    if (stop_requested) SL_INFO("sluice", "signal %d: draining and committing", (int)stop_requested);
    for (int i = 0; i < started; i++) sl_connector_stop(cs[i]);
    for (int i = 0; i < started; i++) {
        if (sl_connector_wait(cs[i], err, sizeof err) < 0) {
            SL_ERR("sluice", "connector %s failed: %s (code=%s)", sl_connector_name(cs[i]), err,
                   sl_err_name(sl_connector_error_code(cs[i])));
            rc = 1;
        } else {
            SL_INFO("sluice", "connector %s stopped cleanly", sl_connector_name(cs[i]));
        }
    }
out:
    for (int i = 0; i < argc; i++) sl_connector_destroy(cs[i]), sl_config_destroy(cfgs[i]);
    sl_free(cs);
    sl_free(cfgs);
    return rc;
}

static int cmd_offsets(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[0], "list") && strcmp(argv[0], "reset"))) {
        fprintf(stderr, "usage: sluice offsets list|reset CONFIG\n");
        return 2;
    }
    sl_config *cfg;
    sl_connector *c = load(argv[1], &cfg);
    char err[1024];
    int rc = 2;
    if (c && strcmp(argv[0], "list") == 0) {
        rc = sl_connector_offsets_list(c, stdout, err, sizeof err) < 0 ? 1 : 0;
    } else if (c) {
        int removed = 0;
        rc = sl_connector_offsets_reset(c, &removed, err, sizeof err) < 0 ? 1 : 0;
        if (!rc) printf("removed %d offset(s) of connector %s\n", removed, sl_connector_name(c));
    }
    if (rc == 1) fprintf(stderr, "sluice: %s\n", err);
    sl_connector_destroy(c);
    sl_config_destroy(cfg);
    return rc;
}

/* sluice verify: 0 equal, 1 differences, 2 an error (the config, a store that cannot be read, a pair that cannot be
 * compared). */
static int cmd_verify(int argc, char **argv) {
    sl_verify_opts o = {.max_listed = 100, .recheck_ms = 1000, .progress = isatty(STDERR_FILENO) ? stderr : NULL};
    const char *path = NULL, *queries = NULL;
    long runs = 1;
    double every = 60;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--output") && i + 1 < argc) {
            if (strcmp(argv[i + 1], "json") && strcmp(argv[i + 1], "text")) {
                fprintf(stderr, "sluice verify: --output takes json or text, not '%s'\n", argv[i + 1]);
                return 2;
            }
            o.json = !strcmp(argv[++i], "json");
        } else if (!strcmp(argv[i], "--max-differences") && i + 1 < argc) {
            char *end;
            o.max_listed = strtol(argv[++i], &end, 10);
            if (*end || o.max_listed < 0) {
                fprintf(stderr, "sluice verify: --max-differences takes a number >= 0, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--rate") && i + 1 < argc) {
            char *end;
            o.rate = strtoll(argv[++i], &end, 10);
            if (*end || o.rate <= 0) {
                fprintf(stderr, "sluice verify: --rate takes a number of rows per second > 0, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--strict-missing")) {
            o.strict_missing = true;
        } else if (!strcmp(argv[i], "--levels") && i + 1 < argc) {
            if (strcmp(argv[i + 1], "on") && strcmp(argv[i + 1], "off")) {
                fprintf(stderr, "sluice verify: --levels takes on or off, not '%s'\n", argv[i + 1]);
                return 2;
            }
            o.no_levels = !strcmp(argv[++i], "off");
        } else if (!strcmp(argv[i], "--queries") && i + 1 < argc) {
            queries = argv[++i];
        } else if ((!strcmp(argv[i], "--runs") || !strcmp(argv[i], "--every")) && i + 1 < argc) {
            char *end;
            bool r = !strcmp(argv[i], "--runs");
            double x = strtod(argv[++i], &end);
            if (*end || x <= 0 || (r && x != (long)x)) {
                fprintf(stderr, "sluice verify: %s takes a number %s> 0, not '%s'\n", argv[i - 1],
                        r ? "of runs " : "of seconds ", argv[i]);
                return 2;
            }
            if (r) runs = (long)x;
            else every = x;
        } else if (!strncmp(argv[i], "--until-consistent", 18) && (!argv[i][18] || argv[i][18] == '=')) {
            char *end;
            double secs = argv[i][18] ? strtod(argv[i] + 19, &end) : 60;
            if (argv[i][18] && (*end || secs <= 0)) {
                fprintf(stderr, "sluice verify: --until-consistent=SECONDS takes a number of seconds > 0, not '%s'\n",
                        argv[i] + 19);
                return 2;
            }
            o.until_ms = (int64_t)(secs * 1000);
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "usage: sluice verify [--output json|text] [--max-differences N] "
                            "[--until-consistent[=SECONDS]] [--rate ROWS] [--strict-missing] [--levels on|off] "
                            "[--queries FILE [--runs N] [--every SECONDS]] CONFIG\n");
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "usage: sluice verify [--output json|text] [--max-differences N] "
                        "[--until-consistent[=SECONDS]] [--rate ROWS] [--strict-missing] [--levels on|off] "
                        "[--queries FILE [--runs N] [--every SECONDS]] CONFIG\n");
        return 2;
    }
    sl_config *cfg;
    sl_connector *c = load(path, &cfg);
    if (!c) {
        sl_config_destroy(cfg);
        return 2;
    }
    sl_log_set_level(SL_LOG_WARN); /* the report is the output */
    char err[1024] = "";
    sl_vside *src = NULL, *dst = NULL;
    sl_vmap map;
    int rc = sl_connector_verify_open(c, &src, &dst, &map, err, sizeof err);
    o.gate = sl_connector_position_passed, o.gate_arg = c; /* rechecks wait for the sync (its offsets) */
    char *checks = NULL;
    if (rc == 0 && queries) {
        char why[512];
        if (!(checks = sl_read_file(queries, NULL, why, sizeof why))) {
            snprintf(err, sizeof err, "--queries: %s", why);
            rc = -1;
        }
    }
    if (rc == 0) rc = checks ? sl_verify_queries(src, dst, checks, &o, (int)runs, (int64_t)(every * 1000), stdout, err,
                                                 sizeof err)
                             : sl_verify_run(src, dst, &map, &o, stdout, NULL, err, sizeof err);
    sl_free(checks);
    if (rc < 0) {
        sl_log_redact(err);
        fprintf(stderr, "sluice verify: %s\n", err);
        rc = 2;
    }
    if (src) src->ops->close(src);
    if (dst) dst->ops->close(dst);
    sl_connector_destroy(c);
    sl_config_destroy(cfg);
    return rc;
}

static int cmd_config_docs(void) {
    printf("# Configuration reference\n\n"
           "Generated by `sluice config-docs` from the property tables in the source; do not edit by hand "
           "(`make docs` regenerates it, CI fails when it is stale).\n\n"
           "A connector config is Kafka Connect's JSON (`{\"name\": ..., \"config\": {...}}`) or a flat "
           "`.properties` file. Values may reference, anywhere in them, `${env:NAME}` (an environment variable), "
           "`${file:/path}` (the whole file less one trailing newline, `\\n` or `\\r\\n`: a secret mounted by "
           "Docker or Kubernetes), `${file:/path/to/file.properties:key}` (a key of a properties file, as Kafka's "
           "FileConfigProvider) and `${dir:/path/to/dir:file}` (the file `file` of that directory, as Kafka's "
           "DirectoryConfigProvider, read like a whole file). A path that itself holds a colon is the whole-file form "
           "when it names a regular file, else it splits at its last colon. A reference that cannot be read fails the "
           "config with an error naming the key and the path, as does an unterminated `${env:X`; a properties file "
           "read by `${file:path:key}` is taken as written (references in it are not resolved). Under `sluice serve` "
           "the worker's `config.providers.file.param.allowed.paths`, `config.providers.dir.param.allowed.paths` and "
           "`config.providers.env.param.allowlist.pattern` limit what references in connector configs may read (see "
           "the worker keys). A value read for a sensitive key is redacted like one "
           "written in the config. A key given twice, a binary file, a JSON array or other JSON that is no object is "
           "refused. No file may be named by two keys of which one writes it (`sink.file.path`, "
           "`offset.storage.file.filename`, the worker's `config.storage.file.filename`, TLS files), in one "
           "connector or across the connectors validated or run together or of one worker, compared after resolving "
           "relative paths and symlinks; connectors may share one offset store. A connector that needs Kafka and "
           "has no `bootstrap.servers` takes the worker's "
           "(under `sluice serve`), else the environment variable `SLUICE_BOOTSTRAP_SERVERS`, else Kafka's default "
           "`localhost:9092`, and logs which and why. "
           "Keys that Debezium and Kafka Connect configs carry but sluice does not need (`tasks.max`, "
           "`database.server.name`, `key.converter`, `schema.history.internal.*`, ...) are accepted quietly; "
           "any other unknown key is logged as a warning.\n\n");
    sl_conf_doc(stdout, "Connector (all connectors)", "Runtime, offsets and converter settings.", sl_core_props);
    for (int i = 0; sl_sources[i]; i++) {
        char title[128], intro[1024];
        snprintf(title, sizeof title, "Source `%s`", sl_sources[i]->name);
        snprintf(intro, sizeof intro, "%s `connector.class`: `%s`%s%s.", sl_sources[i]->doc, sl_sources[i]->name,
                 sl_sources[i]->aliases ? ", also `" : "", sl_sources[i]->aliases ? sl_sources[i]->aliases : "");
        for (char *p = intro; *p; p++)
            if (*p == '|') *p = ',';
        sl_conf_doc(stdout, title, intro, sl_sources[i]->props);
    }
    for (int i = 0; sl_sinks[i]; i++) {
        char title[128], intro[1024];
        snprintf(title, sizeof title, "Sink `%s`", sl_sinks[i]->name);
        snprintf(intro, sizeof intro, "%s `sink.type`: `%s`.", sl_sinks[i]->doc, sl_sinks[i]->name);
        if (sl_sinks[i]->props[0].name) sl_conf_doc(stdout, title, intro, sl_sinks[i]->props);
        else printf("## %s\n\n%s No keys of its own.\n\n", title, intro);
    }
    sl_conf_doc(stdout, "Worker (`sluice serve`)",
                "The worker config of `sluice serve --config worker.json` (JSON or `.properties`): REST listeners, "
                "authentication, where connector configs and target states are kept, automatic restarts. "
                "See [rest-api.md](rest-api.md).",
                sl_worker_props);
    return 0;
}

/* The keys of one source or sink, for its page under docs/connectors/. */
/* Keys of the source and/or sink with this name (kafka is both), then the keys every connector has. */
static int cmd_plugin_docs(const char *name) {
    if (!strcmp(name, "transforms")) {
        sl_xform_doc(stdout);
        return 0;
    }
    const sl_source_ops *so = sl_source_find(name);
    const sl_sink_ops *si = sl_sink_find(name);
    if (!so && !si) {
        fprintf(stderr, "sluice: no source or sink named '%s'\n", name);
        return 2;
    }
    if (so) sl_conf_doc(stdout, si ? "Source keys" : "Keys", "Source keys (generated from the property table):", so->props);
    if (si && si->props[0].name) sl_conf_doc(stdout, so ? "Sink keys" : "Keys", "Sink keys:", si->props);
    sl_conf_doc(stdout, "Keys every connector has", "Runtime, offsets, Kafka client and converters:", sl_core_props);
    return 0;
}

/*
 * libmongoc (linked for the MongoDB source and sink) initializes itself when
 * loaded and creates /dev/shm/mongoc-<pid> for its performance counters; a
 * process killed with SIGKILL leaves that file behind, and a later process
 * that gets the same pid prints "Falling back to malloc for counters". The
 * counters are of no use here: the process runs again with
 * MONGOC_DISABLE_SHM set (read only at that load-time init), after removing
 * the file this image made, so the process that lives on (and may be
 * killed) owns no such file.
 */
static void without_mongoc_shm(char **argv) {
    if (getenv("MONGOC_DISABLE_SHM")) return;
    char shm[64];
    snprintf(shm, sizeof shm, "/dev/shm/mongoc-%d", (int)getpid());
    unlink(shm);
    setenv("MONGOC_DISABLE_SHM", "1", 1);
    execv("/proc/self/exe", argv); /* only returns on failure: go on with the counters as they are */
}

int main(int argc, char **argv) {
    without_mongoc_shm(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("sluice %s\n", SLUICE_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "config-docs") && argc == 2) return cmd_config_docs();
    if (!strcmp(cmd, "config-docs")) return cmd_plugin_docs(argv[2]);
    if (!strcmp(cmd, "serve")) return sl_cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "status")) return sl_cmd_status(argc - 2, argv + 2);
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(cmd, "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "validate")) return cmd_validate(argc - 2, argv + 2);
    if (!strcmp(cmd, "offsets")) return cmd_offsets(argc - 2, argv + 2);
    if (!strcmp(cmd, "verify")) return cmd_verify(argc - 2, argv + 2);
    if (!strcmp(cmd, "migrate")) {
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        return sl_migrate_main(argc - 2, argv + 2, &stop_requested);
    }
    fprintf(stderr, "sluice: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
