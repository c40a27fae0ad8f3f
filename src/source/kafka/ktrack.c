/*
 * Offset tracking of the Kafka source (see ktrack.h). Partitions live in an
 * array found through a small open-addressing hash, so noting a message is
 * O(1) however many partitions a regex subscription brings; sealed batches
 * form a FIFO, acked from its head in offset_seq order.
 */
#include "source/kafka/ktrack.h"
#include "util/mem.h"
#include <string.h>

typedef struct entry {
    int tp;       /* index into tps; -1 once the partition was forgotten */
    int64_t next; /* highest offset + 1 of the partition in the batch */
} entry;

typedef struct sealed {
    uint64_t seq;
    int n;
    entry *e;
    struct sealed *next;
} sealed;

struct sl_ktrack {
    sl_ktp *tps;
    int ntps, cap;
    int *slots;   /* tp index + 1; 0: empty. nslots is a power of two */
    int nslots;
    int *open;    /* tp indices noted by the batch being filled */
    int nopen, open_cap;
    sealed *head, *tail;
};

static uint32_t hash(const char *topic, int32_t partition) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)topic; *p; p++) h = (h ^ *p) * 16777619u;
    return (h ^ (uint32_t)partition) * 16777619u;
}

static void slot_put(sl_ktrack *t, int idx) {
    uint32_t m = (uint32_t)t->nslots - 1, i = hash(t->tps[idx].topic, t->tps[idx].partition) & m;
    while (t->slots[i]) i = (i + 1) & m;
    t->slots[i] = idx + 1;
}

static void rehash(sl_ktrack *t) {
    sl_free(t->slots);
    t->nslots = t->nslots ? t->nslots * 2 : 64;
    t->slots = sl_calloc((size_t)t->nslots, sizeof *t->slots);
    for (int i = 0; i < t->ntps; i++) slot_put(t, i);
}

static int find_index(const sl_ktrack *t, const char *topic, int32_t partition) {
    if (!t->nslots) return -1;
    uint32_t m = (uint32_t)t->nslots - 1;
    for (uint32_t i = hash(topic, partition) & m; t->slots[i]; i = (i + 1) & m) {
        const sl_ktp *p = &t->tps[t->slots[i] - 1];
        if (p->partition == partition && strcmp(p->topic, topic) == 0) return t->slots[i] - 1;
    }
    return -1;
}

static int add_tp(sl_ktrack *t, const char *topic, int32_t partition) {
    if (t->ntps == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->tps = sl_realloc(t->tps, (size_t)t->cap * sizeof *t->tps);
    }
    int idx = t->ntps++;
    t->tps[idx] = (sl_ktp){sl_strdup(topic), partition, -1, -1, -1, -1};
    if ((t->ntps) * 2 > t->nslots) rehash(t); /* load factor <= 1/2 */
    else slot_put(t, idx);
    return idx;
}

sl_ktrack *sl_ktrack_new(void) { return sl_calloc(1, sizeof(sl_ktrack)); }

void sl_ktrack_destroy(sl_ktrack *t) {
    if (!t) return;
    while (t->head) {
        sealed *s = t->head;
        t->head = s->next;
        sl_free(s->e);
        sl_free(s);
    }
    for (int i = 0; i < t->ntps; i++) sl_free(t->tps[i].topic);
    sl_free(t->tps);
    sl_free(t->slots);
    sl_free(t->open);
    sl_free(t);
}

void sl_ktrack_note(sl_ktrack *t, const char *topic, int32_t partition, int64_t offset) {
    int idx = find_index(t, topic, partition);
    if (idx < 0) idx = add_tp(t, topic, partition);
    sl_ktp *p = &t->tps[idx];
    if (p->pending < 0) {
        if (t->nopen == t->open_cap) {
            t->open_cap = t->open_cap ? t->open_cap * 2 : 16;
            t->open = sl_realloc(t->open, (size_t)t->open_cap * sizeof *t->open);
        }
        t->open[t->nopen++] = idx;
    }
    if (offset + 1 > p->pending) p->pending = offset + 1;
}

