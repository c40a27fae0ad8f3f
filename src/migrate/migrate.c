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

enum { POL_SOURCE, POL_TARGET, POL_LATEST, POL_N };
static const char *const policy_names[POL_N] = {"source-wins", "target-wins", "latest-timestamp"};

/* A module of the forward mapping (an embed transform): its root table, collection and child tables. */
#define MOD_CHILDREN 16
typedef struct emod {
    char root[256], coll[128];
    int nchild;
    char child[MOD_CHILDREN][256];
    char pkey[MOD_CHILDREN][512]; /* the child's parent.key columns, comma-separated */
} emod;

typedef struct plan {
    char *path, *name, *state_path;
    sl_config *fcfg, *rcfg;
    sl_connector *fwd, *rev;
    bool has[PH_N];
    double g[NGATES];
    bool two_way;     /* shadow: the application writes both sides; reverse runs beside forward */
    int policy;       /* conflict.policy */
    emod mods[16];
    int nmods;
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
    long long conflicts[2];  /* two-way: conflicts resolved, won by the source database [0] / MongoDB [1] */
    json_t *recent;          /* the newest conflicts, each with both versions */
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

/* The next item of a comma-separated list at *q (its length; 0 at the end), *q moved past it. */
static size_t list_next(const char **q, const char **item) {
    while (**q == ',' || **q == ' ') (*q)++;
    size_t len = strcspn(*q, ", ");
    *item = *q;
    *q += len;
    return len;
}

/* The names of the transforms of type `type` in c's chain (at most max); how many. */
static int xforms_of(const sl_config *c, const char *type, char names[][128], int max) {
    const char *list = sl_config_get(c, "transforms");
    int n = 0;
    size_t len;
    for (const char *q = list ? list : "", *it; n < max && (len = list_next(&q, &it));) {
        char key[300];
        snprintf(names[n], 128, "%.*s", (int)len, it);
        snprintf(key, sizeof key, "transforms.%s.type", names[n]);
        const char *t = sl_config_get(c, key);
        if (t && !strcmp(t, type)) n++;
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
    /* a two-way shadow's conflicts: deletes under reverse's origin + "_r" (reverse's sink session holds its own:
     * PostgreSQL lets one session at a time use an origin), which forward skips too */
    const char *rn = sl_config_get(p->rcfg, "replication.origin.name"), *fs = sl_config_get(p->fcfg, "skipped.origins");
    if (p->two_way && rn && *rn) {
        char v[1024];
        snprintf(v, sizeof v, "%s%s%s_r", fs ? fs : "", fs && *fs ? "," : "", rn);
        sl_config_set(p->fcfg, "skipped.origins", v);
    }
}

/* The forward mapping's modules (its embed transforms), for the conflicts of a two-way shadow. */
static void modules_of(plan *p) {
    char fe[16][128];
    int nf = xforms_of(p->fcfg, "embed", fe, 16);
    for (int i = 0; i < nf; i++) {
        emod *m = &p->mods[p->nmods++];
        const char *root = xopt(p->fcfg, fe[i], "root.table") ?: "", *coll = xopt(p->fcfg, fe[i], "collection");
        const char *dot = strrchr(root, '.');
        snprintf(m->root, sizeof m->root, "%s", root);
        snprintf(m->coll, sizeof m->coll, "%s", coll && *coll ? coll : dot ? dot + 1 : root);
        size_t len;
        for (const char *q = xopt(p->fcfg, fe[i], "children") ?: "", *it;
             m->nchild < MOD_CHILDREN && (len = list_next(&q, &it));) {
            char opt[300];
            snprintf(opt, sizeof opt, "child.%.*s.table", (int)len, it);
            snprintf(m->child[m->nchild], sizeof m->child[0], "%s", xopt(p->fcfg, fe[i], opt) ?: "");
            snprintf(opt, sizeof opt, "child.%.*s.parent.key", (int)len, it);
            snprintf(m->pkey[m->nchild], sizeof m->pkey[0], "%s", xopt(p->fcfg, fe[i], opt) ?: "");
            m->nchild++;
        }
    }
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
            if (!strcmp(key, "two.way") && k == PH_SHADOW) {
                if (!json_is_boolean(v)) sl_errs_add(errs, "phases[%zu].two.way: must be true or false", i);
                p->two_way = json_is_true(v);
            } else if (strcmp(key, "phase") && strcmp(key, "gates")) {
                sl_errs_add(errs, "phases[%zu].%s: unknown key (allowed: phase, gates%s)", i, key,
                            k == PH_SHADOW ? ", two.way" : "");
            }
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
            strcmp(key, "phases") && strcmp(key, "conflict.policy"))
            sl_errs_add(errs, "%s: unknown key (allowed: name, state.file, forward, reverse, phases, conflict.policy)",
                        key);
    }
    const char *pol = json_string_value(json_object_get(root, "conflict.policy"));
    p->policy = -1;
    for (int k = 0; pol && k < POL_N; k++)
        if (!strcmp(pol, policy_names[k])) p->policy = k;
    if (!json_object_get(root, "conflict.policy")) p->policy = POL_SOURCE;
    if (p->policy < 0)
        sl_errs_add(errs, "conflict.policy: '%s' is not a policy (allowed: source-wins, target-wins, latest-timestamp)",
                    pol ? pol : "(not a string)");
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
        modules_of(p);
        const char *fd = sl_config_get(p->rcfg, "change.stream.full.document");
        if (p->two_way && (!fd || (strcmp(fd, "required") && strcmp(fd, "whenAvailable"))))
            sl_errs_add(errs, "reverse: change.stream.full.document is '%s'; a two-way shadow needs required (or "
                        "whenAvailable): the post-image of each update (MongoDB 6.0+, changeStreamPreAndPostImages on "
                        "the collections), so that reverse carries each change as it was made, not the document as it "
                        "is when the event is read (which may already hold forward's write: a conflict lost)",
                        fd ? fd : "default");
        if (p->two_way && !p->nmods)
            sl_errs_add(errs, "phases: shadow's two.way needs the forward connector to embed (transforms of type embed): "
                        "the conflicts of a two-way shadow are resolved document by document");
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
    s->recent = json_array();
}

