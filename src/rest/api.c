/*
 * Kafka Connect's REST endpoints over the worker (see api.h). Each handler
 * reads a copy of the connector (sl_worker_get) or asks the worker for a
 * change, and builds the answer with jansson. sluice runs one task per
 * connector: task 0, which shares the connector's state.
 */
#include "rest/api.h"
#include "migrate/migrate.h"
#include "runtime/connector.h"
#include "core/log.h"
#include "core/plugin.h"
#include "rest/metrics.h"
#include "util/mem.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JSON_TYPE "application/json"

static void set_json(sl_rest_resp *out, int status, json_t *body) {
    out->status = status;
    out->content_type = JSON_TYPE;
    sl_buf_reset(&out->body);
    if (body) {
        char *s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s) sl_buf_puts(&out->body, s);
        free(s);
        json_decref(body);
    }
}

void sl_rest_api_error(sl_rest_resp *out, int status, const char *msg) {
    json_t *m = json_string(msg);
    if (!m) m = json_string("(message not valid UTF-8)");
    set_json(out, status, json_pack("{s:i, s:o}", "error_code", status, "message", m));
}

static void werr_answer(sl_rest_resp *out, const sl_werr *e) { sl_rest_api_error(out, sl_werr_status(e->code), e->msg); }

static void no_content(sl_rest_resp *out, int status) {
    out->status = status;
    out->content_type = JSON_TYPE;
    sl_buf_reset(&out->body);
}

/* ---- connector views ---- */

static json_t *hidden(const json_t *config) {
    json_t *c = json_deep_copy(config);
    sl_rest_hide_secrets(c);
    return c;
}

static json_t *task_ids(const sl_wconn_info *i) {
    json_t *a = json_array();
    for (int t = 0; t < i->ntasks; t++) json_array_append_new(a, json_pack("{s:s, s:i}", "connector", i->name, "task", t));
    return a;
}

/* ConnectorInfo */
static json_t *info_json(const sl_wconn_info *i) {
    return json_pack("{s:s, s:o, s:o, s:s}", "name", i->name, "config", hidden(i->config), "tasks", task_ids(i),
                     "type", i->type);
}

/* {"id"?, "state", "worker_id", "trace"?}: a connector's (id < 0) or a task's state; in distributed mode the state
 * and id of the worker that runs it (the status topic), unless state overrides the state. */
static json_t *state_json(sl_worker *w, const sl_wconn_info *i, int id, const char *state) {
    if (!state) state = i->owner[0] ? i->owner_state : i->state;
    json_t *s = id >= 0 ? json_pack("{s:i}", "id", id) : json_object();
    json_object_set_new(s, "state", json_string(state));
    json_object_set_new(s, "worker_id", json_string(i->owner[0] ? i->owner : sl_worker_id(w)));
    if (i->trace && strcmp(state, "FAILED") == 0) json_object_set_new(s, "trace", json_string(i->trace));
    return s;
}

/* TaskState of task t (0: the connector's own instance; state overrides its state). */
static json_t *task_json(sl_worker *w, const sl_wconn_info *i, int t, const char *state) {
    if (t == 0) return state_json(w, i, 0, state);
    const sl_wtask_info *ti = &i->more[t - 1];
    if (!state) state = ti->state;
    json_t *s = json_pack("{s:i, s:s, s:s}", "id", t, "state", state, "worker_id",
                          ti->owner[0] ? ti->owner : sl_worker_id(w));
    if (ti->trace && strcmp(state, "FAILED") == 0) json_object_set_new(s, "trace", json_string(ti->trace));
    return s;
}

/* ConnectorStateInfo; the overrides (NULL: none) show RESTARTING in a restart's answer. */
static json_t *status_json(sl_worker *w, const sl_wconn_info *i, const char *conn_state, const char *task_state) {
    json_t *tasks = json_array();
    for (int t = 0; t < i->ntasks; t++) json_array_append_new(tasks, task_json(w, i, t, task_state));
    return json_pack("{s:s, s:o, s:o, s:s}", "name", i->name, "connector", state_json(w, i, -1, conn_state), "tasks",
                     tasks, "type", i->type);
}

