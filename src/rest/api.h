/*
 * The REST API's endpoints: a routed request (rest/route.h) in, a status
 * and body out, against the worker. No HTTP library here: rest/server.c
 * moves the bytes. Bodies are Kafka Connect's; every error is
 * {"error_code": N, "message": "..."}; config values of sensitive keys are
 * "[hidden]" in every answer.
 */
#ifndef SL_REST_API_H
#define SL_REST_API_H
#include "rest/route.h"
#include "util/buf.h"
#include "worker/worker.h"

typedef struct sl_rest_resp {
    int status;
    const char *content_type; /* static */
    char location[SL_REST_NAME_MAX * 3 + 32]; /* Location header of a 201, else "" */
    sl_buf body;
} sl_rest_resp;

/* Initializes out and answers the request (any thread; the worker locks what it needs). */
void sl_rest_api_handle(sl_worker *w, const sl_rest_req *req, const char *body, size_t len, sl_rest_resp *out);
/* An error answer: {"error_code": status, "message": msg}. */
void sl_rest_api_error(sl_rest_resp *out, int status, const char *msg);

#endif
