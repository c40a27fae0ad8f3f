/* Plugin names: a native name or one of its aliases (the registry, runtime/registry.c, lists the plugins). */
#include "core/plugin.h"
#include <string.h>
#include <strings.h>

/* want is the native name (any case) or exactly one of the "a|b" aliases (Java class names). */
bool sl_plugin_name_is(const char *want, const char *name, const char *aliases) {
    if (strcasecmp(name, want) == 0) return true;
    for (const char *p = aliases; p && *p;) {
        const char *e = strchr(p, '|');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == strlen(want) && strncmp(p, want, n) == 0) return true;
        p = e ? e + 1 : p + n;
    }
    return false;
}
