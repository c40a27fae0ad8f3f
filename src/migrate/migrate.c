/* sluice migrate: the plan, its state and the runner (see migrate.h). */
#include "migrate/migrate.h"
#include "core/log.h"
#include "core/vside.h"
#include "runtime/connector.h"
#include "util/mem.h"
#include "util/path.h"
#include "util/timeutil.h"
#include "verify/verify.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

enum { PH_SYNC, PH_VERIFY, PH_SHADOW, PH_CUTOVER, PH_DONE, PH_N };
static const char *const phase_names[PH_N] = {"sync", "verify", "shadow", "cutover", "done"};
#define PHASE_LIST "sync, verify, shadow, cutover, done"

/* The gates each phase takes: required ones are bounds a plan must give. */
typedef struct gate_def {
    int phase;
    const char *name;
    bool required, boolean;
    double def;
} gate_def;

static const gate_def gates[] = {
    {PH_SYNC, "snapshot.done", false, true, 1},      /* every table's snapshot finished, the source streaming */
    {PH_SYNC, "lag.ms.max", true, false, 0},         /* forward's lag (source commit -> durable) at most this */
    {PH_SYNC, "for.seconds", false, false, 0},       /* ... for this long without a break */
    {PH_VERIFY, "differences.max", true, false, 0},  /* a verify run (with rechecks) finds at most this many */
    {PH_VERIFY, "recheck.seconds", false, false, 30},
    {PH_SHADOW, "differences.max", true, false, 0},  /* each verify run of the window */
    {PH_SHADOW, "window.seconds", true, false, 0},
    {PH_SHADOW, "check.every.seconds", false, false, 5},
    {PH_SHADOW, "approval", false, true, 0},         /* sluice migrate approve */
    {PH_CUTOVER, "reverse.lag.ms.max", true, false, 0},
    {PH_CUTOVER, "for.seconds", false, false, 0},
};
#define NGATES (sizeof gates / sizeof *gates)

static int gate_ix(int phase, const char *name) {
    for (size_t i = 0; i < NGATES; i++)
        if (gates[i].phase == phase && !strcmp(gates[i].name, name)) return (int)i;
    return -1;
}

typedef struct plan {
    char *path, *name, *state_path;
    sl_config *fcfg, *rcfg;
    sl_connector *fwd, *rev;
    bool has[PH_N];
    double g[NGATES];
} plan;

/* The state, as the state file keeps it. */
typedef struct mstate {
    int phase;
    bool rolled_back;        /* a rollback before cutover: the plan has ended */
    int64_t phase_since_ms;  /* wall clock */
    bool approved;           /* for the current phase */
    bool fwd_stopped;        /* cutover: forward ran to the source's position and stopped */
    char cutover_at[64];     /* cutover: MongoDB's operation time reverse starts at ("<t>,<i>"), "" not yet */
    bool rev_started;
    bool rolling_back;       /* after cutover: reverse runs to zero lag, then forward again */
    bool finished;           /* done: both stopped, the last verify recorded */
    long long last_diff;     /* the newest verify run's differences, -1 none */
    int64_t last_verify_ms;
    int64_t ok_since_ms;     /* the current gate has held since (0: it does not) */
    int64_t window_start_ms; /* shadow: the window's first clean run */
    int64_t fwd_lag_ms, rev_lag_ms; /* the connectors' lag at the last step (-1: unknown yet, -2: not running) */
    char note[512];          /* what the operator has to do next */
    char gate_text[1024];    /* each gate's value against its bound */
    json_t *history;         /* [{"ms", "event"}] */
} mstate;

/* ---- the plan ---- */

static char *dir_join(const char *base_file, const char *rel) {
    if (rel[0] == '/') return sl_strdup(rel);
    const char *slash = strrchr(base_file, '/');
    size_t n = slash ? (size_t)(slash - base_file) + 1 : 0;
    char *out = sl_malloc(n + strlen(rel) + 1);
    memcpy(out, base_file, n);
    strcpy(out + n, rel);
    return out;
}

/* A connector of the plan: {"name", "config"} inline, or the path of a connector file. */
static sl_config *load_connector(const plan *p, json_t *v, const char *what, sl_errs *errs) {
    char err[1024];
    sl_config *c = NULL;
    if (json_is_string(v)) {
        char *path = dir_join(p->path, json_string_value(v));
        c = sl_config_load(path, err, sizeof err);
        sl_free(path);
    } else if (json_is_object(v)) {
        char *text = json_dumps(v, JSON_COMPACT);
        char origin[600];
        snprintf(origin, sizeof origin, "%s: %s", p->path, what);
        c = sl_config_parse_json(text, origin, err, sizeof err);
        free(text);
    } else {
        snprintf(err, sizeof err, "must be a connector ({\"name\": ..., \"config\": {...}}) or a connector file's path");
    }
    if (!c) sl_errs_add(errs, "%s: %s", what, err);
    return c;
}

/* The names of the transforms of type `type` in c's chain (at most max); how many. */
static int xforms_of(const sl_config *c, const char *type, char names[][128], int max) {
    const char *list = sl_config_get(c, "transforms");
    int n = 0;
    for (const char *q = list ? list : ""; *q && n < max;) {
        while (*q == ',' || *q == ' ') q++;
        size_t len = strcspn(q, ", ");
        if (!len) break;
        char key[300];
        snprintf(names[n], 128, "%.*s", (int)len, q);
        snprintf(key, sizeof key, "transforms.%s.type", names[n]);
        const char *t = sl_config_get(c, key);
        if (t && !strcmp(t, type)) n++;
        q += len;
    }
    return n;
}

/* The options of transform `name` in c, or NULL. */
static const char *xopt(const sl_config *c, const char *name, const char *opt) {
    char key[400];
    snprintf(key, sizeof key, "transforms.%.127s.%.200s", name, opt);
    return sl_config_get(c, key);
}

/* Each forward embed (one per module) must have a reverse unembed of the same root table with the same options,
 * key for key, and each unembed must invert an embed. */