/* Reads the connector named by the request; answers 404 itself. */
static bool get_conn(sl_worker *w, const sl_rest_req *req, sl_wconn_info *i, sl_rest_resp *out) {
    sl_werr e;
    if (sl_worker_get(w, req->name, false, i, &e) == 0) return true;
    werr_answer(out, &e);
    return false;
}

static void h_list(sl_worker *w, const sl_rest_req *req, sl_rest_resp *out) {
    sl_wconn_info *v;
    int n = sl_worker_list(w, false, &v);
    json_t *body = req->expand ? json_object() : json_array();
    for (int k = 0; k < n; k++) {
        if (json_is_array(body)) {
            json_array_append_new(body, json_string(v[k].name));
        } else {
            json_t *x = json_object();
            if (req->expand_status) json_object_set_new(x, "status", status_json(w, &v[k], NULL, NULL));
            if (req->expand_info) json_object_set_new(x, "info", info_json(&v[k]));
            json_object_set_new(body, v[k].name, x);
        }
        sl_wconn_info_free(&v[k]);
    }
    sl_free(v);
    set_json(out, 200, body);
}

/* Answers a create or update with the connector's info (201 with Location when created). */
static void answer_info(sl_worker *w, const char *name, bool created, sl_rest_resp *out) {
    sl_wconn_info i;
    sl_werr e;
    if (sl_worker_get(w, name, false, &i, &e) < 0) {
        werr_answer(out, &e); /* deleted meanwhile */
        return;
    }
    set_json(out, created ? 201 : 200, info_json(&i));
    if (created) {
        size_t o = (size_t)snprintf(out->location, sizeof out->location, "/connectors/");
        for (const unsigned char *p = (const unsigned char *)name; *p && o + 4 < sizeof out->location; p++)
            o += (size_t)(isalnum(*p) || strchr("-._~", *p) ? snprintf(out->location + o, 2, "%c", *p)
                                                              : snprintf(out->location + o, 4, "%%%02X", *p));
    }
    sl_wconn_info_free(&i);
}

static void h_create(sl_worker *w, json_t *body, sl_rest_resp *out) {
    const char *name = json_string_value(json_object_get(body, "name"));
    bool created;
    sl_werr e;
    if (sl_worker_put(w, name, json_object_get(body, "config"), SL_PUT_CREATE, &created, &e) < 0) werr_answer(out, &e);
    else answer_info(w, name, true, out);
}

static void h_config_put(sl_worker *w, const sl_rest_req *req, json_t *config, sl_rest_resp *out) {
    char msg[512];
    bool created;
    sl_werr e;
    if (sl_rest_check_name(req->name, msg, sizeof msg) < 0) sl_rest_api_error(out, 400, msg);
    else if (sl_worker_put(w, req->name, config, SL_PUT_UPSERT, &created, &e) < 0) werr_answer(out, &e);
    else answer_info(w, req->name, created, out);
}

static void h_config_patch(sl_worker *w, const sl_rest_req *req, json_t *patch, sl_rest_resp *out) {
    sl_wconn_info i;
    if (!get_conn(w, req, &i, out)) return;
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v) {
        if (json_is_null(v)) json_object_del(i.config, k);
        else json_object_set(i.config, k, v);
    }
    bool created;
    sl_werr e;
    if (sl_worker_put(w, req->name, i.config, SL_PUT_UPDATE, &created, &e) < 0) werr_answer(out, &e);
    else answer_info(w, req->name, false, out);
    sl_wconn_info_free(&i);
}

static void h_restart(sl_worker *w, const sl_rest_req *req, sl_rest_resp *out) {
    bool restarting;
    sl_werr e;
    if (sl_worker_restart(w, req->name, req->only_failed, &restarting, &e) < 0) {
        werr_answer(out, &e);
        return;
    }
    if (!req->include_tasks && !req->only_failed) { /* Connect's original restart: no body */
        no_content(out, 204);
        return;
    }
    sl_wconn_info i;
    if (!get_conn(w, req, &i, out)) return;
    /* The connector and its task 0 are one instance here: when it restarts, so do its tasks. */
    const char *r = restarting ? "RESTARTING" : NULL;
    set_json(out, 202, status_json(w, &i, r, r));
    sl_wconn_info_free(&i);
}

