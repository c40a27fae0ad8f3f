/* Transaction metadata records (see txmon.h). */
#include "core/txmon.h"
#include "util/buf.h"
#include "util/jhash.h"
#include "util/mem.h"
#include <stdio.h>
#include <string.h>

static char *coll_name(const sl_table *t) {
    const char *ns = t->schema && *t->schema ? t->schema : t->db ? t->db : "";
    size_t n = strlen(ns) + strlen(t->name) + 2;
    char *s = sl_malloc(n);
    snprintf(s, n, "%s.%s", ns, t->name);
    return s;
}

sl_record *sl_txmon_begin(sl_txmon *m, sl_batch *b) {
    sl_txmon_reset(m);
    sl_record *begin = sl_batch_add(b, NULL);
    begin->op = SL_OP_TX_BEGIN;
    m->open = true;
    return begin;
}

sl_record *sl_txmon_event(sl_txmon *m, sl_batch *b, const sl_table *t) { return sl_txmon_event_coll(m, b, t, NULL); }

sl_record *sl_txmon_event_coll(sl_txmon *m, sl_batch *b, const sl_table *t, const char *coll) {
    sl_record *begin = m->open ? NULL : sl_txmon_begin(m, b);
    m->events++;
    char *name = t ? coll_name(t) : sl_strdup(coll ? coll : "");
    for (int i = 0; i < m->ncoll; i++)
        if (strcmp(m->coll[i].name, name) == 0) {
            m->coll_order = ++m->coll[i].n;
            sl_free(name);
            return begin;
        }
    if (m->ncoll == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 8;
        m->coll = sl_realloc(m->coll, (size_t)m->cap * sizeof *m->coll);
    }
    m->coll[m->ncoll].name = name;
    m->coll[m->ncoll++].n = 1;
    m->coll_order = 1;
    return begin;
}

sl_record *sl_txmon_commit(sl_txmon *m, sl_batch *b) {
    if (!m->open) return NULL;
    sl_record *end = sl_batch_add(b, NULL);
    end->op = SL_OP_TX_END;
    end->tx_events = m->events;
    sl_buf j;
    sl_buf_init(&j);
    const char **keys = sl_malloc(sizeof *keys * (size_t)(m->ncoll ? m->ncoll : 1));
    size_t *lens = sl_malloc(sizeof *lens * (size_t)(m->ncoll ? m->ncoll : 1));
    int *order = sl_malloc(sizeof *order * (size_t)(m->ncoll ? m->ncoll : 1));
    for (int i = 0; i < m->ncoll; i++) keys[i] = m->coll[i].name, lens[i] = strlen(m->coll[i].name);
    sl_java_hashmap_order(keys, lens, m->ncoll, order);
    sl_buf_putc(&j, '[');
    for (int k = 0; k < m->ncoll; k++) {
        int i = order[k];
        sl_buf_puts(&j, k ? ",{\"data_collection\":" : "{\"data_collection\":");
        sl_buf_put_json_str(&j, m->coll[i].name, strlen(m->coll[i].name));
        sl_buf_puts(&j, ",\"event_count\":");
        sl_buf_put_u64(&j, m->coll[i].n);
        sl_buf_putc(&j, '}');
    }
    sl_buf_putc(&j, ']');
    sl_free(keys), sl_free(lens), sl_free(order);
    end->tx_collections = sl_arena_strndup(&b->arena, j.data, j.len);
    sl_buf_free(&j);
    sl_txmon_reset(m);
    return end;
}

void sl_txmon_reset(sl_txmon *m) {
    for (int i = 0; i < m->ncoll; i++) sl_free(m->coll[i].name);
    m->ncoll = 0;
    m->events = 0;
    m->open = false;
}

void sl_txmon_free(sl_txmon *m) {
    sl_txmon_reset(m);
    sl_free(m->coll);
    m->coll = NULL;
    m->cap = 0;
}
