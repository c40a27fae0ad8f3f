/*
 * libFuzzer target for the REST API's request side without sockets: the
 * router (method + raw target: path segments, %-escapes, query string) and
 * the JSON body checks of the route it picks, then secret hiding on the
 * normalized config, and the listener parser on the same bytes. No worker,
 * no threads, no connectors.
 *
 * Input: byte 0 picks the method; the bytes up to the first newline are the
 * request target; the rest is the body. Beyond memory safety it checks what
 * the API layer relies on: only the documented statuses, a decoded name
 * within bounds, bodies of the promised shape (config values are strings),
 * and no sensitive value surviving sl_rest_hide_secrets.
 */
#include "rest/route.h"
#include "rest/server.h"
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "get"};

static void check_config(const json_t *cfg, bool nulls) {
    const char *k;
    json_t *v;
    if (!json_is_object(cfg)) abort();
    json_object_foreach((json_t *)cfg, k, v) {
        if (!*k || !(json_is_string(v) || (nulls && json_is_null(v)))) abort();
    }
}

static void check_hidden(json_t *cfg) {
    sl_rest_hide_secrets(cfg);
    const char *k;
    json_t *v;
    json_object_foreach(cfg, k, v) {
        if (sl_rest_key_sensitive(k) && !json_is_null(v) && strcmp(json_string_value(v), "[hidden]") != 0) abort();
    }
}

static void check_body(const sl_rest_req *r, json_t *b) {
    switch (r->body) {
    case SL_BODY_NONE:
        if (!json_is_null(b)) abort();
        break;
    case SL_BODY_CREATE: {
        json_t *name = json_object_get(b, "name"), *cfg = json_object_get(b, "config");
        char msg[256];
        if (!json_is_string(name) || sl_rest_check_name(json_string_value(name), msg, sizeof msg) < 0) abort();
        check_config(cfg, false);
        if (!json_equal(json_object_get(cfg, "name"), name)) abort();
        check_hidden(cfg);
        break;
    }
    case SL_BODY_CONFIG:
    case SL_BODY_PATCH:
        check_config(b, r->body == SL_BODY_PATCH);
        check_hidden(b);
        break;
    case SL_BODY_OFFSETS: {
        size_t i;
        json_t *item;
        if (!json_is_array(b) || json_array_size(b) == 0) abort();
        json_array_foreach(b, i, item) {
            json_t *off = json_object_get(item, "offset");
            if (!json_is_object(json_object_get(item, "partition"))) abort();
            if (off && !json_is_object(off) && !json_is_null(off)) abort();
        }
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *method = methods[data[0] % (sizeof methods / sizeof *methods)];
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(p, '\n', n);
    size_t tlen = nl ? (size_t)(nl - p) : n;
    char *target = malloc(tlen + 1);
    memcpy(target, p, tlen);
    target[tlen] = 0; /* a NUL inside ends the target early, as in C strings from the HTTP library */
    const char *body = nl ? nl + 1 : p + n;
    size_t blen = nl ? n - tlen - 1 : 0;

    sl_rest_req r;
    char msg[1024];
    int st = sl_rest_route(method, target, &r, msg, sizeof msg);
    if (st != 0 && st != 400 && st != 404 && st != 405 && st != 414) abort();
    if (st == 0) {
        if (r.route >= SL_ROUTE_COUNT || strlen(r.name) > SL_REST_NAME_MAX || r.task < 0) abort();
        int bst;
        json_t *b = sl_rest_parse_body(&r, body, blen, &bst, msg, sizeof msg);
        if (b) check_body(&r, b);
        else if ((bst != 400 && bst != 413) || !msg[0]) abort();
        json_decref(b);
    }
    sl_listener l;
    if (sl_listener_parse(target, &l, msg, sizeof msg) == 0 && (l.port < 0 || l.port > 65535)) abort();
    free(target);
    return 0;
}