static void check_inverse(const plan *p, sl_errs *errs) {
    char fe[16][128], ru[16][128];
    int nf = xforms_of(p->fcfg, "embed", fe, 16), nr = xforms_of(p->rcfg, "unembed", ru, 16);
    bool used[16] = {0};
    for (int i = 0; i < nf; i++) {
        const char *root = xopt(p->fcfg, fe[i], "root.table");
        int j = 0;
        while (j < nr && (!root || !xopt(p->rcfg, ru[j], "root.table") || strcmp(root, xopt(p->rcfg, ru[j], "root.table"))))
            j++;
        if (j == nr) {
            sl_errs_add(errs, "reverse: the forward connector embeds %s (transforms.%s.type=embed) but the reverse one "
                        "has no unembed transform with that root.table and the same options: the reverse mapping "
                        "cannot invert the forward one", root ? root : "(no root.table)", fe[i]);
            continue;
        }
        used[j] = true;
        char fp[160], rp[160];
        snprintf(fp, sizeof fp, "transforms.%.127s.", fe[i]);
        snprintf(rp, sizeof rp, "transforms.%.127s.", ru[j]);
        for (int pass = 0; pass < 2; pass++) {
            const sl_config *a = pass ? p->rcfg : p->fcfg, *b = pass ? p->fcfg : p->rcfg;
            const char *ap = pass ? rp : fp, *bp = pass ? fp : rp;
            for (int k = 0; k < a->n; k++) {
                const char *key = a->kv[k].key;
                if (strncmp(key, ap, strlen(ap)) || !strcmp(key + strlen(ap), "type")) continue;
                char other[400];
                snprintf(other, sizeof other, "%s%s", bp, key + strlen(ap));
                const char *bv = sl_config_get(b, other);
                if (bv && !strcmp(bv, a->kv[k].value)) continue;
                if (pass && bv) continue; /* reported in the first pass */
                sl_errs_add(errs, "reverse: %s%s is '%s' but the forward embed's %s%s is '%s': the reverse mapping does "
                            "not invert the forward one", rp, key + strlen(ap),
                            pass ? a->kv[k].value : bv ? bv : "(unset)", fp, key + strlen(ap),
                            pass ? "(unset)" : a->kv[k].value);
            }
        }
    }
    for (int j = 0; j < nr; j++)
        if (!used[j])
            sl_errs_add(errs, "reverse: transforms.%s.type=unembed, but the forward connector has no embed transform of "
                        "root.table %s to invert", ru[j], xopt(p->rcfg, ru[j], "root.table") ?: "(none)");
}

/* Origins for both directions unless the plan's connectors set them (PostgreSQL and MongoDB sources and sinks). */
static void default_origins(plan *p) {
    char fo[200], ro[200];
    snprintf(fo, sizeof fo, "sluice_%s_fwd", p->name);
    snprintf(ro, sizeof ro, "sluice_%s_rev", p->name);
    if (!sl_config_get(p->fcfg, "replication.origin.name")) sl_config_set(p->fcfg, "replication.origin.name", fo);
    if (!sl_config_get(p->fcfg, "skipped.origins")) sl_config_set(p->fcfg, "skipped.origins", ro);
    if (!sl_config_get(p->rcfg, "replication.origin.name")) sl_config_set(p->rcfg, "replication.origin.name", ro);
    if (!sl_config_get(p->rcfg, "skipped.origins")) sl_config_set(p->rcfg, "skipped.origins", fo);
}

static void plan_free(plan *p) {
    sl_connector_destroy(p->fwd);
    sl_connector_destroy(p->rev);
    sl_config_destroy(p->fcfg);
    sl_config_destroy(p->rcfg);
    sl_free(p->path);
    sl_free(p->name);
    sl_free(p->state_path);
    memset(p, 0, sizeof *p);
}

static void parse_phases(plan *p, json_t *phases, sl_errs *errs) {
    if (!json_is_array(phases) || !json_array_size(phases)) {
        sl_errs_add(errs, "phases: must be a non-empty array of {\"phase\": ..., \"gates\": {...}} (phases: " PHASE_LIST
                    ")");
        return;
    }
    int last = -1;
    size_t i;
    json_t *ph;
    json_array_foreach(phases, i, ph) {
        const char *name = json_string_value(json_object_get(ph, "phase"));
        int k = -1;
        for (int j = 0; name && j < PH_N; j++)
            if (!strcmp(name, phase_names[j])) k = j;
        if (k < 0) {
            sl_errs_add(errs, "phases[%zu].phase: '%s' is not a phase (allowed: " PHASE_LIST ")", i, name ? name : "");
            continue;
        }
        if (k <= last) {
            sl_errs_add(errs, "phases[%zu].phase: '%s' comes %s (the order is " PHASE_LIST ")", i, name,
                        k == last ? "twice" : "after a later phase");
            continue;
        }
        last = k;
        p->has[k] = true;
        const char *key;
        json_t *v;
        json_t *gs = json_object_get(ph, "gates");
        if (gs && !json_is_object(gs)) sl_errs_add(errs, "phases[%zu].gates: must be an object", i);
        json_object_foreach(json_is_object(ph) ? ph : NULL, key, v) {
            if (strcmp(key, "phase") && strcmp(key, "gates"))
                sl_errs_add(errs, "phases[%zu].%s: unknown key (allowed: phase, gates)", i, key);
        }
        bool seen[NGATES] = {0};
        json_object_foreach(json_is_object(gs) ? gs : NULL, key, v) {
            int g = gate_ix(k, key);
            if (g < 0) {
                char allowed[512] = "";
                for (size_t j = 0; j < NGATES; j++)
                    if (gates[j].phase == k)
                        snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", *allowed ? ", " : "",
                                 gates[j].name);
                sl_errs_add(errs, "phases[%zu].gates.%s: not a gate of phase %s (allowed: %s)", i, key, name,
                            *allowed ? allowed : "none");
                continue;
            }
            if (gates[g].boolean ? !json_is_boolean(v) : !json_is_number(v) || json_number_value(v) < 0) {
                sl_errs_add(errs, "phases[%zu].gates.%s: must be %s", i, key,
                            gates[g].boolean ? "true or false" : "a number >= 0");
                continue;
            }
            seen[g] = true;
            p->g[g] = gates[g].boolean ? json_is_true(v) : json_number_value(v);
        }
        for (size_t j = 0; j < NGATES; j++) {
            if (gates[j].phase != k || seen[j]) continue;
            if (gates[j].required)
                sl_errs_add(errs, "phases[%zu].gates.%s: phase %s needs this bound (a gate with no bound cannot pass)",
                            i, gates[j].name, name);
            p->g[j] = gates[j].def;
        }
    }
    for (int k = 0; k < PH_N; k++)
        if ((k == PH_SYNC || k == PH_CUTOVER || k == PH_DONE) && !p->has[k])
            sl_errs_add(errs, "phases: phase %s is missing (every plan has sync, cutover and done)", phase_names[k]);
}

