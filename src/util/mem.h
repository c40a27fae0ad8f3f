/*
 * Thin allocation wrappers. They abort on out-of-memory (a CDC daemon that
 * cannot allocate cannot make progress safely) and count live bytes so that
 * /metrics can report allocator use without a custom malloc.
 */
#ifndef SL_UTIL_MEM_H
#define SL_UTIL_MEM_H
#include <stddef.h>
#include <stdint.h>

void *sl_malloc(size_t n);
void *sl_calloc(size_t nmemb, size_t n);
void *sl_realloc(void *p, size_t n);
char *sl_strdup(const char *s);
char *sl_strndup(const char *s, size_t n);
void sl_free(void *p);
/* Bytes currently allocated through these wrappers. */
int64_t sl_mem_used(void);

#endif