static void state_free(mstate *s) {
    json_decref(s->history);
    json_decref(s->recent);
    s->history = s->recent = NULL;
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
    if (p->two_way)
        json_object_set_new(j, "conflicts",
                            json_pack("{s:s,s:I,s:I,s:O}", "policy", policy_names[p->policy], "source_won",
                                      (json_int_t)s->conflicts[0], "target_won", (json_int_t)s->conflicts[1], "recent",
                                      s->recent));
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
    json_t *cf = json_object_get(j, "conflicts");
    s->conflicts[0] = json_integer_value(json_object_get(cf, "source_won"));
    s->conflicts[1] = json_integer_value(json_object_get(cf, "target_won"));
    if (json_is_array(json_object_get(cf, "recent"))) {
        json_decref(s->recent);
        s->recent = json_incref(json_object_get(cf, "recent"));
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

/* Each document's newest change on each side, as the connectors' taps see them (latest-timestamp): open
 * addressing by a 64-bit hash of collection and _id (3 MiB). Half full, it keeps only the documents changed in the
 * last TS_KEEP_MS (a conflict is resolved seconds after its changes crossed); a conflict whose times were
 * forgotten goes to the side whose time is known, else to the source database. */
#define TS_CAP (1u << 17)
#define TS_KEEP_MS 300000
typedef struct tsmap {
    pthread_mutex_t mu;
    uint64_t *keys; /* 0: empty */
    int64_t (*ts)[2];
    size_t n;
} tsmap;

/* A document that differs in the newest check of a two-way shadow. */
typedef struct cdoc {
    uint64_t h, sig; /* collection + _id; the differing rows of both sides */
    int mod;
    int nid;
    char *id[8];     /* its _id as the root's key values (text) */
    size_t idl[8];
    json_t *rows;    /* both versions of its differing rows (the first 20), for the log and the state */
} cdoc;

typedef struct runner {
    plan *p;
    mstate s;
    volatile sig_atomic_t *stop;
    bool fwd_on, rev_on;
    bool fwd_used, rev_used; /* started once: a new object for the next start */
    char rev_at[64]; /* the operation time the reverse connector's config starts at ("": as the plan has it) */
    tsmap ts;
    cdoc *cur;       /* the documents of the check in progress */
    size_t ncur, capcur;
    struct { uint64_t h, sig; } *prev; /* the previous check's */
    size_t nprev;
    long unmapped;   /* differing rows of tables outside the modules */
    char unmapped_table[128]; /* the first one's table */
    char gate_pos[256], gate_mpos[256]; /* gate_both: the round's source position, MongoDB's then */
    char err[2048];
} runner;

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
#define FNV0 14695981039346656037ull

/* A document's hash: its collection and its _id's values (the root's key values as text). */
static uint64_t doc_hash(const char *coll, const char *const *v, const size_t *l, int n) {
    uint64_t h = fnv(FNV0, coll, strlen(coll) + 1);
    for (int i = 0; i < n; i++) h = fnv(fnv(h, v[i] ? v[i] : "", v[i] ? l[i] : 0), "\x1f", 1);
    return h ? h : 1;
}

/* The values of an _id as JSON has it (a value, or a document of them; MongoDB's extended JSON scalars by their
 * value), into v/l (texts in buf, offsets first). */
static void id_values(json_t *v, sl_buf *buf, size_t *at, int *n) {
    if (*n >= 8) return;
    if (json_is_object(v)) {
        const char *k = NULL;
        json_t *x;
        if (json_object_size(v) == 1 && (k = json_object_iter_key(json_object_iter(v))) && k[0] == '$') {
            x = json_object_iter_value(json_object_iter(v));
            if (json_is_string(x) || json_is_number(x)) return id_values(x, buf, at, n);
        }
        json_object_foreach(v, k, x) id_values(x, buf, at, n);
        return;
    }
    at[(*n)++] = buf->len;
    if (json_is_string(v)) sl_buf_puts(buf, json_string_value(v));
    else if (json_is_integer(v)) sl_buf_printf(buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) sl_buf_printf(buf, "%.17g", json_real_value(v));
    else if (json_is_boolean(v)) sl_buf_puts(buf, json_is_true(v) ? "true" : "false");
    sl_buf_putc(buf, 0);
}

static void ts_note(tsmap *m, int side, const char *topic, const char *key, size_t keylen, int64_t ts) {
    json_t *k = json_loadb(key, keylen, 0, NULL), *id = json_object_get(k, "_id");
    const char *dot = topic ? strrchr(topic, '.') : NULL, *coll = dot ? dot + 1 : topic ? topic : "";
    sl_buf b;
    sl_buf_init(&b);
    size_t at[8];
    int n = 0;
    if (id) id_values(id, &b, at, &n);
    const char *v[8];
    size_t l[8];
    for (int i = 0; i < n; i++) v[i] = b.data + at[i], l[i] = strlen(v[i]);
    uint64_t h = id ? doc_hash(coll, v, l, n) : 0;
    sl_buf_free(&b);
    json_decref(k);
    if (!h || ts <= 0) return;
    pthread_mutex_lock(&m->mu);
    if (!m->keys) m->keys = sl_calloc(TS_CAP, sizeof *m->keys), m->ts = sl_calloc(TS_CAP, sizeof *m->ts);
    if (m->n >= TS_CAP / 2) { /* the recent ones again, into a new table */
        uint64_t *keys = sl_calloc(TS_CAP, sizeof *keys);
        int64_t(*tv)[2] = sl_calloc(TS_CAP, sizeof *tv);
        size_t n = 0, old = m->n;
        int64_t since = sl_wall_us() / 1000 - TS_KEEP_MS;
        for (size_t i = 0; i < TS_CAP && n < TS_CAP / 4; i++) {
            if (!m->keys[i] || (m->ts[i][0] < since && m->ts[i][1] < since)) continue;
            size_t j = m->keys[i] & (TS_CAP - 1);
            while (keys[j]) j = (j + 1) & (TS_CAP - 1);
            keys[j] = m->keys[i], tv[j][0] = m->ts[i][0], tv[j][1] = m->ts[i][1], n++;
        }
        sl_free(m->keys), sl_free(m->ts);
        m->keys = keys, m->ts = tv, m->n = n;
        if (old - n > 0)
            SL_INFO("migrate", "latest-timestamp: the change times of %zu documents are forgotten (%zu kept)", old - n, n);
    }
    size_t i = h & (TS_CAP - 1);
    while (m->keys[i] && m->keys[i] != h) i = (i + 1) & (TS_CAP - 1);
    if (!m->keys[i]) m->keys[i] = h, m->ts[i][0] = m->ts[i][1] = 0, m->n++;
    if (ts > m->ts[i][side]) m->ts[i][side] = ts;
    pthread_mutex_unlock(&m->mu);
}

static void tap_fwd(void *arg, const char *topic, const char *key, size_t n, int64_t ts) {
    ts_note(arg, 0, topic, key, n, ts);
}
static void tap_rev(void *arg, const char *topic, const char *key, size_t n, int64_t ts) {
    ts_note(arg, 1, topic, key, n, ts);
}

static void ts_get(tsmap *m, uint64_t h, int64_t out[2]) {
    out[0] = out[1] = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = h & (TS_CAP - 1); m->keys && m->keys[i]; i = (i + 1) & (TS_CAP - 1))
        if (m->keys[i] == h) {
            out[0] = m->ts[i][0], out[1] = m->ts[i][1];
            break;
        }
    pthread_mutex_unlock(&m->mu);
}

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
    if (r->p->two_way && r->p->policy == POL_LATEST) sl_connector_set_tap(c, fwd ? tap_fwd : tap_rev, &r->ts);
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

/* ---- two-way shadow: conflicts ----
 *
 * Both sides take writes; each connector skips the other's (origins), so a document changed on both sides
 * before either change crossed ends swapped: each change lands on the other side after that side's own, so
 * MongoDB holds the source database's change and the source database MongoDB's (reverse must carry each
 * change's own version, the post-image: change.stream.full.document=required or whenAvailable; updateLookup
 * would carry whatever the document holds when it reads the event). Such a document differs in a verify run
 * whose rechecks waited for both connectors to pass both databases' positions, and differs the same way (the
 * same rows on both sides) in the next run: no change in flight explains it. That is a conflict; the policy
 * picks the change that stays, and the side that does not hold it is made to:
 *   the source database's change (held by MongoDB): the document is marked again ("sluice-resolve"), which
 *     reverse carries into the rows (its unembed writes the whole document: root, children, children it no
 *     longer holds removed); a document MongoDB does not have: its rows are deleted in the source database
 *     under reverse's origin name + "_r" (forward skips it too: default_origins);
 *   MongoDB's change (held by the source database): the document is deleted in MongoDB (marked forward's, so
 *     reverse leaves the delete out) and its rows are written again unchanged in the source database, which
 *     forward carries into a new document.
 */

static bool table_named(const sl_vtable *t, const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return !strcmp(t->table, name);
    size_t n = (size_t)(dot - name);
    if (strcmp(t->table, dot + 1)) return false;
    return (strlen(t->schema) == n && !strncmp(t->schema, name, n)) || (strlen(t->db) == n && !strncmp(t->db, name, n));
}

/* The module table t belongs to (its root: *child -1), or -1. */
static int module_of(const plan *p, const sl_vtable *t, int *child) {
    for (int m = 0; m < p->nmods; m++) {
        *child = -1;
        if (table_named(t, p->mods[m].root)) return m;
        for (int k = 0; k < p->mods[m].nchild; k++)
            if (table_named(t, p->mods[m].child[k])) return *child = k, m;
    }
    return -1;
}

static json_t *row_json(const sl_vtable *t, const char *const *v, const size_t *l) {
    if (!v) return json_null();
    json_t *o = json_object();
    for (int i = 0; i < t->ncols; i++)
        json_object_set_new(o, t->cols[i].name,
                            v[i] && v[i] != sl_vmissing ? json_stringn_nocheck(v[i], l[i]) : json_null());
    return o;
}

/* verify's on_diff: the row's document(s) join the check's list. */
static void on_diff(void *arg, const sl_vtable *st, const sl_vtable *t, const char *const *sv, const size_t *sl,
                    const sl_vtable *tt, const char *const *tv, const size_t *tl) {
    runner *r = arg;
    int child = -1, m = module_of(r->p, st, &child);
    int np = t->nkeys;
    if (m >= 0 && child >= 0)
        for (np = 0; np < t->nkeys && t->cols[np].parent;) np++;
    if (m < 0 || np < 1 || np > 8) {
        if (!r->unmapped++) snprintf(r->unmapped_table, sizeof r->unmapped_table, "%s", st->table);
        return;
    }
    uint64_t sig = fnv(FNV0, st->table, strlen(st->table) + 1);
    for (int side = 0; side < 2; side++) {
        const char *const *v = side ? tv : sv;
        const size_t *l = side ? tl : sl;
        int n = side ? tt->ncols : t->ncols;
        for (int i = 0; v && i < n; i++)
            sig = fnv(fnv(sig, v[i] ? v[i] : "\001", v[i] ? l[i] : 1), "\037", 1);
        sig = fnv(sig, "|", 1);
    }
    for (int side = 0; side < 2; side++) {
        const char *const *v = side ? tv : sv;
        const size_t *l = side ? tl : sl;
        if (!v) continue;
        uint64_t h = doc_hash(r->p->mods[m].coll, v, l, np);
        if (side && sv && h == doc_hash(r->p->mods[m].coll, sv, sl, np)) continue; /* the same document */
        size_t i = 0;
        while (i < r->ncur && r->cur[i].h != h) i++;
        if (i == r->ncur) {
            if (r->ncur == 10000) return; /* enough for one check: the rest in the next */
            if (r->ncur == r->capcur) {
                r->capcur = r->capcur ? 2 * r->capcur : 16;
                r->cur = sl_realloc(r->cur, r->capcur * sizeof *r->cur);
            }
            cdoc *d = &r->cur[r->ncur++];
            memset(d, 0, sizeof *d);
            d->h = h, d->mod = m, d->nid = np;
            for (int k = 0; k < np; k++) {
                d->id[k] = sl_malloc(l[k] + 1);
                memcpy(d->id[k], v[k] ? v[k] : "", v[k] ? l[k] : 0);
                d->id[k][v[k] ? l[k] : 0] = 0;
                d->idl[k] = v[k] ? l[k] : 0;
            }
            d->rows = json_array();
        }
        cdoc *d = &r->cur[i];
        d->sig += sig; /* the rows in any order */
        if (json_array_size(d->rows) < 20)
            json_array_append_new(d->rows, json_pack("{s:s,s:o,s:o}", "table", st->table, "source", row_json(t, sv, sl),
                                                     "target", row_json(tt, tv, tl)));
    }
}

/* verify's gate in a two-way shadow: forward has passed the source database's position pos and reverse the
 * position MongoDB had when that round began. */
static int gate_both(void *arg, const char *pos) {
    runner *r = arg;
    int g = sl_connector_position_passed(r->p->fwd, pos);
    if (g <= 0) return g;
    if (strcmp(pos, r->gate_pos)) {
        char e[sizeof r->err];
        memcpy(e, r->err, sizeof e);
        int rc = source_position(r, r->p->rev, r->gate_mpos, sizeof r->gate_mpos);
        memcpy(r->err, e, sizeof e);
        if (rc < 0 || !*r->gate_mpos) return -1;
        snprintf(r->gate_pos, sizeof r->gate_pos, "%s", pos);
    }
    return sl_connector_position_passed(r->p->rev, r->gate_mpos);
}

/* The tables of a module as both sides name them. */
typedef struct mtabs {
    int ready; /* 1 found, -1 cannot be */
    sl_vtable root, rt, child[MOD_CHILDREN];
    const char *pcols[MOD_CHILDREN][8];
    char pbuf[MOD_CHILDREN][512];
    int npcols[MOD_CHILDREN];
} mtabs;

static int mtabs_find(runner *r, const emod *m, mtabs *mt, sl_vside *src, sl_vside *dst, const sl_vmap *map) {
    sl_vtable *tabs = NULL;
    int n = 0, rc = src->ops->tables(src, &tabs, &n, r->err, sizeof r->err);
    bool root = false;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!root && table_named(&tabs[i], m->root)) {
            root = true;
            sl_vtable_copy(&mt->root, &tabs[i]);
            sl_vtable c;
            sl_vtable_copy(&c, &tabs[i]);
            if (map->fn) rc = map->fn(map->arg, &c, r->err, sizeof r->err);
            if (rc == 0) rc = dst->ops->target(dst, &c, &mt->rt, r->err, sizeof r->err);
            sl_vtable_clear(&c);
        }
        for (int k = 0; k < m->nchild; k++)
            if (!mt->child[k].ncols && table_named(&tabs[i], m->child[k])) sl_vtable_copy(&mt->child[k], &tabs[i]);
    }
    for (int i = 0; i < n; i++) sl_vtable_clear(&tabs[i]);
    sl_free(tabs);
    if (rc == 0 && (!root || !mt->rt.ncols)) {
        snprintf(r->err, sizeof r->err, "conflicts of %s cannot be resolved: %s", m->root,
                 !root ? "the forward connector does not capture the root table" : "MongoDB has no such collection");
        rc = -1;
    }
    for (int k = 0; rc == 0 && k < m->nchild; k++) {
        snprintf(mt->pbuf[k], sizeof mt->pbuf[k], "%s", m->pkey[k]);
        char *save = NULL;
        for (char *q = strtok_r(mt->pbuf[k], ", ", &save); q && mt->npcols[k] < 8; q = strtok_r(NULL, ", ", &save))
            mt->pcols[k][mt->npcols[k]++] = q;
    }
    mt->ready = rc == 0 ? 1 : -1;
    return rc;
}

