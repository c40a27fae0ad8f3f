/*
 * File and stdout sinks: one JSON line per record,
 *   {"topic": T, "key": K, "value": V, "headers": {...}}
 * where K and V are exactly what Kafka Connect's JsonConverter writes for
 * the Debezium event. A delete is followed by a tombstone line (value null)
 * when tombstones.on.delete is true.
 *
 * Lines are encoded into one buffer and written with write(2) (a line
 * larger than twice the buffer in pieces as it is encoded); flush()
 * writes the rest and fsyncs, and only then does the runtime treat the
 * records as durable. On open, a torn last line left by a crash is cut off,
 * so every line in the file is whole.
 */
#include "ctx/ctx.h"
#include "core/log.h"
#include "format/benc.h"
#include "util/buf.h"
#include "util/mem.h"
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct file_conf {
    char *path;
    int64_t buffer_bytes;
    bool fsync;
} file_conf;

typedef struct file_sink {
    sl_ctx *ctx;
    int fd;
    bool is_stdout;
    bool fsync;
    size_t buffer_bytes;
    sl_buf out, scratch, hdr;
    int spill_errno; /* a write of spill_out failed */
    sl_benc enc;     /* large batches: encoded on several threads */
} file_sink;

#define F(x) offsetof(file_conf, x)
static const sl_prop file_props[] = {
    {"sink.file.path", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_FILE_OUT, F(path),
     "File the file sink appends JSON lines to (created if missing). Required for sink.type=file."},
    {"sink.file.buffer.bytes", SL_PT_INT, "1048576", NULL, 4096, 1073741824, 0, F(buffer_bytes),
     "Bytes encoded in memory before a write(2); a flush always writes everything."},
    {"sink.file.fsync", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(fsync),
     "fsync the file before records count as durable (turning it off gives up crash safety)."},
    {NULL}};
static const sl_prop stdout_props[] = {{NULL}};
#undef F

static void file_check(void *settings, sl_config *cfg, sl_errs *errs) {
    file_conf *fc = settings;
    if (!fc->path || !*fc->path) sl_errs_add(errs, "sink.file.path: required when sink.type=file (a file path)");
}

/* Writes p[0, n) to the file; 0 or an errno. */
static int write_bytes(file_sink *s, const char *p, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(s->fd, p + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno;
        off += (size_t)w;
    }
    if (s->ctx) sl_ctx_bytes_written(s->ctx, n);
    return 0;
}

/* The out buffer's spill (util/buf): a line too large to gather goes to the file in pieces as it is
 * encoded, so a very large value is not held whole a second time. A crash mid-line leaves a torn
 * line, which open cuts off; nothing counts as durable before flush. The first error is kept. */
static void spill_out(void *arg, const char *p, size_t n) {
    file_sink *s = arg;
    if (!s->spill_errno) s->spill_errno = write_bytes(s, p, n);
}

static int write_all(file_sink *s, char *errstr, size_t errsz) {
    int e = s->spill_errno ? s->spill_errno : write_bytes(s, s->out.data, s->out.len);
    sl_buf_reset(&s->out);
    if (e) {
        snprintf(errstr, errsz, "write failed: %s", strerror(e));
        sl_ctx_error_code(s->ctx, SL_E_RESOURCE); /* the disk: full, gone, read-only */
        return -1;
    }
    return 0;
}

/* Cuts a torn last line (no trailing newline) left by a crash mid-write. */
static int cut_torn_tail(int fd, const char *path, char *errstr, size_t errsz) {
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size == 0 || !S_ISREG(st.st_mode)) return 0;
    off_t end = st.st_size;
    char buf[4096];
    while (end > 0) {
        off_t start = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        ssize_t n = pread(fd, buf, (size_t)(end - start), start);
        if (n <= 0) {
            /* Never cut what could not be read: that would lose records. */
            snprintf(errstr, errsz, "sink.file.path %s: cannot read its end: %s", path,
                     n < 0 ? strerror(errno) : "short read");
            return -1;
        }
        for (ssize_t i = n - 1; i >= 0; i--) {
            if (buf[i] != '\n') continue;
            off_t keep = start + i + 1;
            if (keep == st.st_size) return 0;
            SL_WARN("sink", "cutting a torn last line path=%s bytes=%lld", path, (long long)(st.st_size - keep));
            if (ftruncate(fd, keep) < 0 || fsync(fd) < 0) {
                snprintf(errstr, errsz, "sink.file.path %s: cannot cut torn line: %s", path, strerror(errno));
                return -1;
            }
            return 0;
        }
        end = start;
    }
    SL_WARN("sink", "cutting a torn first line path=%s bytes=%lld", path, (long long)st.st_size);
    if (ftruncate(fd, 0) < 0) {
        snprintf(errstr, errsz, "sink.file.path %s: cannot cut torn line: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int open_common(void **out, sl_ctx *ctx, int fd, bool is_stdout, bool do_fsync, size_t bufsz) {
    file_sink *s = sl_calloc(1, sizeof *s);
    s->ctx = ctx;
    s->fd = fd;
    s->is_stdout = is_stdout;
    s->fsync = do_fsync;
    s->buffer_bytes = bufsz;
    sl_buf_init(&s->out);
    sl_buf_set_spill(&s->out, spill_out, s, 2 * bufsz); /* lines are written whole below this */
    sl_buf_init(&s->scratch);
    sl_buf_init(&s->hdr);
    sl_benc_init(&s->enc, (int)sl_ctx_core(ctx)->encode_threads, "sl-file-enc");
    *out = s;
    return 0;
}

static int file_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    file_conf *fc = settings;
    int fd = open(fc->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(errstr, errsz, "sink.file.path %s: %s", fc->path, strerror(errno));
        sl_ctx_error_code(ctx, SL_E_RESOURCE);
        return -1;
    }
    if (cut_torn_tail(fd, fc->path, errstr, errsz) < 0) {
        close(fd);
        sl_ctx_error_code(ctx, SL_E_RESOURCE);
        return -1;
    }
    return open_common(out, ctx, fd, false, fc->fsync, (size_t)fc->buffer_bytes);
}