static void h_tasks(sl_worker *w, const sl_rest_req *req, sl_rest_resp *out) {
    sl_wconn_info i;
    if (!get_conn(w, req, &i, out)) return;
    json_t *a = json_array();
    for (int t = 0; t < i.ntasks; t++) {
        json_t *cfg = hidden(i.config);
        const char *cls = json_string_value(json_object_get(i.config, "connector.class"));
        json_object_set_new(cfg, "task.class", json_string(cls ? cls : ""));
        if (i.ntasks > 1) json_object_set_new(cfg, "task.id", json_sprintf("%d", t));
        json_array_append_new(a, json_pack("{s:{s:s, s:i}, s:o}", "id", "connector", i.name, "task", t, "config", cfg));
    }
    set_json(out, 200, a);
    sl_wconn_info_free(&i);
}

static void h_task(sl_worker *w, const sl_rest_req *req, sl_rest_resp *out) {
    sl_wconn_info i;
    if (!get_conn(w, req, &i, out)) return;
    char msg[600];
    if (req->task < 0 || req->task >= i.ntasks) {
        snprintf(msg, sizeof msg, req->route == SL_ROUTE_TASK_STATUS ? "No status found for task %s-%d"
                                                                      : "Unknown task: %s-%d",
                 i.name, req->task);
        sl_rest_api_error(out, 404, msg);
    } else if (req->route == SL_ROUTE_TASK_STATUS) {
        set_json(out, 200, task_json(w, &i, req->task, NULL));
    } else {
        sl_werr e;
        if (sl_worker_restart_task(w, req->name, req->task, &e) < 0) werr_answer(out, &e);
        else no_content(out, 204);
    }
    sl_wconn_info_free(&i);
}

static void h_target(sl_worker *w, const sl_rest_req *req, sl_target t, sl_rest_resp *out) {
    sl_werr e;
    if (sl_worker_set_target(w, req->name, t, &e) < 0) werr_answer(out, &e);
    else no_content(out, t == SL_TARGET_STOPPED ? 204 : 202);
}

static void h_offsets(sl_worker *w, const sl_rest_req *req, json_t *body, sl_rest_resp *out) {
    sl_werr e;
    if (req->route == SL_ROUTE_OFFSETS_GET) {
        json_t *list = sl_worker_offsets_get(w, req->name, &e);
        if (!list) werr_answer(out, &e);
        else set_json(out, 200, json_pack("{s:o}", "offsets", list));
    } else if (req->route == SL_ROUTE_OFFSETS_PATCH) {
        if (sl_worker_offsets_alter(w, req->name, body, &e) < 0) werr_answer(out, &e);
        else set_json(out, 200, json_pack("{s:s}", "message", "The offsets for this connector have been altered successfully"));
    } else {
        if (sl_worker_offsets_reset(w, req->name, &e) < 0) werr_answer(out, &e);
        else set_json(out, 200, json_pack("{s:s}", "message", "The offsets for this connector have been reset successfully"));
    }
}

static void h_verify(sl_worker *w, const sl_rest_req *req, json_t *in, sl_rest_resp *out) {
    sl_werr e;
    if (req->route == SL_ROUTE_VERIFY_START) {
        json_t *u = json_object_get(in, "until_consistent_seconds"), *m = json_object_get(in, "max_differences"),
               *r = json_object_get(in, "rate");
        sl_verify_opts o = {.json = true, .max_listed = m ? (long)json_integer_value(m) : 100,
                            .until_ms = u ? (int64_t)(json_number_value(u) * 1000) : 0, .recheck_ms = 1000,
                            .rate = r ? json_integer_value(r) : 0,
                            .strict_missing = json_is_true(json_object_get(in, "strict_missing")),
                            .no_levels = json_is_false(json_object_get(in, "levels"))};
        if (sl_worker_verify_start(w, req->name, &o, &e) < 0) return werr_answer(out, &e);
    }
    json_t *v = sl_worker_verify_get(w, req->name, &e);
    if (!v) return werr_answer(out, &e);
    set_json(out, req->route == SL_ROUTE_VERIFY_START ? 202 : 200, v);
}

