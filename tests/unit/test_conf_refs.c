/*
 * Config references resolved at load: ${file:/path} (the whole file, less
 * one trailing newline), ${file:/path:key} (a .properties key), ${dir:/dir:file},
 * their errors (naming the config key and the path), and the default
 * bootstrap.servers of a config that has none (kclient).
 */
#include "core/conf.h"
#include "kafka/kclient.h"
#include "test.h"
#include "util/mem.h"
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/sl_refs_XXXXXX";

/* Writes dir/name with len bytes of text; returns the path (static buffer per call site is enough here). */
static const char *put(const char *name, const char *text, size_t len) {
    static char path[8][512];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (!f) return p;
    CHECK(fwrite(text, 1, len, f) == len);
    fclose(f);
    return p;
}
#define PUT(name, lit) put(name, lit, sizeof lit - 1)

/* The value of key "k" after loading {"name": "t", "k": value}; NULL with err set when loading failed. */
static char *load(const char *value, char *err, size_t errsz) {
    char json[2048];
    snprintf(json, sizeof json, "{\"name\":\"t\",\"config\":{\"k\":\"%s\"}}", value);
    sl_config *c = sl_config_parse_json(json, "t.json", err, errsz);
    if (!c) return NULL;
    char *v = sl_strdup(sl_config_get(c, "k"));
    sl_config_destroy(c);
    return v;
}

static void check_value(const char *value, const char *want) {
    char err[1024] = "";
    char *got = load(value, err, sizeof err);
    if (!got) fprintf(stderr, "  %s: %s\n", value, err);
    CHECK_STR(got, want);
    sl_free(got);
}

/* Loading fails with an error that holds each of the non-NULL strings a, b, c. */
static void check_error(const char *value, const char *a, const char *b, const char *c) {
    char err[1024] = "";
    char *got = load(value, err, sizeof err);
    CHECK(got == NULL);
    sl_free(got);
    bool ok = strstr(err, a) && (!b || strstr(err, b)) && (!c || strstr(err, c));
    if (!ok) fprintf(stderr, "  %s: error '%s' lacks '%s' / '%s' / '%s'\n", value, err, a, b ? b : "", c ? c : "");
    CHECK(ok);
}

static void test_whole_file(void) {
    char ref[600];
    snprintf(ref, sizeof ref, "${file:%s}", PUT("pw-nl", "s3cr3t\n"));
    check_value(ref, "s3cr3t");
    snprintf(ref, sizeof ref, "${file:%s}", PUT("pw-bare", "s3cr3t"));
    check_value(ref, "s3cr3t");
    snprintf(ref, sizeof ref, "${file:%s}", PUT("pw-crlf", "s3cr3t\r\n"));
    check_value(ref, "s3cr3t");
    /* only one newline goes */
    snprintf(ref, sizeof ref, "${file:%s}", PUT("pw-2nl", "s3cr3t\n\n"));
    check_value(ref, "s3cr3t\n");
    /* a lone CR is content */
    snprintf(ref, sizeof ref, "${file:%s}", PUT("pw-cr", "s3cr3t\r"));
    check_value(ref, "s3cr3t\r");
    snprintf(ref, sizeof ref, "${file:%s}", PUT("empty", ""));
    check_value(ref, "");
    /* inside a longer value, twice */
    char v[1300];
    const char *u = PUT("user", "bob\n");
    const char *p = PUT("pass", "pw\n");
    snprintf(v, sizeof v, "mongodb://${file:%s}:${file:%s}@db:27017/", u, p);
    check_value(v, "mongodb://bob:pw@db:27017/");
    /* a properties file given whole is its text, not a lookup */
    snprintf(ref, sizeof ref, "${file:%s}", PUT("whole.properties", "a=1\nb=2\n"));
    check_value(ref, "a=1\nb=2");
}

static void test_key_form(void) {
    const char *props = PUT("db.properties", "# comment\nuser = bob\npassword=s3cr3t\n");
    char ref[600];
    snprintf(ref, sizeof ref, "${file:%s:password}", props);
    check_value(ref, "s3cr3t");
    snprintf(ref, sizeof ref, "${file:%s:user}", props);
    check_value(ref, "bob");
    snprintf(ref, sizeof ref, "${file:%s:nope}", props);
    check_error(ref, "k: ", "key 'nope' not found", props);
    /* A path with a colon: the whole spec names a file -> whole-file form; else split at the last colon. */
    const char *colon = PUT("a:b", "whole\n");
    snprintf(ref, sizeof ref, "${file:%s}", colon);
    check_value(ref, "whole");
    PUT("c:d.properties", "k1=v1\n");
    snprintf(ref, sizeof ref, "${file:%s/c:d.properties:k1}", dir);
    check_value(ref, "v1");
}