/* Reads and checks the plan; every problem goes to errs (the plan touches no database). 0, or -1. */
static int plan_load(const char *path, plan *p, sl_errs *errs) {
    memset(p, 0, sizeof *p);
    p->path = sl_strdup(path);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root || !json_is_object(root)) {
        sl_errs_add(errs, "%s", root ? "the plan must be a JSON object" : je.text);
        json_decref(root);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "name") && strcmp(key, "state.file") && strcmp(key, "forward") && strcmp(key, "reverse") &&
            strcmp(key, "phases"))
            sl_errs_add(errs, "%s: unknown key (allowed: name, state.file, forward, reverse, phases)", key);
    }
    const char *name = json_string_value(json_object_get(root, "name"));
    bool ok = name && *name && strlen(name) < 64;
    for (const char *q = name ? name : ""; ok && *q; q++) ok = isalnum((unsigned char)*q) || *q == '_' || *q == '-';
    if (!ok) sl_errs_add(errs, "name: must be 1 to 63 letters, digits, '_' or '-' (it names the plan's origins)");
    p->name = sl_strdup(ok ? name : "plan");
    for (char *q = p->name; *q; q++)
        if (*q == '-') *q = '_';
    const char *sf = json_string_value(json_object_get(root, "state.file"));
    if (json_object_get(root, "state.file") && !sf) sl_errs_add(errs, "state.file: must be a path");
    if (sf) {
        p->state_path = dir_join(path, sf);
    } else {
        p->state_path = sl_malloc(strlen(path) + 7);
        sprintf(p->state_path, "%s.state", path);
    }
    if (!json_object_get(root, "forward")) sl_errs_add(errs, "forward: missing (the connector into MongoDB)");
    else p->fcfg = load_connector(p, json_object_get(root, "forward"), "forward", errs);
    if (!json_object_get(root, "reverse")) sl_errs_add(errs, "reverse: missing (the connector back from MongoDB)");
    else p->rcfg = load_connector(p, json_object_get(root, "reverse"), "reverse", errs);
    parse_phases(p, json_object_get(root, "phases"), errs);
    json_decref(root);
    if (p->fcfg && p->rcfg) {
        default_origins(p);
        check_inverse(p, errs);
        sl_errs ce = {0};
        if (!(p->fwd = sl_connector_new(p->fcfg, &ce)))
            for (int i = 0; i < ce.n; i++) sl_errs_add(errs, "forward: %s", ce.msg[i]);
        sl_errs_free(&ce);
        if (!(p->rev = sl_connector_new(p->rcfg, &ce)))
            for (int i = 0; i < ce.n; i++) sl_errs_add(errs, "reverse: %s", ce.msg[i]);
        sl_errs_free(&ce);
        if (p->fwd && p->rev && !strcmp(sl_connector_name(p->fwd), sl_connector_name(p->rev)))
            sl_errs_add(errs, "reverse: its name is the forward connector's (%s): their offsets would mix",
                        sl_connector_name(p->fwd));
    }
    return errs->n ? -1 : 0;
}

/* ---- the state file ---- */

static void state_init(mstate *s) {
    memset(s, 0, sizeof *s);
    s->last_diff = -1;
    s->history = json_array();
}

#define HISTORY_MAX 500 /* events the state file keeps */