static void h_metrics(sl_worker *w, sl_rest_resp *out) {
    sl_wconn_info *v;
    int n = sl_worker_list(w, true, &v);
    sl_worker_measure_retained(w, v, n);
    sl_metrics_conn *mc = sl_calloc((size_t)n + 1, sizeof *mc);
    for (int k = 0; k < n; k++)
        mc[k] = (sl_metrics_conn){v[k].name, v[k].state, v[k].source, v[k].sink, v[k].has_metrics ? &v[k].metrics : NULL,
                                  v[k].has_retained ? &v[k].retained : NULL, v[k].has_verify ? &v[k].verify : NULL};
    out->status = 200;
    out->content_type = SL_METRICS_CONTENT_TYPE;
    sl_buf_reset(&out->body);
    sl_metrics_render(&out->body, mc, n);
    int nm = sl_worker_migration_count(w);
    json_t **st = sl_calloc((size_t)nm + 1, sizeof *st);
    for (int k = 0; k < nm; k++) st[k] = sl_migration_state(sl_worker_migration(w, k));
    sl_metrics_render_migrations(&out->body, st, nm);
    int slots[4096], nslots = 0;
    uint64_t rebalances = 0;
    int owned = sl_worker_group_owned(w, slots, 4096, &nslots, &rebalances);
    if (owned >= 0) { /* distributed mode: this worker's slots, and who runs each connector */
        int nt = 0;
        for (int k = 0; k < n; k++) nt += v[k].ntasks > 1 ? v[k].ntasks : 1;
        const char **who = sl_calloc((size_t)nt + 1, sizeof *who), **names = sl_calloc((size_t)nt + 1, sizeof *names);
        int *task = sl_calloc((size_t)nt + 1, sizeof *task), m = 0;
        for (int k = 0; k < n; k++) {
            names[m] = v[k].name, task[m] = 0;
            who[m++] = v[k].owner[0] ? v[k].owner : v[k].has_metrics ? sl_worker_id(w) : "";
            for (int t = 1; t < v[k].ntasks; t++) { /* (run here: it has a state of this worker's own) */
                const sl_wtask_info *ti = &v[k].more[t - 1];
                bool here = !strcmp(ti->state, "RUNNING") || !strcmp(ti->state, "PAUSED");
                names[m] = v[k].name, task[m] = t, who[m++] = ti->owner[0] ? ti->owner : here ? sl_worker_id(w) : "";
            }
        }
        sl_metrics_render_group(&out->body, sl_worker_id(w), owned, nslots, rebalances, names, task, who, m);
        sl_free(who), sl_free(names), sl_free(task);
    }
    for (int k = 0; k < nm; k++) json_decref(st[k]);
    sl_free(st);
    for (int k = 0; k < n; k++) sl_wconn_info_free(&v[k]);
    sl_free(v);
    sl_free(mc);
}

/* ---- plugins ---- */

typedef struct plugin {
    const char *name, *aliases, *type;
    const sl_prop *props;
    char cls[160]; /* the Java class name users know, else the name */
} plugin;

static void plugin_fill(plugin *p, const char *name, const char *aliases, const char *type, const sl_prop *props) {
    p->name = name, p->aliases = aliases, p->type = type, p->props = props;
    snprintf(p->cls, sizeof p->cls, "%s", name);
    for (const char *a = aliases; a && *a;) {
        const char *e = strchr(a, '|');
        size_t n = e ? (size_t)(e - a) : strlen(a);
        if (memchr(a, '.', n) && n < sizeof p->cls) {
            snprintf(p->cls, sizeof p->cls, "%.*s", (int)n, a);
            break;
        }
        a = e ? e + 1 : a + n;
    }
}

/* The i-th plugin: sources, then sinks. False past the end. */
static bool plugin_at(int i, plugin *p) {
    int ns = 0;
    while (sl_sources[ns]) ns++;
    if (i < ns) {
        plugin_fill(p, sl_sources[i]->name, sl_sources[i]->aliases, "source", sl_sources[i]->props);
        return true;
    }
    i -= ns;
    for (int k = 0; sl_sinks[k]; k++)
        if (k == i) {
            plugin_fill(p, sl_sinks[k]->name, sl_sinks[k]->aliases, "sink", sl_sinks[k]->props);
            return true;
        }
    return false;
}

