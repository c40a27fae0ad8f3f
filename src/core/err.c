/*
 * The error codes' table (err.h): names, meanings and default retriable flags, all from SL_ERR_CODES.
 */
#include "core/err.h"
#include <stdio.h>

static const struct {
    const char *name, *doc;
    bool retriable;
} codes[] = {
#define SL_ERR_ROW(code, name, retriable, doc) {name, doc, retriable},
    SL_ERR_CODES(SL_ERR_ROW)
#undef SL_ERR_ROW
};

static bool known(sl_err_code code) { return (unsigned)code < (unsigned)SL_E__COUNT; }

const char *sl_err_name(sl_err_code code) { return known(code) ? codes[code].name : "?"; }
const char *sl_err_doc(sl_err_code code) { return known(code) ? codes[code].doc : "?"; }
bool sl_err_code_retriable(sl_err_code code) { return known(code) && codes[code].retriable; }

void sl_err_vset(sl_err *e, sl_err_code code, const char *fmt, va_list ap) {
    e->code = code;
    e->retriable = sl_err_code_retriable(code);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

void sl_err_set(sl_err *e, sl_err_code code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sl_err_vset(e, code, fmt, ap);
    va_end(ap);
}

void sl_err_clear(sl_err *e) {
    e->code = SL_E_NONE;
    e->retriable = false;
    e->msg[0] = 0;
}