static void mtabs_clear(mtabs *mt) {
    sl_vtable_clear(&mt->root);
    sl_vtable_clear(&mt->rt);
    for (int k = 0; k < MOD_CHILDREN; k++) sl_vtable_clear(&mt->child[k]);
}

/* Makes both sides hold the version MongoDB holds now (keep_mongo: the source database's change, which forward
 * carried there) or the one the source database holds now (MongoDB's change, which reverse carried there) of
 * document d (see above). 0, or -1 (r->err). */
static int resolve_doc(runner *r, const cdoc *d, bool keep_mongo, mtabs *mt, sl_vside *src, sl_vside *dst) {
    const emod *m = &r->p->mods[d->mod];
    const char *const *id = (const char *const *)d->id;
    const char *fo = sl_config_get(r->p->fcfg, "replication.origin.name");
    const char *rn = sl_config_get(r->p->rcfg, "replication.origin.name");
    char rbuf[300];
    snprintf(rbuf, sizeof rbuf, "%s_r", rn ? rn : ""); /* default_origins: forward skips it */
    const char *ro = rn && *rn ? rbuf : sl_config_get(r->p->rcfg, "replication.server.id");
    if (!src->ops->write || !dst->ops->write) {
        snprintf(r->err, sizeof r->err, "conflicts of %s cannot be resolved: a side takes no writes", m->root);
        return -1;
    }
    const char *kcols[8];
    for (int k = 0; k < mt->root.nkeys && k < 8; k++) kcols[k] = mt->root.cols[k].name;
    if (!keep_mongo) {
        if (dst->ops->write(dst, &mt->rt, SL_VWRITE_REMOVE, NULL, id, d->idl, d->nid, fo && *fo ? fo : NULL, r->err,
                            sizeof r->err) < 0 ||
            src->ops->write(src, &mt->root, SL_VWRITE_TOUCH, kcols, id, d->idl, d->nid, NULL, r->err, sizeof r->err) < 0)
            return -1;
        for (int k = 0; k < m->nchild; k++)
            if (mt->child[k].ncols &&
                src->ops->write(src, &mt->child[k], SL_VWRITE_TOUCH, mt->pcols[k], id, d->idl, mt->npcols[k], NULL,
                                r->err, sizeof r->err) < 0)
                return -1;
        return 0;
    }
    long got = dst->ops->write(dst, &mt->rt, SL_VWRITE_TOUCH, NULL, id, d->idl, d->nid, NULL, r->err, sizeof r->err);
    if (got != 0) return got < 0 ? -1 : 0;
    for (int k = 0; k < m->nchild; k++) /* MongoDB has no such document: its rows go (children first) */
        if (mt->child[k].ncols &&
            src->ops->write(src, &mt->child[k], SL_VWRITE_REMOVE, mt->pcols[k], id, d->idl, mt->npcols[k],
                            ro && *ro ? ro : NULL, r->err, sizeof r->err) < 0)
            return -1;
    return src->ops->write(src, &mt->root, SL_VWRITE_REMOVE, kcols, id, d->idl, d->nid, ro && *ro ? ro : NULL, r->err,
                           sizeof r->err) < 0 ? -1 : 0;
}