/* Connect's plugin names: the class, its simple name, the simple name without "Connector"; ours: name, aliases. */
static bool plugin_matches(const plugin *p, const char *want) {
    if (strcasecmp(p->name, want) == 0 || strcmp(p->cls, want) == 0) return true;
    for (const char *a = p->aliases; a && *a;) {
        const char *e = strchr(a, '|');
        size_t n = e ? (size_t)(e - a) : strlen(a);
        if (strlen(want) == n && strncmp(a, want, n) == 0) return true;
        a = e ? e + 1 : a + n;
    }
    const char *simple = strrchr(p->cls, '.');
    if (!simple) return false;
    simple++;
    size_t sl = strlen(simple), wl = strlen(want);
    if (strcasecmp(simple, want) == 0) return true;
    return sl > 9 && strcmp(simple + sl - 9, "Connector") == 0 && wl == sl - 9 && strncasecmp(simple, want, wl) == 0;
}

static bool plugin_find(const char *want, plugin *p) {
    for (int i = 0; plugin_at(i, p); i++)
        if (plugin_matches(p, want)) return true;
    return false;
}

static void h_plugins(sl_rest_resp *out) {
    json_t *a = json_array();
    plugin p;
    for (int i = 0; plugin_at(i, &p); i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "class", p.cls, "type", p.type, "version", SLUICE_VERSION));
    set_json(out, 200, a);
}

static const char *connect_type(const sl_prop *p) {
    switch (p->type) {
    case SL_PT_INT: return "LONG";
    case SL_PT_BOOL: return "BOOLEAN";
    case SL_PT_LIST: return "LIST";
    default: return p->flags & SL_PF_SENSITIVE ? "PASSWORD" : "STRING";
    }
}

/* ConfigKeyInfo */
static json_t *key_info(const sl_prop *p, const char *group, int order) {
    json_t *def = p->def ? json_string(p->flags & SL_PF_SENSITIVE && *p->def ? "[hidden]" : p->def) : json_null();
    return json_pack("{s:s, s:s, s:b, s:o, s:s, s:s, s:s, s:s, s:s, s:[], s:i}", "name", p->name, "type",
                     connect_type(p), "required", (p->flags & SL_PF_REQUIRED) != 0, "default_value", def,
                     "importance", p->flags & (SL_PF_REQUIRED | SL_PF_SENSITIVE) ? "HIGH" : "MEDIUM",
                     "documentation", p->doc ? p->doc : "", "group", group, "width", "NONE", "display_name", p->name,
                     "dependents", "order", order);
}

/* Appends the keys of tbl not listed yet (seen: name -> index into defs). */
static void add_keys(json_t *defs, json_t *seen, json_t *groups, const sl_prop *tbl, const char *group) {
    int order = 0;
    for (const sl_prop *p = tbl; p && p->name; p++) {
        if (json_object_get(seen, p->name)) continue;
        json_object_set_new(seen, p->name, json_integer((json_int_t)json_array_size(defs)));
        json_array_append_new(defs, key_info(p, group, ++order));
    }
    if (order) json_array_append_new(groups, json_string(group));
}

static void h_plugin_config(const sl_rest_req *req, sl_rest_resp *out) {
    plugin p;
    char msg[600];
    if (!plugin_find(req->name, &p)) {
        snprintf(msg, sizeof msg, "Unknown plugin %s (GET /connector-plugins lists them)", req->name);
        sl_rest_api_error(out, 404, msg);
        return;
    }
    json_t *defs = json_array(), *seen = json_object(), *groups = json_array();
    add_keys(defs, seen, groups, p.props, p.name);
    add_keys(defs, seen, groups, sl_core_props, "Common");
    json_decref(seen);
    json_decref(groups);
    set_json(out, 200, defs);
}

/* The key an error message names ("<key>: ..."), copied into key; false when it names none. */
static bool error_key(const char *msg, char *key, size_t keysz) {
    const char *c = strstr(msg, ": ");
    if (!c || c == msg || (size_t)(c - msg) >= keysz || memchr(msg, ' ', (size_t)(c - msg))) return false;
    snprintf(key, keysz, "%.*s", (int)(c - msg), msg);
    return true;
}

/* The definition index of key: by name, else by a property's alias. -1: none. */
static int def_index(const json_t *seen, const sl_prop *const tbls[], int ntbl, const char *key) {
    json_t *ix = json_object_get(seen, key);
    if (ix) return (int)json_integer_value(ix);
    for (int t = 0; t < ntbl; t++)
        for (const sl_prop *p = tbls[t]; p && p->name; p++)
            for (const char *a = p->aliases; a && *a;) {
                const char *e = strchr(a, '|');
                size_t n = e ? (size_t)(e - a) : strlen(a);
                if (strlen(key) == n && strncmp(a, key, n) == 0 && (ix = json_object_get(seen, p->name)))
                    return (int)json_integer_value(ix);
                a = e ? e + 1 : a + n;
            }
    return -1;
}