bool sl_ktrack_open_empty(const sl_ktrack *t) { return t->nopen == 0; }

void sl_ktrack_seal(sl_ktrack *t, uint64_t seq, sl_buf *json) {
    sl_buf_putc(json, '{');
    sealed *s = t->nopen ? sl_calloc(1, sizeof *s) : NULL;
    if (s) {
        s->seq = seq;
        s->e = sl_malloc((size_t)t->nopen * sizeof *s->e);
    }
    sl_buf key;
    sl_buf_init(&key);
    for (int i = 0; i < t->nopen; i++) {
        sl_ktp *p = &t->tps[t->open[i]];
        sl_buf_reset(&key);
        sl_buf_printf(&key, "%s/%d", p->topic, (int)p->partition);
        if (i) sl_buf_putc(json, ',');
        sl_buf_put_json_str(json, key.data, key.len);
        sl_buf_putc(json, ':');
        sl_buf_put_i64(json, p->pending);
        s->e[s->n++] = (entry){t->open[i], p->pending};
        p->last = p->pending;
        p->pending = -1;
    }
    sl_buf_free(&key);
    sl_buf_putc(json, '}');
    t->nopen = 0;
    if (!s) return;
    if (t->tail) t->tail->next = s;
    else t->head = s;
    t->tail = s;
}

int sl_ktrack_ack(sl_ktrack *t, uint64_t committed_seq) {
    while (t->head && t->head->seq <= committed_seq) {
        sealed *s = t->head;
        for (int i = 0; i < s->n; i++)
            if (s->e[i].tp >= 0 && s->e[i].next > t->tps[s->e[i].tp].acked) t->tps[s->e[i].tp].acked = s->e[i].next;
        t->head = s->next;
        if (!t->head) t->tail = NULL;
        sl_free(s->e);
        sl_free(s);
    }
    int dirty = 0;
    for (int i = 0; i < t->ntps; i++) dirty += t->tps[i].acked > t->tps[i].committed;
    return dirty;
}

int sl_ktrack_count(const sl_ktrack *t) { return t->ntps; }
sl_ktp *sl_ktrack_at(sl_ktrack *t, int i) { return &t->tps[i]; }

sl_ktp *sl_ktrack_find(sl_ktrack *t, const char *topic, int32_t partition) {
    int idx = find_index(t, topic, partition);
    return idx < 0 ? NULL : &t->tps[idx];
}

void sl_ktrack_positions(const sl_ktrack *t, sl_buf *json) {
    sl_buf key;
    sl_buf_init(&key);
    sl_buf_putc(json, '{');
    bool first = true;
    for (int i = 0; i < t->ntps; i++) {
        const sl_ktp *p = &t->tps[i];
        if (p->last < 0) continue;
        sl_buf_reset(&key);
        sl_buf_printf(&key, "%s/%d", p->topic, (int)p->partition);
        if (!first) sl_buf_putc(json, ',');
        first = false;
        sl_buf_put_json_str(json, key.data, key.len);
        sl_buf_putc(json, ':');
        sl_buf_put_i64(json, p->last);
    }
    sl_buf_putc(json, '}');
    sl_buf_free(&key);
}

void sl_ktrack_set_last(sl_ktrack *t, const char *topic, int32_t partition, int64_t next) {
    int idx = find_index(t, topic, partition);
    if (idx < 0) idx = add_tp(t, topic, partition);
    t->tps[idx].last = next;
}

void sl_ktrack_forget(sl_ktrack *t, const char *topic, int32_t partition) {
    int idx = find_index(t, topic, partition);
    if (idx < 0) return;
    for (sealed *s = t->head; s; s = s->next)
        for (int i = 0; i < s->n; i++)
            if (s->e[i].tp == idx) s->e[i].tp = -1;
    for (int i = 0; i < t->nopen; i++)
        if (t->open[i] == idx) {
            t->open[i] = t->open[--t->nopen]; /* order of the open list does not matter */
            break;
        }
    sl_ktp *p = &t->tps[idx];
    p->pending = p->acked = p->committed = -1;
}