static int stdout_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    return open_common(out, ctx, STDOUT_FILENO, true, false, 65536);
}

/* Where lines are encoded: the sink's own buffers, or those of a part of a batch encoded on several threads. */
typedef struct lines {
    sl_buf *out, *scratch;
    /* The headers of the last record written, encoded: change events of a batch share one array of context
     * headers (core/ctxhdr), written once per batch instead of once per record. */
    sl_buf *hdr;
    const void *hdr_of;
    int hdr_n;
} lines;

static void put_line(lines *l, const sl_dbz_opts *o, const sl_record *r, bool tombstone) {
    sl_buf *b = l->out;
    sl_buf_puts(b, "{\"topic\":");
    sl_buf_reset(l->scratch);
    const char *topic = sl_dbz_topic(o, r, l->scratch);
    sl_buf_put_json_str(b, topic, strlen(topic));
    sl_buf_puts(b, ",\"key\":");
    sl_dbz_key(o, r, b);
    sl_buf_puts(b, ",\"value\":");
    if (tombstone) sl_buf_puts(b, "null");
    else sl_dbz_value(o, r, b);
    sl_buf_puts(b, ",\"headers\":{");
    if (r->nheaders && ((const void *)r->headers != l->hdr_of || r->nheaders != l->hdr_n)) {
        sl_buf_reset(l->hdr);
        for (int i = 0; i < r->nheaders; i++) {
            const sl_header *h = &r->headers[i];
            if (i) sl_buf_putc(l->hdr, ',');
            sl_buf_put_json_str(l->hdr, h->key, strlen(h->key));
            sl_buf_putc(l->hdr, ':');
            if (h->value && h->is_json) sl_buf_put(l->hdr, h->value, h->value_len);
            else if (h->value) sl_buf_put_json_str(l->hdr, h->value, h->value_len);
            else sl_buf_puts(l->hdr, "null");
        }
        l->hdr_of = r->headers, l->hdr_n = r->nheaders;
    }
    if (r->nheaders) sl_buf_put(b, l->hdr->data, l->hdr->len);
    sl_buf_puts(b, "}}\n");
}

/* r's line, and as Debezium's EventDispatcher, every delete, keyed or not, followed by its tombstone. */
static void put_lines(lines *l, const sl_dbz_opts *o, bool tombstones, const sl_record *r) {
    put_line(l, o, r, false);
    if (tombstones && r->op == SL_OP_DELETE && r->table) put_line(l, o, r, true);
}

/* A part's records (format/benc): their lines are one piece each. Thread: one of the batch's encoding threads. */
static void encode_part(void *arg, const sl_dbz_opts *o, sl_benc_part *p, const sl_record *r) {
    const bool *tombstones = arg;
    lines l = {&p->out, &p->scratch, &p->aux, p->aux_key, p->aux_n};
    put_lines(&l, o, *tombstones, r);
    p->aux_key = l.hdr_of, p->aux_n = l.hdr_n;
    sl_benc_piece_end(p);
}

static int file_write(void *sink, sl_batch *batch, char *errstr, size_t errsz) {
    file_sink *s = sink;
    const sl_dbz_opts *o = sl_ctx_dbz(s->ctx);
    bool tombstones = sl_ctx_core(s->ctx)->tombstones;
    lines l = {&s->out, &s->scratch, &s->hdr, NULL, 0}; /* a new batch: an address may be reused with other headers */
    bool par = sl_benc_start(&s->enc, o, batch, 1, encode_part, &tombstones);
    for (int i = 0; i < batch->n; i++) {
        size_t n;
        const char *line = par ? sl_benc_piece(&s->enc, i, 0, &n) : NULL;
        if (line) sl_buf_put(&s->out, line, n);
        else put_lines(&l, o, tombstones, &batch->recs[i]);
        if ((s->out.len >= s->buffer_bytes || s->spill_errno) && write_all(s, errstr, errsz) < 0) {
            sl_benc_end(&s->enc);
            return -1;
        }
    }
    sl_benc_end(&s->enc);
    return 0;
}

static int file_flush(void *sink, char *errstr, size_t errsz) {
    file_sink *s = sink;
    if (write_all(s, errstr, errsz) < 0) return -1;
    if (s->fsync && !s->is_stdout && fdatasync(s->fd) < 0) {
        snprintf(errstr, errsz, "fsync failed: %s", strerror(errno));
        sl_ctx_error_code(s->ctx, SL_E_RESOURCE);
        return -1;
    }
    return 0;
}

static void file_close(void *sink) {
    file_sink *s = sink;
    if (!s) return;
    if (!s->is_stdout) close(s->fd);
    sl_buf_free(&s->out);
    sl_buf_free(&s->scratch);
    sl_buf_free(&s->hdr);
    sl_benc_free(&s->enc);
    sl_free(s);
}

const sl_sink_ops sl_file_sink_ops = {
    "file", "io.sluice.sink.FileSink", "Appends one JSON line per change event to a file, fsynced before commit.",
    file_props, sizeof(file_conf), file_check, file_open, file_write, file_flush, file_close, .one_writer = true};

const sl_sink_ops sl_stdout_sink_ops = {
    "stdout", "io.sluice.sink.StdoutSink", "Writes one JSON line per change event to standard output.",
    stdout_props, 0, NULL, stdout_open, file_write, file_flush, file_close, .one_writer = true};