/* ConfigValueInfo of one definition. */
static json_t *value_info(const json_t *def, const json_t *config, const sl_prop *const tbls[], int ntbl) {
    const char *name = json_string_value(json_object_get(def, "name"));
    json_t *v = json_object_get(config, name);
    json_t *value = v ? json_incref(v) : json_incref(json_object_get(def, "default_value"));
    if (v && sl_rest_key_sensitive(name)) json_decref(value), value = json_string("[hidden]");
    json_t *rec = json_array();
    for (int t = 0; t < ntbl; t++)
        for (const sl_prop *p = tbls[t]; p && p->name; p++)
            if (strcmp(p->name, name) == 0 && p->type == SL_PT_ENUM) {
                for (const char *a = p->enums; a && *a;) {
                    const char *e = strchr(a, '|');
                    size_t n = e ? (size_t)(e - a) : strlen(a);
                    json_array_append_new(rec, json_stringn(a, n));
                    a = e ? e + 1 : a + n;
                }
                t = ntbl - 1;
                break;
            }
    return json_pack("{s:s, s:o, s:o, s:[], s:b}", "name", name, "value", value ? value : json_null(),
                     "recommended_values", rec, "errors", "visible", 1);
}

/* An entry for a key no table has (an error names it): its definition says only its name. */
static int add_unknown(json_t *configs, json_t *seen, const json_t *config, const char *key) {
    json_t *v = json_object_get(config, key);
    json_t *value = !v ? json_null() : sl_rest_key_sensitive(key) ? json_string("[hidden]") : json_incref(v);
    json_t *def = json_pack("{s:s, s:s, s:b, s:n, s:s, s:s, s:s, s:s, s:s, s:[], s:i}", "name", key, "type", "STRING",
                            "required", 0, "default_value", "importance", "LOW", "documentation", "", "group",
                            "Common", "width", "NONE", "display_name", key, "dependents", "order", -1);
    json_t *val = json_pack("{s:s, s:o, s:[], s:[], s:b}", "name", key, "value", value, "recommended_values", "errors",
                            "visible", 1);
    int ix = (int)json_array_size(configs);
    json_object_set_new(seen, key, json_integer(ix));
    json_array_append_new(configs, json_pack("{s:o, s:o}", "definition", def, "value", val));
    return ix;
}