static void history(mstate *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void history(mstate *s, const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    SL_INFO("migrate", "%s", text);
    json_array_append_new(s->history, json_pack("{s:I,s:s}", "ms", (json_int_t)(sl_wall_us() / 1000), "event", text));
    while (json_array_size(s->history) > HISTORY_MAX) json_array_remove(s->history, 0); /* the newest are kept */
}

static const char *phase_name(const mstate *s) { return s->rolled_back ? "rolled-back" : phase_names[s->phase]; }

/* Writes the state (a temporary file, fsync, rename): a crash leaves the old state or the new one. */
static int state_save(const plan *p, const mstate *s, char *err, size_t errsz) {
    json_t *j = json_pack("{s:s,s:s,s:I,s:b,s:b,s:s,s:b,s:b,s:b,s:b,s:I,s:I,s:s,s:s,s:O}", "plan", p->name, "phase",
                          phase_name(s), "phase_since_ms", (json_int_t)s->phase_since_ms, "approved", s->approved,
                          "forward_stopped", s->fwd_stopped, "cutover_at", s->cutover_at, "reverse_started",
                          s->rev_started, "rolling_back", s->rolling_back, "finished", s->finished, "rolled_back",
                          s->rolled_back, "last_differences", (json_int_t)s->last_diff, "last_verify_ms",
                          (json_int_t)s->last_verify_ms, "next", s->note, "gates", s->gate_text, "history", s->history);
    json_object_set_new(j, "lag_ms", json_pack("{s:I,s:I}", "forward", (json_int_t)s->fwd_lag_ms, "reverse",
                                               (json_int_t)s->rev_lag_ms));
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", p->state_path);
    char *text = json_dumps(j, JSON_INDENT(1));
    json_decref(j);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    free(text);
    if (!ok || rename(tmp, p->state_path) < 0) {
        snprintf(err, errsz, "cannot write the state file %s: %s", p->state_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* 1 loaded, 0 no state yet, -1 a state file that cannot be read. */
static int state_load(const plan *p, mstate *s, char *err, size_t errsz) {
    state_init(s);
    if (access(p->state_path, F_OK) != 0) return 0;
    json_error_t je;
    json_t *j = json_load_file(p->state_path, 0, &je);
    const char *ph = json_string_value(json_object_get(j, "phase"));
    if (!j || !ph) {
        snprintf(err, errsz, "the state file %s cannot be read: %s", p->state_path, j ? "no phase" : je.text);
        json_decref(j);
        return -1;
    }
    s->rolled_back = !strcmp(ph, "rolled-back");
    for (int k = 0; k < PH_N; k++)
        if (!strcmp(ph, phase_names[k])) s->phase = k;
    s->phase_since_ms = json_integer_value(json_object_get(j, "phase_since_ms"));
    s->approved = json_is_true(json_object_get(j, "approved"));
    s->fwd_stopped = json_is_true(json_object_get(j, "forward_stopped"));
    snprintf(s->cutover_at, sizeof s->cutover_at, "%s", json_string_value(json_object_get(j, "cutover_at")) ?: "");
    s->rev_started = json_is_true(json_object_get(j, "reverse_started"));
    s->rolling_back = json_is_true(json_object_get(j, "rolling_back"));
    s->finished = json_is_true(json_object_get(j, "finished"));
    s->last_diff = json_integer_value(json_object_get(j, "last_differences"));
    s->last_verify_ms = json_integer_value(json_object_get(j, "last_verify_ms"));
    if (json_is_array(json_object_get(j, "history"))) {
        json_decref(s->history);
        s->history = json_incref(json_object_get(j, "history"));
    }
    json_decref(j);
    return 1;
}

/* Takes up a command request left by `sluice migrate <cmd>`: true when there was one (it is removed). */
static bool take_request(const plan *p, const char *cmd) {
    char path[4200];
    snprintf(path, sizeof path, "%s.%s", p->state_path, cmd);
    return unlink(path) == 0;
}

/* ---- the runner ---- */

typedef struct runner {
    plan *p;
    mstate s;
    volatile sig_atomic_t *stop;
    bool fwd_on, rev_on;
    bool fwd_used, rev_used; /* started once: a new object for the next start */
    char rev_at[64]; /* the operation time the reverse connector's config starts at ("": as the plan has it) */
    char err[2048];
} runner;

/* A connector object runs once: a stopped one is made anew from its config before it starts again. */
static int renew(runner *r, sl_connector **c, sl_config *cfg, bool *used) {
    if (!*used) {
        *used = true;
        return 0;
    }
    sl_connector_destroy(*c);
    sl_errs errs = {0};
    *c = sl_connector_new(cfg, &errs);
    if (!*c) snprintf(r->err, sizeof r->err, "%s", errs.n ? errs.msg[0] : "invalid config");
    sl_errs_free(&errs);
    return *c ? 0 : -1;
}

static int start_one(runner *r, sl_connector *c, bool *on, const char *what) {
    if (*on) return 0;
    bool fwd = c == r->p->fwd;
    if (renew(r, fwd ? &r->p->fwd : &r->p->rev, fwd ? r->p->fcfg : r->p->rcfg, fwd ? &r->fwd_used : &r->rev_used) < 0)
        return -1;
    c = fwd ? r->p->fwd : r->p->rev;
    if (sl_connector_start(c, r->err, sizeof r->err) < 0) {
        char e[2100];
        snprintf(e, sizeof e, "%s", r->err);
        snprintf(r->err, sizeof r->err, "the %s connector (%s) did not start: %.1800s", what, sl_connector_name(c), e);
        return -1;
    }
    *on = true;
    SL_INFO("migrate", "%s connector %s started", what, sl_connector_name(c));
    return 0;
}

static int stop_one(runner *r, sl_connector *c, bool *on, const char *what) {
    if (!*on) return 0;
    sl_connector_stop(c);
    *on = false;
    char e[1024];
    if (sl_connector_wait(c, e, sizeof e) < 0) {
        snprintf(r->err, sizeof r->err, "the %s connector (%s) failed: %s", what, sl_connector_name(c), e);
        return -1;
    }
    SL_INFO("migrate", "%s connector %s stopped", what, sl_connector_name(c));
    return 0;
}

/* A connector that ended by itself has failed: the plan stops with its reason (the state stays). */
static int check_alive(runner *r, sl_connector *c, bool on, const char *what) {
    if (!on || sl_connector_running(c)) return 0;
    char e[1024] = "";
    sl_connector_wait(c, e, sizeof e);
    if (!*e) sl_connector_last_error(c, e, sizeof e);
    snprintf(r->err, sizeof r->err, "the %s connector (%s) stopped: %s", what, sl_connector_name(c),
             *e ? e : "(no reason given)");
    return -1;
}

/* The source's position now, through the connector's verify side: "" when the source cannot tell. */
static int source_position(runner *r, sl_connector *c, char *out, size_t outsz) {
    sl_vside *src = NULL, *dst = NULL;
    sl_vmap map;
    int rc = sl_connector_verify_open(c, &src, &dst, &map, r->err, sizeof r->err);
    if (rc == 0) snprintf(out, outsz, "%s", src->ops->position ? src->ops->position(src) : "");
    if (src) src->ops->close(src);
    if (dst) dst->ops->close(dst);
    return rc;
}

/* Waits until connector c has committed its source up to position pos (the whole source as it was). 0, or -1
 * (stopped, or failed: r->err). */
static int wait_passed(runner *r, sl_connector *c, bool on, const char *pos, const char *what) {
    if (!*pos) {
        snprintf(r->err, sizeof r->err, "the %s connector's source cannot tell its position", what);
        return -1;
    }
    while (!*r->stop) {
        int rc = sl_connector_position_passed(c, pos);
        if (rc == 1) return 0;
        if (rc < 0) {
            snprintf(r->err, sizeof r->err, "the %s connector's offsets cannot be compared with the source's position",
                     what);
            return -1;
        }
        if (check_alive(r, c, on, what) < 0) return -1;
        sl_sleep_ms(200, NULL);
    }
    snprintf(r->err, sizeof r->err, "stopped");
    return -1;
}

/* One verify run of the forward connector's pair (with rechecks for recheck_s seconds): the differences, or -1. */
static long long verify_once(runner *r, double recheck_s) {
    sl_vside *src = NULL, *dst = NULL;
    sl_vmap map;
    sl_verify_opts o = {.max_listed = 20, .recheck_ms = 500, .until_ms = (int64_t)(recheck_s * 1000)};
    o.gate = sl_connector_position_passed, o.gate_arg = r->p->fwd;
    sl_verify_stats st = {0};
    int rc = sl_connector_verify_open(r->p->fwd, &src, &dst, &map, r->err, sizeof r->err);
    char rpath[4200];
    snprintf(rpath, sizeof rpath, "%s.verify", r->p->state_path);
    FILE *out = rc == 0 ? fopen(rpath, "w") : NULL;
    if (rc == 0 && !out) {
        snprintf(r->err, sizeof r->err, "cannot write %.1500s: %s", rpath, strerror(errno));
        rc = -1;
    }
    if (rc == 0) rc = sl_verify_run(src, dst, &map, &o, out, &st, r->err, sizeof r->err);
    if (out) fclose(out);
    if (src) src->ops->close(src);
    if (dst) dst->ops->close(dst);
    if (rc < 0) return -1;
    r->s.last_diff = st.differences;
    r->s.last_verify_ms = sl_wall_us() / 1000;
    return st.differences;
}

static double gate(const runner *r, int phase, const char *name) { return r->p->g[gate_ix(phase, name)]; }

static void set_phase(runner *r, int k) {
    r->s.phase = k;
    r->s.phase_since_ms = sl_wall_us() / 1000;
    r->s.approved = false;
    r->s.ok_since_ms = r->s.window_start_ms = 0;
    history(&r->s, "phase %s", phase_names[k]);
}

/* The next phase of the plan after k. */
static int next_phase(const runner *r, int k) {
    while (++k < PH_DONE && !r->p->has[k]) {
    }
    return k;
}

/* A lag gate: lag at most max_ms for for_s seconds without a break (ok_since_ms). True when it holds. */
static bool lag_gate(runner *r, sl_connector *c, double max_ms, double for_s, const char *what, bool snapshot) {
    sl_connector_metrics m;
    sl_connector_get_metrics(c, &m);
    bool snap_done = m.source_state == SL_SRC_STREAMING;
    for (int i = 0; i < m.nsnapshot; i++) snap_done &= m.snapshot[i].done;
    bool ok = m.lag_ms >= 0 && m.lag_ms <= max_ms && (!snapshot || snap_done);
    int64_t now = sl_wall_us() / 1000;
    if (!ok) r->s.ok_since_ms = 0;
    else if (!r->s.ok_since_ms) r->s.ok_since_ms = now;
    double held = ok ? (double)(now - r->s.ok_since_ms) / 1000 : 0;
    snprintf(r->s.gate_text, sizeof r->s.gate_text, "%s%s lag.ms %lld <= %.0f%s; held %.1f s of %.1f s",
             snapshot ? (snap_done ? "snapshot done; " : "snapshot not done; ") : "", what, (long long)m.lag_ms,
             max_ms, m.lag_ms < 0 ? " (unknown yet)" : "", held, for_s);
    return ok && held >= for_s;
}

/* The reverse connector as it starts at cutover: from MongoDB's operation time then (when it has no offsets of
 * its own yet: it resumes from them after a crash). */
static int rev_configure(runner *r) {
    plan *p = r->p;
    if (r->rev_on || !strcmp(r->rev_at, r->s.cutover_at) || !*r->s.cutover_at) return 0;
    unsigned t = 0, i = 0;
    sscanf(r->s.cutover_at, "%u,%u", &t, &i);
    char v[128];
    snprintf(v, sizeof v, "{\"$timestamp\": {\"t\": %u, \"i\": %u}}", t, i);
    sl_config_set(p->rcfg, "startup.mode", "timestamp");
    sl_config_set(p->rcfg, "startup.mode.timestamp.start.at.operation.time", v);
    sl_connector_destroy(p->rev);
    sl_errs errs = {0};
    p->rev = sl_connector_new(p->rcfg, &errs);
    if (!p->rev) snprintf(r->err, sizeof r->err, "reverse: %s", errs.n ? errs.msg[0] : "invalid");
    sl_errs_free(&errs);
    if (!p->rev) return -1;
    snprintf(r->rev_at, sizeof r->rev_at, "%s", r->s.cutover_at);
    r->rev_used = false; /* a new object */
    return 0;
}

/* Cutover, step by step (each step is recorded before the next, so that a crash resumes at the step). */
static int cutover(runner *r) {
    mstate *s = &r->s;
    char pos[256] = "";
    if (!s->fwd_stopped) {
        snprintf(s->note, sizeof s->note, "stop the application's writes to the source database: the forward "
                                           "connector runs to the source's position, then writes move to MongoDB");
        if (state_save(r->p, s, r->err, sizeof r->err) < 0) return -1;
        if (start_one(r, r->p->fwd, &r->fwd_on, "forward") < 0 || source_position(r, r->p->fwd, pos, sizeof pos) < 0 ||
            wait_passed(r, r->p->fwd, r->fwd_on, pos, "forward") < 0 || stop_one(r, r->p->fwd, &r->fwd_on, "forward") < 0)
            return -1;
        s->fwd_stopped = true;
        history(s, "cutover: forward stopped at the source's position %s", pos);
        if (state_save(r->p, s, r->err, sizeof r->err) < 0) return -1;
    }
    if (!*s->cutover_at) {
        if (source_position(r, r->p->rev, pos, sizeof pos) < 0) return -1;
        unsigned t = 0, i = 0;
        if (sscanf(pos, "%u,%u", &t, &i) != 2) {
            snprintf(r->err, sizeof r->err, "the reverse connector's source gave no operation time to start at "
                                            "(a MongoDB replica set or sharded cluster is needed)");
            return -1;
        }
        snprintf(s->cutover_at, sizeof s->cutover_at, "%u,%u", t, i);
        int removed = 0;
        if (sl_connector_offsets_reset(r->p->rev, &removed, r->err, sizeof r->err) < 0) return -1;
        history(s, "cutover: reverse starts at MongoDB's operation time %s", s->cutover_at);
        if (state_save(r->p, s, r->err, sizeof r->err) < 0) return -1;
    }
    if (!s->rev_started || !r->rev_on) {
        if (rev_configure(r) < 0) return -1;
        if (!s->rev_started) s->rev_started = true;
        if (start_one(r, r->p->rev, &r->rev_on, "reverse") < 0) return -1;
        if (state_save(r->p, s, r->err, sizeof r->err) < 0) return -1;
    }
    return 0;
}

/* After cutover: reverse runs to MongoDB's position, stops, verify, forward starts again where it stopped. */
static int rollback_after_cutover(runner *r) {
    mstate *s = &r->s;
    char pos[256] = "";
    snprintf(s->note, sizeof s->note, "rolling back: stop the application's writes to MongoDB; writes go back to "
                                       "the source database once this phase shows shadow");
    if (state_save(r->p, s, r->err, sizeof r->err) < 0) return -1;
    if (s->rev_started) {
        if (rev_configure(r) < 0 || start_one(r, r->p->rev, &r->rev_on, "reverse") < 0 || source_position(r, r->p->rev, pos, sizeof pos) < 0 ||
            wait_passed(r, r->p->rev, r->rev_on, pos, "reverse") < 0 || stop_one(r, r->p->rev, &r->rev_on, "reverse") < 0)
            return -1;
        history(s, "rollback: reverse ran to MongoDB's position %s and stopped", pos);
    }
    long long d = verify_once(r, 30);
    if (d < 0) return -1;
    history(s, "rollback: verify found %lld differences", d);
    s->rolling_back = s->fwd_stopped = s->rev_started = false;
    s->cutover_at[0] = 0;
    if (start_one(r, r->p->fwd, &r->fwd_on, "forward") < 0) return -1;
    set_phase(r, r->p->has[PH_SHADOW] ? PH_SHADOW : r->p->has[PH_VERIFY] ? PH_VERIFY : PH_SYNC);
    return state_save(r->p, s, r->err, sizeof r->err);
}

/* One step of the current phase: its connectors as the phase has them, its gate, the move to the next. */
static int step(runner *r) {
    mstate *s = &r->s;
    plan *p = r->p;
    if (take_request(p, "rollback")) {
        history(s, "rollback requested in phase %s", phase_names[s->phase]);
        if (s->phase >= PH_CUTOVER && (s->fwd_stopped || s->rev_started || *s->cutover_at)) {
            s->rolling_back = true;
        } else {
            if (stop_one(r, p->fwd, &r->fwd_on, "forward") < 0) return -1;
            s->rolled_back = true;
            snprintf(s->note, sizeof s->note, "rolled back before cutover: the forward connector is stopped, nothing "
                                               "was dropped (the target collections stay as they are)");
            history(s, "rolled back from phase %s", phase_names[s->phase]);
            return state_save(p, s, r->err, sizeof r->err);
        }
    }
    if (s->rolling_back) return rollback_after_cutover(r);
    if (take_request(p, "approve")) {
        s->approved = true;
        history(s, "approved in phase %s", phase_names[s->phase]);
    }
    bool finish = s->phase == PH_DONE && take_request(p, "finish");
    if (check_alive(r, p->fwd, r->fwd_on, "forward") < 0 || check_alive(r, p->rev, r->rev_on, "reverse") < 0) return -1;
    int64_t now = sl_wall_us() / 1000;
    switch (s->phase) {
    case PH_SYNC:
        if (start_one(r, p->fwd, &r->fwd_on, "forward") < 0) return -1;
        snprintf(s->note, sizeof s->note, "wait: the forward connector copies and follows the source");
        if (lag_gate(r, p->fwd, gate(r, PH_SYNC, "lag.ms.max"), gate(r, PH_SYNC, "for.seconds"), "forward",
                     gate(r, PH_SYNC, "snapshot.done") != 0))
            set_phase(r, next_phase(r, PH_SYNC));
        break;
    case PH_VERIFY: {
        if (start_one(r, p->fwd, &r->fwd_on, "forward") < 0) return -1;
        snprintf(s->note, sizeof s->note, "wait: sluice verify compares the source with MongoDB");
        if (state_save(p, s, r->err, sizeof r->err) < 0) return -1;
        long long d = verify_once(r, gate(r, PH_VERIFY, "recheck.seconds"));
        if (d < 0) return -1;
        double max = gate(r, PH_VERIFY, "differences.max");
        snprintf(s->gate_text, sizeof s->gate_text, "differences %lld <= %.0f (report: %s.verify)", d, max,
                 p->state_path);
        history(s, "verify: %lld differences (at most %.0f)", d, max);
        if (d <= max) set_phase(r, next_phase(r, PH_VERIFY));
        else sl_sleep_ms(1000, NULL);
        break;
    }
    case PH_SHADOW: {
        if (start_one(r, p->fwd, &r->fwd_on, "forward") < 0) return -1;
        double every = gate(r, PH_SHADOW, "check.every.seconds"), window = gate(r, PH_SHADOW, "window.seconds");
        double max = gate(r, PH_SHADOW, "differences.max");
        bool need_ok = gate(r, PH_SHADOW, "approval") != 0;
        if (now - s->last_verify_ms >= (int64_t)(every * 1000) || s->last_verify_ms < s->phase_since_ms) {
            long long d = verify_once(r, 10);
            if (d < 0) return -1;
            if (d > max) s->window_start_ms = 0;
            else if (!s->window_start_ms) s->window_start_ms = now;
        }
        double held = s->window_start_ms ? (double)(now - s->window_start_ms) / 1000 : 0;
        snprintf(s->gate_text, sizeof s->gate_text,
                 "differences %lld <= %.0f in every run for %.1f s of %.1f s; approval %s", s->last_diff, max, held,
                 window, !need_ok ? "not needed" : s->approved ? "given" : "needed (sluice migrate approve)");
        snprintf(s->note, sizeof s->note, "the application reads MongoDB (shadow reads) and still writes the source "
                                           "database%s", need_ok && !s->approved ? "; then: sluice migrate approve" : "");
        if (s->window_start_ms && held >= window && (!need_ok || s->approved)) set_phase(r, PH_CUTOVER);
        break;
    }
    case PH_CUTOVER:
        if (cutover(r) < 0) return -1;
        snprintf(s->note, sizeof s->note, "move the application's writes to MongoDB now (the reverse connector "
                                           "keeps the source database current)");
        if (lag_gate(r, p->rev, gate(r, PH_CUTOVER, "reverse.lag.ms.max"), gate(r, PH_CUTOVER, "for.seconds"),
                     "reverse", false))
            set_phase(r, PH_DONE);
        break;
    case PH_DONE:
        if (s->finished) {
            snprintf(s->note, sizeof s->note, "finished: both connectors are retired");
            break;
        }
        if (cutover(r) < 0) return -1; /* reverse keeps running after a restart */
        snprintf(s->note, sizeof s->note, "writes are on MongoDB, reverse keeps the source database current; when "
                                           "it is no longer needed: sluice migrate finish");
        if (finish) {
            if (stop_one(r, p->rev, &r->rev_on, "reverse") < 0) return -1;
            long long d = verify_once(r, 30);
            if (d < 0) return -1;
            history(s, "finished: reverse stopped; the last verify found %lld differences", d);
            s->finished = true;
            snprintf(s->note, sizeof s->note, "finished: both connectors are retired");
        }
        break;
    }
    sl_connector_metrics m;
    s->fwd_lag_ms = s->rev_lag_ms = -2; /* not running */
    if (r->fwd_on) sl_connector_get_metrics(p->fwd, &m), s->fwd_lag_ms = m.lag_ms;
    if (r->rev_on) sl_connector_get_metrics(p->rev, &m), s->rev_lag_ms = m.lag_ms;
    return state_save(p, s, r->err, sizeof r->err);
}

static int run_locked(runner *r);

/* One run per plan: an exclusive lock on "<state>.lock", held while it runs (gone with the process, even after
 * kill -9). The descriptor, or -1 with err. */
static int lock_plan(const plan *p, char *err, size_t errsz) {
    char path[4200];
    snprintf(path, sizeof path, "%s.lock", p->state_path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errsz, "cannot open %.1000s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errsz, "plan %s is already running (another sluice migrate run, or a sluice serve with it in "
                             "migration.plans, holds %.1000s)", p->name, path);
        close(fd);
        return -1;
    }
    return fd;
}

static int cmd_run(plan *p, volatile sig_atomic_t *stop) {
    runner r = {.p = p, .stop = stop};
    int lock = lock_plan(p, r.err, sizeof r.err);
    if (lock < 0) {
        SL_ERR("migrate", "%s", r.err);
        return 1;
    }
    int rc = run_locked(&r);
    close(lock);
    return rc;
}

static int run_locked(runner *rr) {
    runner r = *rr;
    plan *p = r.p;
    volatile sig_atomic_t *stop = r.stop;
    int lr = state_load(p, &r.s, r.err, sizeof r.err);
    if (lr < 0) {
        fprintf(stderr, "sluice migrate: %s\n", r.err);
        json_decref(r.s.history);
        return 1;
    }
    if (r.s.rolled_back) {
        fprintf(stderr, "sluice migrate: plan %s was rolled back before cutover (state %s): remove the state file to "
                        "start it again\n", p->name, p->state_path);
        json_decref(r.s.history);
        return 3; /* nothing to run */
    }
    if (lr == 0) set_phase(&r, PH_SYNC);
    else history(&r.s, "resumed in phase %s", phase_names[r.s.phase]);
    int rc = 0;
    while (!*stop) {
        if (step(&r) < 0) {
            if (*stop) break;
            SL_ERR("migrate", "plan %s, phase %s: %s", p->name, phase_name(&r.s), r.err);
            snprintf(r.s.note, sizeof r.s.note, "failed: %.400s (fix it and run the plan again: it resumes here)", r.err);
            char e[256];
            state_save(p, &r.s, e, sizeof e);
            rc = 1;
            break;
        }
        if (r.s.rolled_back || (r.s.phase == PH_DONE && r.s.finished)) break;
        sl_sleep_ms(200, NULL);
    }
    if (*stop) history(&r.s, "stopped by a signal in phase %s", phase_name(&r.s));
    char e[2048];
    if (stop_one(&r, p->fwd, &r.fwd_on, "forward") < 0 || stop_one(&r, p->rev, &r.rev_on, "reverse") < 0) {
        SL_ERR("migrate", "%s", r.err);
        rc = 1;
    }
    if (state_save(p, &r.s, e, sizeof e) < 0) {
        SL_ERR("migrate", "%s", e);
        rc = 1;
    }
    json_decref(r.s.history);
    return rc;
}

static int cmd_status(plan *p, bool as_json) {
    char err[1024];
    mstate s;
    int lr = state_load(p, &s, err, sizeof err);
    if (lr <= 0) {
        if (lr < 0) fprintf(stderr, "sluice migrate: %s\n", err);
        else printf("plan %s: not started (sluice migrate run %s)\n", p->name, p->path);
        json_decref(s.history);
        return lr < 0 ? 1 : 0;
    }
    if (as_json) {
        char *text = sl_read_file(p->state_path, NULL, err, sizeof err);
        fputs(text ? text : "{}", stdout);
        putchar('\n');
        sl_free(text);
        json_decref(s.history);
        return 0;
    }
    json_t *j = json_load_file(p->state_path, 0, NULL);
    printf("plan %s: phase %s%s\n", p->name, phase_name(&s), s.finished ? " (finished)" : "");
    printf("  gates: %s\n", json_string_value(json_object_get(j, "gates")) ?: "");
    if (s.last_diff >= 0) printf("  last verify: %lld differences\n", s.last_diff);
    json_t *lag = json_object_get(j, "lag_ms");
    long long fl = json_integer_value(json_object_get(lag, "forward")), rl = json_integer_value(json_object_get(lag, "reverse"));
    if (lag && (fl > -2 || rl > -2)) {
        char f[32] = "not running", r[32] = "not running";
        if (fl == -1) snprintf(f, sizeof f, "unknown yet");
        else if (fl >= 0) snprintf(f, sizeof f, "%lld ms", fl);
        if (rl == -1) snprintf(r, sizeof r, "unknown yet");
        else if (rl >= 0) snprintf(r, sizeof r, "%lld ms", rl);
        printf("  lag: forward %s, reverse %s\n", f, r);
    }
    if (*s.cutover_at) {
        unsigned t = 0, i = 0;
        sscanf(s.cutover_at, "%u,%u", &t, &i);
        time_t tt = (time_t)t;
        struct tm tm;
        char iso[32];
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
        printf("  cutover at MongoDB operation time %s (%s)\n", s.cutover_at, iso);
    }
    printf("  next: %s\n", json_string_value(json_object_get(j, "next")) ?: "");
    static const char *const reqs[] = {"approve", "rollback", "finish"};
    for (int i = 0; i < 3; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s.%s", p->state_path, reqs[i]);
        if (access(path, F_OK) == 0) printf("  requested: %s (taken up by the running plan)\n", reqs[i]);
    }
    json_decref(j);
    json_decref(s.history);
    return 0;
}

/* Leaves the request for the run; 0, or -1 with why. */
static int request(const plan *p, const char *cmd, char *err, size_t errsz) {
    mstate s;
    int lr = state_load(p, &s, err, errsz);
    json_decref(s.history);
    if (lr < 0) return -1;
    if (strcmp(cmd, "approve") && strcmp(cmd, "rollback") && strcmp(cmd, "finish")) {
        snprintf(err, errsz, "'%s' is not a request (allowed: approve, rollback, finish)", cmd);
        return -1;
    }
    if (lr == 0 || s.rolled_back || s.finished) {
        snprintf(err, errsz, "plan %s is %s", p->name, lr == 0 ? "not started" : s.rolled_back ? "rolled back" : "finished");
        return -1;
    }
    if (!strcmp(cmd, "approve") && (s.phase != PH_SHADOW || !p->g[gate_ix(PH_SHADOW, "approval")])) {
        snprintf(err, errsz, "plan %s is in phase %s (approve is the shadow phase's gate%s)", p->name,
                 phase_names[s.phase], p->g[gate_ix(PH_SHADOW, "approval")] ? "" : ", which this plan does not ask for");
        return -1;
    }
    if (!strcmp(cmd, "finish") && s.phase != PH_DONE) {
        snprintf(err, errsz, "plan %s is in phase %s (finish retires it in phase done)", p->name, phase_names[s.phase]);
        return -1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s.%s", p->state_path, cmd);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        snprintf(err, errsz, "cannot write %.1000s: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    SL_INFO("migrate", "plan %s: %s requested in phase %s", p->name, cmd, phase_names[s.phase]);
    return 0;
}

static int cmd_request(plan *p, const char *cmd) {
    char err[1200];
    if (request(p, cmd, err, sizeof err) < 0) {
        fprintf(stderr, "sluice migrate %s: %s\n", cmd, err);
        return 1;
    }
    printf("plan %s: %s requested\n", p->name, cmd);
    return 0;
}

/* ---- the daemon's plans ---- */

struct sl_migration {
    plan p;
    pthread_t thread;
    bool started;
    _Atomic bool running;
    volatile sig_atomic_t stop;
};

sl_migration *sl_migration_open(const char *path, sl_errs *errs) {
    sl_migration *m = sl_calloc(1, sizeof *m);
    sl_errs pe = {0};
    if (plan_load(path, &m->p, &pe) < 0) {
        for (int i = 0; i < pe.n; i++) sl_errs_add(errs, "%s: %s", path, pe.msg[i]);
        sl_errs_free(&pe);
        plan_free(&m->p);
        sl_free(m);
        return NULL;
    }
    return m;
}

/* The daemon's run of a plan: a run that failed (a database away, a connector that stopped) starts again after a
 * pause that doubles from 1 s to 60 s, and resumes where the state says, until the daemon stops. */
static void *migration_main(void *arg) {
    sl_migration *m = arg;
    int64_t pause_ms = 1000;
    for (;;) {
        int rc = cmd_run(&m->p, &m->stop);
        if (!rc || rc == 3 || m->stop) break; /* 3: rolled back, nothing to run */
        SL_WARN("migrate", "plan %s: the run failed (its state says why); again in %lld ms", m->p.name,
                (long long)pause_ms);
        for (int64_t t = 0; t < pause_ms && !m->stop; t += 100) sl_sleep_ms(100, NULL);
        if (m->stop) break;
        pause_ms = pause_ms * 2 > 60000 ? 60000 : pause_ms * 2;
    }
    SL_INFO("migrate", "plan %s: the run ended", m->p.name);
    atomic_store(&m->running, false);
    return NULL;
}

int sl_migration_start(sl_migration *m, char *errstr, size_t errsz) {
    atomic_store(&m->running, true);
    if (pthread_create(&m->thread, NULL, migration_main, m) != 0) {
        atomic_store(&m->running, false);
        snprintf(errstr, errsz, "plan %s: cannot start its thread", m->p.name);
        return -1;
    }
    m->started = true;
    return 0;
}

void sl_migration_free(sl_migration *m) {
    if (!m) return;
    m->stop = 1;
    if (m->started) pthread_join(m->thread, NULL);
    plan_free(&m->p);
    sl_free(m);
}

const char *sl_migration_name(const sl_migration *m) { return m->p.name; }

json_t *sl_migration_state(sl_migration *m) {
    json_t *j = access(m->p.state_path, F_OK) == 0 ? json_load_file(m->p.state_path, 0, NULL) : NULL;
    if (!j) j = json_pack("{s:s,s:s}", "plan", m->p.name, "phase", "not started");
    json_object_set_new(j, "running", json_boolean(atomic_load(&m->running)));
    json_object_set_new(j, "plan_file", json_string(m->p.path));
    return j;
}

int sl_migration_request(sl_migration *m, const char *cmd, char *errstr, size_t errsz) {
    return request(&m->p, cmd, errstr, errsz);
}

int sl_migrate_main(int argc, char **argv, volatile sig_atomic_t *stop) {
    static const char *const cmds[] = {"run", "status", "validate", "approve", "rollback", "finish"};
    bool known = false, as_json = false;
    for (size_t i = 0; argc > 0 && i < sizeof cmds / sizeof *cmds; i++) known |= !strcmp(argv[0], cmds[i]);
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--output") && i + 1 < argc && !strcmp(argv[i + 1], "json")) as_json = true, i++;
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else known = false;
    }
    if (!known || !path) {
        fprintf(stderr, "usage: sluice migrate run|status [--output json]|validate|approve|rollback|finish PLAN\n");
        return 2;
    }
    plan p;
    sl_errs errs = {0};
    if (plan_load(path, &p, &errs) < 0) {
        for (int i = 0; i < errs.n; i++) {
            sl_log_redact(errs.msg[i]);
            fprintf(stderr, "%s: %s\n", path, errs.msg[i]);
        }
        sl_errs_free(&errs);
        plan_free(&p);
        return 2;
    }
    int rc = 0;
    if (!strcmp(argv[0], "validate")) printf("%s: ok (plan %s, state %s)\n", path, p.name, p.state_path);
    else if (!strcmp(argv[0], "run")) rc = cmd_run(&p, stop) ? 1 : 0;
    else if (!strcmp(argv[0], "status")) rc = cmd_status(&p, as_json);
    else rc = cmd_request(&p, argv[0]);
    plan_free(&p);
    return rc;
}