static void cur_clear(runner *r) {
    for (size_t i = 0; i < r->ncur; i++) {
        for (int k = 0; k < r->cur[i].nid; k++) sl_free(r->cur[i].id[k]);
        json_decref(r->cur[i].rows);
    }
    r->ncur = 0;
}

/* After a settled check: the documents that differ as they did in the previous one are conflicts, resolved by
 * the policy. 0, or -1 (r->err). */
static int resolve_conflicts(runner *r, bool settled) {
    plan *p = r->p;
    mstate *s = &r->s;
    if (!settled) { /* no rows were given: the previous list stays for the next check */
        cur_clear(r);
        return 0;
    }
    mtabs *mts = sl_calloc((size_t)p->nmods + 1, sizeof *mts);
    sl_vside *src = NULL, *dst = NULL;
    sl_vmap map;
    bool open = false;
    int rc = 0;
    size_t keep = 0;
    for (size_t i = 0; i < r->ncur && rc == 0; i++) {
        cdoc *d = &r->cur[i];
        bool stable = false;
        for (size_t k = 0; k < r->nprev && !stable; k++) stable = r->prev[k].h == d->h && r->prev[k].sig == d->sig;
        if (!stable) {
            r->cur[keep].h = d->h; /* for the next check (cur[keep] is done with) */
            uint64_t sig = d->sig;
            r->cur[keep++].sig = sig;
            continue;
        }
        if (!open) {
            open = true;
            rc = sl_connector_verify_open(p->fwd, &src, &dst, &map, r->err, sizeof r->err);
            if (rc < 0) break;
        }
        mtabs *mt = &mts[d->mod];
        if (!mt->ready && mtabs_find(r, &p->mods[d->mod], mt, src, dst, &map) < 0) {
            rc = -1;
            break;
        }
        int64_t t[2];
        ts_get(&r->ts, d->h, t);
        bool source_wins = p->policy == POL_SOURCE || (p->policy == POL_LATEST && t[0] >= t[1]);
        sl_buf idt;
        sl_buf_init(&idt);
        for (int k = 0; k < d->nid; k++) sl_buf_printf(&idt, "%s%s", k ? "," : "", d->id[k]);
        char *rows = json_dumps(d->rows, JSON_COMPACT);
        char times[128] = "";
        if (p->policy == POL_LATEST)
            snprintf(times, sizeof times, "; newest change: source database %lld ms, MongoDB %lld ms", (long long)t[0],
                     (long long)t[1]);
        SL_WARN("migrate", "plan %s: conflict on %s _id %s (changed on both sides, each change carried over the "
                "other's): %s's change wins (conflict.policy %s%s); the rows that differed, as each side holds them: %s",
                p->name, p->mods[d->mod].coll, sl_buf_cstr(&idt), source_wins ? "the source database" : "MongoDB",
                policy_names[p->policy], times, rows ? rows : "[]");
        free(rows);
        rc = resolve_doc(r, d, source_wins, mt, src, dst); /* swapped: MongoDB holds the source's change */
        if (rc == 0) {
            s->conflicts[source_wins ? 0 : 1]++;
            history(s, "conflict on %s _id %s: %s's change wins", p->mods[d->mod].coll, sl_buf_cstr(&idt),
                    source_wins ? "the source database" : "MongoDB");
            json_t *c = json_pack("{s:I,s:s,s:s,s:s,s:O}", "ms", (json_int_t)(sl_wall_us() / 1000), "collection",
                                  p->mods[d->mod].coll, "_id", sl_buf_cstr(&idt), "winner",
                                  source_wins ? "source" : "target", "rows", d->rows);
            if (p->policy == POL_LATEST)
                json_object_set_new(c, "times_ms", json_pack("{s:I,s:I}", "source", (json_int_t)t[0], "target",
                                                             (json_int_t)t[1]));
            json_array_append_new(s->recent, c);
            while (json_array_size(s->recent) > 20) json_array_remove(s->recent, 0);
        }
        sl_buf_free(&idt);
    }
    /* the next check compares with this one's documents that were not resolved */
    r->prev = sl_realloc(r->prev, (keep + 1) * sizeof *r->prev);
    for (size_t i = 0; i < keep; i++) r->prev[i].h = r->cur[i].h, r->prev[i].sig = r->cur[i].sig;
    r->nprev = rc == 0 ? keep : 0;
    for (int m = 0; m < p->nmods; m++) mtabs_clear(&mts[m]);
    sl_free(mts);
    if (src) src->ops->close(src);
    if (dst) dst->ops->close(dst);
    cur_clear(r);
    return rc;
}