static void h_validate(sl_worker *w, const sl_rest_req *req, json_t *config, sl_rest_resp *out) {
    plugin p;
    char msg[1200];
    if (!plugin_find(req->name, &p)) {
        snprintf(msg, sizeof msg, "Unknown plugin %s (GET /connector-plugins lists them)", req->name);
        sl_rest_api_error(out, 404, msg);
        return;
    }
    const char *cls = json_string_value(json_object_get(config, "connector.class"));
    plugin q;
    if (cls && !(plugin_find(cls, &q) && strcmp(q.name, p.name) == 0 && strcmp(q.type, p.type) == 0)) {
        snprintf(msg, sizeof msg, "Included connector type %s does not match request type %s", cls, req->name);
        sl_rest_api_error(out, 400, msg);
        return;
    }
    if (!cls) json_object_set_new(config, "connector.class", json_string(p.cls));
    /* The tables that apply: the plugin's, the sink's (sink.type, or the sink plugin itself), the runtime's. */
    const char *st = json_string_value(json_object_get(config, "sink.type"));
    const sl_sink_ops *si = sl_sink_find(st ? st : strcmp(p.type, "sink") == 0 ? p.name : sl_connector_default_sink());
    const sl_source_ops *so = strcmp(p.type, "source") == 0 ? sl_source_find(p.name) : sl_source_of_topics();
    const sl_prop *tbls[3] = {so ? so->props : NULL, si ? si->props : NULL, sl_core_props};
    json_t *defs = json_array(), *seen = json_object(), *groups = json_array();
    add_keys(defs, seen, groups, tbls[0], so ? so->name : p.name);
    add_keys(defs, seen, groups, tbls[1], si ? si->name : "sink");
    add_keys(defs, seen, groups, tbls[2], "Common");
    json_t *configs = json_array();
    size_t k;
    json_t *def;
    json_array_foreach(defs, k, def) json_array_append_new(configs, json_pack("{s:O, s:o}", "definition", def, "value",
                                                                              value_info(def, config, tbls, 3)));
    /* Validate as a create would; each error goes to the key it names. */
    const char *name = json_string_value(json_object_get(config, "name"));
    char err[1024];
    sl_errs errs = {0};
    sl_config *cfg = sl_worker_build_config(w, name ? name : "", config, err, sizeof err);
    if (!cfg) sl_errs_add(&errs, "%s", err);
    sl_connector *c = cfg ? sl_connector_new(cfg, &errs) : NULL;
    if (c) sl_worker_check_files(w, name ? name : "", c, &errs);
    sl_worker_hide_refs(config, cfg, &errs);
    sl_connector_destroy(c);
    sl_config_destroy(cfg);
    for (int i = 0; i < errs.n; i++) {
        char key[SL_REST_KEY_MAX + 1];
        if (!error_key(errs.msg[i], key, sizeof key)) snprintf(key, sizeof key, "connector.class");
        int ix = def_index(seen, tbls, 3, key);
        if (ix < 0) ix = add_unknown(configs, seen, config, key);
        json_t *errors = json_object_get(json_object_get(json_array_get(configs, (size_t)ix), "value"), "errors");
        json_array_append_new(errors, json_string(errs.msg[i]));
    }
    set_json(out, 200, json_pack("{s:s, s:i, s:o, s:o}", "name", p.cls, "error_count", errs.n, "groups", groups,
                                 "configs", configs));
    sl_errs_free(&errs);
    json_decref(seen);
    json_decref(defs);
}

/* ---- dispatch ---- */

static void h_root(sl_worker *w, sl_rest_resp *out) {
    const char *cid = sl_worker_cluster_id(w);
    json_t *j = json_pack("{s:s, s:s, s:o}", "version", SLUICE_VERSION, "commit", "sluice", "kafka_cluster_id",
                          *cid ? json_string(cid) : json_null()); /* (null: the worker keeps nothing in Kafka) */
    int slots[4096], nslots = 0, n = sl_worker_group_owned(w, slots, 4096, &nslots, NULL);
    if (n >= 0) { /* distributed mode: this worker and the task slots the group gave it */
        json_t *a = json_array();
        for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(slots[i]));
        json_object_set_new(j, "worker_id", json_string(sl_worker_id(w)));
        json_object_set_new(j, "task_slots", json_pack("{s:i, s:o}", "total", nslots, "owned", a));
    }
    set_json(out, 200, j);
}

/* sluice migrate plans the daemon runs (migration.plans). */
static void h_migrations(sl_worker *w, const sl_rest_req *req, sl_rest_resp *out) {
    if (req->route == SL_ROUTE_MIGRATIONS) {
        json_t *a = json_array();
        for (int k = 0; k < sl_worker_migration_count(w); k++)
            json_array_append_new(a, sl_migration_state(sl_worker_migration(w, k)));
        return set_json(out, 200, a);
    }
    sl_migration *m = sl_worker_migration_find(w, req->name);
    if (!m) {
        char msg[SL_REST_NAME_MAX + 64];
        snprintf(msg, sizeof msg, "Migration plan %s not found", req->name);
        return sl_rest_api_error(out, 404, msg);
    }
    if (req->route == SL_ROUTE_MIGRATION_GET) return set_json(out, 200, sl_migration_state(m));
    const char *cmd = req->route == SL_ROUTE_MIGRATION_APPROVE ? "approve"
                    : req->route == SL_ROUTE_MIGRATION_ROLLBACK ? "rollback" : "finish";
    char err[1200];
    if (sl_migration_request(m, cmd, err, sizeof err) < 0) return sl_rest_api_error(out, 409, err);
    set_json(out, 202, json_pack("{s:s,s:s}", "message", "The request was handed to the plan's run", "request", cmd));
}

static void h_health(sl_worker *w, sl_rest_resp *out) {
    if (sl_worker_shutting_down(w))
        set_json(out, 503, json_pack("{s:s, s:s}", "status", "unhealthy", "message", "The worker is shutting down"));
    else
        set_json(out, 200, json_pack("{s:s, s:s}", "status", "healthy", "message",
                                     "Worker has completed startup and is ready to handle requests."));
}