static void test_dir_provider(void) {
    PUT("db-password", "dirpw\n");
    char ref[600];
    snprintf(ref, sizeof ref, "${dir:%s:db-password}", dir);
    check_value(ref, "dirpw");
    snprintf(ref, sizeof ref, "${dir:%s:missing}", dir);
    check_error(ref, "k: ", "missing", "No such file");
    snprintf(ref, sizeof ref, "${dir:%s:sub/x}", dir);
    check_error(ref, "k: ", "expected ${dir:/directory:file}", NULL);
    check_error("${dir:nocolon}", "k: ", "expected ${dir:", NULL);
}

static void test_errors(void) {
    char ref[600];
    snprintf(ref, sizeof ref, "${file:%s/db-password-missing}", dir);
    check_error(ref, "k: ", "db-password-missing", "No such file or directory");
    /* a directory is not a secret file */
    snprintf(ref, sizeof ref, "${file:%s}", dir);
    check_error(ref, "k: ", dir, "Is a directory");
    /* neither the whole spec nor the part before its last colon exists: both named */
    snprintf(ref, sizeof ref, "${file:%s/nofile:key}", dir);
    check_error(ref, "k: ", "nofile", "No such file");
    /* unreadable (root reads everything: only checked for other users) */
    if (geteuid() != 0) {
        const char *locked = PUT("locked", "pw\n");
        chmod(locked, 0);
        snprintf(ref, sizeof ref, "${file:%s}", locked);
        check_error(ref, "k: ", locked, "Permission denied");
    }
    /* the key is named for a .properties config too */
    char err[1024] = "", text[700];
    snprintf(text, sizeof text, "name=p\ndatabase.password=${file:%s/gone}\n", dir);
    CHECK(sl_config_parse_properties(text, "p.properties", err, sizeof err) == NULL);
    CHECK(strstr(err, "database.password: ") && strstr(err, "/gone"));
    /* other ${...} text is kept as it is */
    check_value("${unknown:x} and ${notaref}", "${unknown:x} and ${notaref}");
}

static void test_bootstrap_default(void) {
    sl_kafka_client kc = {0};
    sl_config *c = sl_config_parse_json("{\"name\":\"t\",\"config\":{}}", "t", NULL, 0);
    unsetenv(SL_KAFKA_BOOTSTRAP_ENV);
    sl_kafka_client_default(&kc, c, "connector=t");
    CHECK_STR(kc.bootstrap, "localhost:9092");
    CHECK_STR(sl_config_get(c, "bootstrap.servers"), "localhost:9092");
    sl_free(kc.bootstrap);
    kc.bootstrap = NULL;
    setenv(SL_KAFKA_BOOTSTRAP_ENV, "envhost:19092", 1);
    sl_kafka_client_default(&kc, c, "connector=t");
    CHECK_STR(kc.bootstrap, "envhost:19092");
    CHECK_STR(sl_config_get(c, "bootstrap.servers"), "envhost:19092");
    sl_free(kc.bootstrap);
    kc.bootstrap = NULL;
    sl_kafka_set_worker_bootstrap("worker:9092");
    sl_kafka_client_default(&kc, NULL, "connector=t"); /* the worker's wins over the environment */
    CHECK_STR(kc.bootstrap, "worker:9092");
    sl_kafka_set_worker_bootstrap(NULL);
    sl_kafka_client_default(&kc, NULL, "connector=t"); /* set: left alone */
    CHECK_STR(kc.bootstrap, "worker:9092");
    sl_free(kc.bootstrap);
    kc.bootstrap = NULL;
    setenv(SL_KAFKA_BOOTSTRAP_ENV, "", 1); /* empty counts as unset */
    sl_kafka_client_default(&kc, NULL, "connector=t");
    CHECK_STR(kc.bootstrap, "localhost:9092");
    sl_free(kc.bootstrap);
    unsetenv(SL_KAFKA_BOOTSTRAP_ENV);
    sl_config_destroy(c);
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_whole_file();
    test_key_form();
    test_dir_provider();
    test_errors();
    test_bootstrap_default();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx %s; rm -rf %s", dir, dir);
    CHECK(system(cmd) == 0);
    TEST_END();
}