/* One verify run of the forward connector's pair (with rechecks for recheck_s seconds): the differences, or -1.
 * In a two-way shadow (conflicts): rechecks wait for both connectors, and the conflicts found are resolved. */
static long long verify_once2(runner *r, double recheck_s, bool conflicts);
static long long verify_once(runner *r, double recheck_s) { return verify_once2(r, recheck_s, false); }

static long long verify_once2(runner *r, double recheck_s, bool conflicts) {
    sl_vside *src = NULL, *dst = NULL;
    sl_vmap map;
    sl_verify_opts o = {.max_listed = 20, .recheck_ms = 500, .until_ms = (int64_t)(recheck_s * 1000)};
    o.gate = sl_connector_position_passed, o.gate_arg = r->p->fwd;
    if (conflicts) {
        o.gate = gate_both, o.gate_arg = r;
        o.on_diff = on_diff, o.diff_arg = r;
        r->gate_pos[0] = 0;
        r->unmapped = 0;
        cur_clear(r);
    }
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
    if (rc < 0) {
        if (conflicts) cur_clear(r);
        return -1;
    }
    r->s.last_diff = st.differences;
    r->s.last_verify_ms = sl_wall_us() / 1000;
    if (conflicts) {
        bool settled = st.differences == 0 || r->ncur > 0 || r->unmapped > 0;
        if (r->unmapped)
            SL_WARN("migrate", "plan %s: %ld differing rows (of %s, ...) belong to no embedded module: their conflicts "
                    "are not resolved", r->p->name, r->unmapped, r->unmapped_table);
        if (resolve_conflicts(r, settled) < 0) return -1;
    }
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

/* Reverse starts at MongoDB's operation time now (recorded first; its offsets reset), or runs on from where it is
 * (it resumes from its offsets after a crash). */
static int rev_start_here(runner *r, const char *why) {
    mstate *s = &r->s;
    char pos[256] = "";
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
        history(s, "%s: reverse starts at MongoDB's operation time %s", why, s->cutover_at);
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
    return rev_start_here(r, "cutover");
}

/* After cutover: reverse runs to MongoDB's position, stops, verify, forward starts again where it stopped. */
static int rollback_after_cutover(runner *r) {
    mstate *s = &r->s;
    char pos[256] = "";
    snprintf(s->note, sizeof s->note, "rolling back: stop the application's writes to MongoDB; writes go back to "
                                       "the source database once this phase shows shadow");
    if (state_save(r->p, s, r->err, sizeof r->err) < 0) return -1;
    /* a two-way shadow to go back to: reverse keeps running (the application may write both sides there) */
    bool keep_rev = r->p->two_way && r->p->has[PH_SHADOW];
    if (s->rev_started) {
        if (rev_configure(r) < 0 || start_one(r, r->p->rev, &r->rev_on, "reverse") < 0 || source_position(r, r->p->rev, pos, sizeof pos) < 0 ||
            wait_passed(r, r->p->rev, r->rev_on, pos, "reverse") < 0 || (!keep_rev && stop_one(r, r->p->rev, &r->rev_on, "reverse") < 0))
            return -1;
        history(s, "rollback: reverse ran to MongoDB's position %s%s", pos, keep_rev ? " (it keeps running)" : " and stopped");
    }
    long long d = verify_once(r, 30);
    if (d < 0) return -1;
    history(s, "rollback: verify found %lld differences", d);
    s->rolling_back = s->fwd_stopped = false;
    if (!keep_rev) s->rev_started = false, s->cutover_at[0] = 0;
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
            if (s->rev_started) { /* a two-way shadow: what MongoDB took reaches the source database first */
                char pos[256] = "";
                if (rev_configure(r) < 0 || start_one(r, p->rev, &r->rev_on, "reverse") < 0 ||
                    source_position(r, p->rev, pos, sizeof pos) < 0 || wait_passed(r, p->rev, r->rev_on, pos, "reverse") < 0 ||
                    stop_one(r, p->rev, &r->rev_on, "reverse") < 0)
                    return -1;
                history(s, "rollback: reverse ran to MongoDB's position %s and stopped", pos);
            }
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
        if (p->two_way && rev_start_here(r, "shadow (two-way)") < 0) return -1;
        double every = gate(r, PH_SHADOW, "check.every.seconds"), window = gate(r, PH_SHADOW, "window.seconds");
        double max = gate(r, PH_SHADOW, "differences.max");
        bool need_ok = gate(r, PH_SHADOW, "approval") != 0;
        if (now - s->last_verify_ms >= (int64_t)(every * 1000) || s->last_verify_ms < s->phase_since_ms) {
            /* two-way: a conflict differs in every recheck, and is found by two checks in a row: short rechecks */
            long long d = verify_once2(r, p->two_way ? 3 : 10, p->two_way);
            if (d < 0) return -1;
            if (d > max) s->window_start_ms = 0;
            else if (!s->window_start_ms) s->window_start_ms = now;
        }
        double held = s->window_start_ms ? (double)(now - s->window_start_ms) / 1000 : 0;
        snprintf(s->gate_text, sizeof s->gate_text,
                 "differences %lld <= %.0f in every run for %.1f s of %.1f s; approval %s", s->last_diff, max, held,
                 window, !need_ok ? "not needed" : s->approved ? "given" : "needed (sluice migrate approve)");
        const char *tail = need_ok && !s->approved ? "; then: sluice migrate approve" : "";
        if (p->two_way)
            snprintf(s->note, sizeof s->note, "the application reads MongoDB (shadow reads) and may write both sides "
                                               "(conflicts: %s)%s", policy_names[p->policy], tail);
        else
            snprintf(s->note, sizeof s->note, "the application reads MongoDB (shadow reads) and still writes the "
                                               "source database%s", tail);
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

static void runner_free(runner *r) {
    state_free(&r->s);
    cur_clear(r);
    sl_free(r->cur);
    sl_free(r->prev);
    sl_free(r->ts.keys);
    sl_free(r->ts.ts);
    pthread_mutex_destroy(&r->ts.mu);
}

static int run_locked(runner *rr) {
    runner r = *rr;
    plan *p = r.p;
    volatile sig_atomic_t *stop = r.stop;
    pthread_mutex_init(&r.ts.mu, NULL);
    int lr = state_load(p, &r.s, r.err, sizeof r.err);
    if (lr < 0) {
        fprintf(stderr, "sluice migrate: %s\n", r.err);
        runner_free(&r);
        return 1;
    }
    if (r.s.rolled_back) {
        fprintf(stderr, "sluice migrate: plan %s was rolled back before cutover (state %s): remove the state file to "
                        "start it again\n", p->name, p->state_path);
        runner_free(&r);
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
    runner_free(&r);
    return rc;
}

static int cmd_status(plan *p, bool as_json) {
    char err[1024];
    mstate s;
    int lr = state_load(p, &s, err, sizeof err);
    if (lr <= 0) {
        if (lr < 0) fprintf(stderr, "sluice migrate: %s\n", err);
        else printf("plan %s: not started (sluice migrate run %s)\n", p->name, p->path);
        state_free(&s);
        return lr < 0 ? 1 : 0;
    }
    if (as_json) {
        char *text = sl_read_file(p->state_path, NULL, err, sizeof err);
        fputs(text ? text : "{}", stdout);
        putchar('\n');
        sl_free(text);
        state_free(&s);
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
        printf("  reverse from MongoDB operation time %s (%s)\n", s.cutover_at, iso);
    }
    if (p->two_way)
        printf("  conflicts (%s): %lld resolved, the source database won %lld, MongoDB won %lld\n",
               policy_names[p->policy], s.conflicts[0] + s.conflicts[1], s.conflicts[0], s.conflicts[1]);
    printf("  next: %s\n", json_string_value(json_object_get(j, "next")) ?: "");
    static const char *const reqs[] = {"approve", "rollback", "finish"};
    for (int i = 0; i < 3; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s.%s", p->state_path, reqs[i]);
        if (access(path, F_OK) == 0) printf("  requested: %s (taken up by the running plan)\n", reqs[i]);
    }
    json_decref(j);
    state_free(&s);
    return 0;
}

/* Leaves the request for the run; 0, or -1 with why. */
static int request(const plan *p, const char *cmd, char *err, size_t errsz) {
    mstate s;
    int lr = state_load(p, &s, err, errsz);
    state_free(&s);
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