static void h_signal(sl_worker *w, const sl_rest_req *req, json_t *in, sl_rest_resp *out) {
    sl_werr e;
    char *text = json_dumps(in, JSON_COMPACT);
    int rc = sl_worker_signal(w, req->name, text, &e);
    free(text);
    if (rc < 0) werr_answer(out, &e);
    else set_json(out, 202, json_pack("{s:s}", "message", "The signal was handed to the connector's source"));
}

static void h_simple(sl_worker *w, const sl_rest_req *req, sl_rest_resp *out) {
    sl_wconn_info i;
    if (!get_conn(w, req, &i, out)) return;
    if (req->route == SL_ROUTE_INFO) set_json(out, 200, info_json(&i));
    else if (req->route == SL_ROUTE_CONFIG_GET) set_json(out, 200, hidden(i.config));
    else set_json(out, 200, status_json(w, &i, NULL, NULL));
    sl_wconn_info_free(&i);
}

void sl_rest_api_handle(sl_worker *w, const sl_rest_req *req, const char *body, size_t len, sl_rest_resp *out) {
    memset(out, 0, sizeof *out);
    sl_buf_init(&out->body);
    int status;
    char msg[1024];
    json_t *in = sl_rest_parse_body(req, body, len, &status, msg, sizeof msg);
    if (!in) {
        sl_rest_api_error(out, status, msg);
        return;
    }
    sl_werr e;
    switch (req->route) {
    case SL_ROUTE_ROOT: h_root(w, out); break;
    case SL_ROUTE_HEALTH: h_health(w, out); break;
    case SL_ROUTE_METRICS: h_metrics(w, out); break;
    case SL_ROUTE_LIST: h_list(w, req, out); break;
    case SL_ROUTE_CREATE: h_create(w, in, out); break;
    case SL_ROUTE_INFO:
    case SL_ROUTE_CONFIG_GET:
    case SL_ROUTE_STATUS: h_simple(w, req, out); break;
    case SL_ROUTE_DELETE:
        if (sl_worker_delete(w, req->name, &e) < 0) werr_answer(out, &e);
        else no_content(out, 204);
        break;
    case SL_ROUTE_CONFIG_PUT: h_config_put(w, req, in, out); break;
    case SL_ROUTE_CONFIG_PATCH: h_config_patch(w, req, in, out); break;
    case SL_ROUTE_RESTART: h_restart(w, req, out); break;
    case SL_ROUTE_PAUSE: h_target(w, req, SL_TARGET_PAUSED, out); break;
    case SL_ROUTE_RESUME: h_target(w, req, SL_TARGET_RUNNING, out); break;
    case SL_ROUTE_STOP: h_target(w, req, SL_TARGET_STOPPED, out); break;
    case SL_ROUTE_TASKS: h_tasks(w, req, out); break;
    case SL_ROUTE_TASK_STATUS:
    case SL_ROUTE_TASK_RESTART: h_task(w, req, out); break;
    case SL_ROUTE_OFFSETS_GET:
    case SL_ROUTE_OFFSETS_PATCH:
    case SL_ROUTE_OFFSETS_DELETE: h_offsets(w, req, in, out); break;
    case SL_ROUTE_VERIFY_START:
    case SL_ROUTE_VERIFY_GET: h_verify(w, req, in, out); break;
    case SL_ROUTE_SIGNAL: h_signal(w, req, in, out); break;
    case SL_ROUTE_PLUGINS: h_plugins(out); break;
    case SL_ROUTE_PLUGIN_CONFIG: h_plugin_config(req, out); break;
    case SL_ROUTE_PLUGIN_VALIDATE: h_validate(w, req, in, out); break;
    case SL_ROUTE_MIGRATIONS:
    case SL_ROUTE_MIGRATION_GET:
    case SL_ROUTE_MIGRATION_APPROVE:
    case SL_ROUTE_MIGRATION_ROLLBACK:
    case SL_ROUTE_MIGRATION_FINISH: h_migrations(w, req, out); break;
    case SL_ROUTE_COUNT: sl_rest_api_error(out, 404, "HTTP 404 Not Found"); break;
    }
    json_decref(in);
}
