/*
 * test_config.c: the flared.yaml loader (src/flared/config*.c): every key read
 * to its value, the defaults when a key is absent, and every error message with
 * the exact "FILE:LINE:COLUMN:" of the node to blame. Paths are checked against
 * a scratch directory made per run; the shipped conf/flared.yaml is loaded too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* The one listener most tests need, on line 1. */
#define LISTEN "listeners: [{address: 127.0.0.1:8080}]\n"

static char scratch[PATH_MAX]; /* made by group_setup: www/, www/index.html, afile */
static char scratch_real[PATH_MAX];

#define CONFIG_HARNESS_DIR scratch
#include "config_harness.h"

static int write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(text, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    char path[PATH_MAX + 32];
    snprintf(scratch, sizeof scratch, "/tmp/flared-config-test-XXXXXX");
    if (!mkdtemp(scratch)) return -1;
    if (!realpath(scratch, scratch_real)) return -1;
    snprintf(path, sizeof path, "%s/www", scratch);
    if (mkdir(path, 0755) < 0) return -1;
    snprintf(path, sizeof path, "%s/www/index.html", scratch);
    if (write_file(path, "<p>hi</p>\n", 10) < 0) return -1;
    /* Symlinks to the file inside the root and to one outside it. */
    snprintf(path, sizeof path, "%s/www/in-link", scratch);
    if (symlink("index.html", path) < 0) return -1;
    snprintf(path, sizeof path, "%s/www/out-link", scratch);
    if (symlink("../afile", path) < 0) return -1;
    snprintf(path, sizeof path, "%s/www/out-dir", scratch);
    if (symlink("..", path) < 0) return -1;
    snprintf(path, sizeof path, "%s/afile", scratch);
    return write_file(path, "x", 1);
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

/* For messages that end in text from another layer (the net parser). */
static void expect_error_prefix(const char *yaml, const char *prefix)
{
    flare_error err;
    config_refused(yaml, strlen(yaml), &err);
    if (strncmp(err.message, prefix, strlen(prefix)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", err.message, prefix);
}

/* ------------------------------------------------------------ access log */

static void test_access_log_keys(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN);
    assert_null(cfg->access_log);
    assert_int_equal(cfg->timeouts.drain_delay_ms, 0);
    assert_int_equal(cfg->timeouts.worker_start_ms, 10000);
    assert_true(cfg->access_log_format.op_count > 5); /* the combined default */
    flared_config_free(cfg);
    cfg = load_ok(LISTEN "access_log: logs/a.log\naccess_log_format: '$status ${request_time_us}us "
                         "$http_x_id'\ntimeouts: {drain_delay: 3s, worker_start: 2s}\nroutes:\n"
                         "  - path: /s\n"
                         "    status: {}\n    access_log: off\n  - path: /h\n    health: {}\n");
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/logs/a.log", scratch_real);
    assert_string_equal(cfg->access_log, want);
    assert_int_equal(cfg->timeouts.drain_delay_ms, 3000);
    assert_int_equal(cfg->timeouts.worker_start_ms, 2000);
    const flared_log_format *f = &cfg->access_log_format;
    assert_int_equal(f->op_count, 5);
    assert_int_equal(f->ops[0].var, FLARED_LV_STATUS);
    assert_int_equal(f->ops[2].var, FLARED_LV_REQUEST_TIME_US);
    assert_int_equal(f->ops[4].var, FLARED_LV_HTTP);
    assert_int_equal(f->ops[4].len, 4);
    assert_memory_equal(f->ops[4].text, "x-id", 4);
    assert_false(cfg->default_host.routes[0].access_log);
    assert_true(cfg->default_host.routes[1].access_log);
    flared_config_free(cfg);
    cfg = load_ok(LISTEN "access_log: off\ntimeouts: {drain_delay: 0}\n");
    assert_null(cfg->access_log);
    flared_config_free(cfg);
    /* Zero is the default however it is written, not "out of range 1ms..24h". */
    static const char *const zeros[] = {"0s", "0ms", "0m", "00"};
    for (size_t i = 0; i < sizeof zeros / sizeof zeros[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, LISTEN "timeouts: {drain_delay: %s}\n", zeros[i]);
        cfg = load_ok(yaml);
        assert_int_equal(cfg->timeouts.drain_delay_ms, 0);
        flared_config_free(cfg);
    }
}

static void test_access_log_errors(void **state)
{
    (void)state;
    /* The column points at the '$' of the unknown variable (plain and quoted scalars). */
    expect_error(LISTEN "access_log_format: $status $nope x\n",
                 "t.yaml:2:28: access_log_format: unknown variable: '$nope'");
    expect_error(LISTEN "access_log_format: \"$status $bytes\"\n",
                 "t.yaml:2:29: access_log_format: unknown variable: '$bytes'");
    expect_error(LISTEN "access_log_format: 'a $ b'\n",
                 "t.yaml:2:23: access_log_format: '$' must be followed by a variable name "
                 "($status or ${status}): '$'");
    expect_error(LISTEN "access_log_format: 'x ${status'\n",
                 "t.yaml:2:23: access_log_format: '${' is missing its '}': '${status'");
    expect_error(LISTEN "access_log_format: [a]\n",
                 "t.yaml:2:20: access_log_format: expected a string, got a list");
    expect_error(LISTEN "routes:\n  - path: /a\n    text: {body: x}\n    access_log: maybe\n",
                 "t.yaml:5:17: access_log: a route takes on or off, got 'maybe'");
    expect_error(
        LISTEN "timeouts: {drain_delay: 5}\n",
        "t.yaml:2:25: drain_delay: duration '5' has no unit; add ms, s, m or h (e.g. 10s)");
    expect_error_prefix(LISTEN "timeouts: {worker_start: 0}\n", "t.yaml:2:26: worker_start: ");
}

/* ------------------------------------------------------------ top level */

static void test_defaults(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN);
    assert_string_equal(cfg->path, "t.yaml");
    assert_string_equal(cfg->dir, scratch_real);
    assert_int_equal(cfg->workers, 1);
    assert_false(cfg->workers_auto);
    assert_null(cfg->error_log);
    assert_int_equal(cfg->log_level, FLARED_LOG_INFO);
    assert_int_equal(cfg->limits.max_connections, 10000);
    assert_int_equal(cfg->limits.max_header_bytes, 8192);
    assert_int_equal(cfg->limits.max_headers, 100);
    assert_int_equal(cfg->limits.max_uri_bytes, 8192);
    assert_int_equal(cfg->limits.max_body_bytes, 10 * 1024 * 1024);
    assert_int_equal(cfg->limits.max_keepalive_requests, 10000);
    assert_int_equal(cfg->limits.max_connections_per_ip_ipv6_prefix, 64);
    assert_int_equal(cfg->timeouts.header_ms, 10000);
    assert_int_equal(cfg->timeouts.body_ms, 10000);
    assert_int_equal(cfg->timeouts.write_ms, 10000);
    assert_int_equal(cfg->timeouts.keepalive_ms, 65000);
    assert_int_equal(cfg->timeouts.linger_ms, 5000);
    assert_int_equal(cfg->timeouts.shutdown_ms, 10000);
    assert_int_equal(cfg->listener_count, 1);
    assert_int_equal(cfg->listeners[0].kind, FLARED_LISTENER_INET);
    assert_string_equal(cfg->listeners[0].address, "127.0.0.1:8080");
    assert_int_equal(cfg->listeners[0].addr.ip.family, AF_INET);
    assert_memory_equal(cfg->listeners[0].addr.ip.bytes, "\x7f\0\0\1", 4);
    assert_int_equal(cfg->listeners[0].addr.port, 8080);
    assert_false(cfg->listeners[0].reuseport);
    assert_int_equal(cfg->listeners[0].backlog, 4096);
    assert_int_equal(cfg->listeners[0].line, 1);
    assert_int_equal(cfg->listeners[0].column, 13);
    assert_int_equal(cfg->default_host.route_count, 0);
    assert_int_equal(cfg->default_host.name_count, 0);
    assert_int_equal(cfg->host_count, 0);
    flared_config_free(cfg);
}

static void test_workers(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "workers: 4\n");
    assert_int_equal(cfg->workers, 4);
    assert_false(cfg->workers_auto);
    flared_config_free(cfg);
    cfg = load_ok(LISTEN "workers: 1024\n");
    assert_int_equal(cfg->workers, 1024);
    flared_config_free(cfg);
    cfg = load_ok(LISTEN "workers: auto\n");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_true(cpus >= 1);
    assert_int_equal(cfg->workers, cpus > FLARED_WORKERS_MAX ? FLARED_WORKERS_MAX : cpus);
    assert_true(cfg->workers_auto);
    flared_config_free(cfg);
}

static void test_workers_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "workers: 0\n", "t.yaml:2:10: workers: '0' is out of range 1..1024");
    expect_error(LISTEN "workers: 1025\n", "t.yaml:2:10: workers: '1025' is out of range 1..1024");
    expect_error(LISTEN "workers: -1\n", "t.yaml:2:10: workers: '-1' is out of range 1..1024");
    expect_error(LISTEN "workers: lots\n",
                 "t.yaml:2:10: workers: expected an integer in 1..1024 or auto, got 'lots'");
    expect_error(LISTEN "workers: 2.5\n",
                 "t.yaml:2:10: workers: expected an integer in 1..1024 or auto, got '2.5'");
    expect_error(LISTEN "workers: [1]\n",
                 "t.yaml:2:10: workers: expected an integer in 1..1024 or auto, got a list");
    expect_error(LISTEN "workers:\n",
                 "t.yaml:2:9: workers: expected an integer in 1..1024 or auto, got nothing");
}

static void test_error_log(void **state)
{
    (void)state;
    char expected[PATH_MAX + 32];
    flared_config *cfg = load_ok(LISTEN "error_log: stderr\n");
    assert_null(cfg->error_log);
    flared_config_free(cfg);
    cfg = load_ok(LISTEN "error_log: logs/error.log\n");
    snprintf(expected, sizeof expected, "%s/logs/error.log", scratch_real);
    assert_string_equal(cfg->error_log, expected);
    flared_config_free(cfg);
    cfg = load_ok(LISTEN "error_log: /var/log/flared.log\n");
    assert_string_equal(cfg->error_log, "/var/log/flared.log");
    flared_config_free(cfg);
    expect_error(LISTEN "error_log:\n", "t.yaml:2:11: error_log: expected a string, got nothing");
    expect_error(LISTEN "error_log: \"\"\n", "t.yaml:2:12: error_log: must not be empty");
    expect_error(LISTEN "error_log: \"a\\0b\"\n", "t.yaml:2:12: error_log: contains a NUL byte");
}

static void test_log_level(void **state)
{
    (void)state;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char yaml[128];
    for (int i = 0; i < 4; i++) {
        snprintf(yaml, sizeof yaml, LISTEN "log_level: %s\n", names[i]);
        flared_config *cfg = load_ok(yaml);
        assert_int_equal(cfg->log_level, i);
        assert_string_equal(flared_log_level_name(cfg->log_level), names[i]);
        flared_config_free(cfg);
    }
    expect_error(LISTEN "log_level: verbose\n",
                 "t.yaml:2:12: log_level: expected error, warn, info or debug, got 'verbose'");
    expect_error(LISTEN "log_level: INFO\n",
                 "t.yaml:2:12: log_level: expected error, warn, info or debug, got 'INFO'");
}

static void test_server_header(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN);
    assert_string_equal(cfg->server_header, "flared");
    flared_config_free(cfg);
    cfg = load_ok(LISTEN "server_header: \"edge/2.1 (unix)\tx\"\n");
    assert_string_equal(cfg->server_header, "edge/2.1 (unix)\tx");
    flared_config_free(cfg);
    /* off, false and an empty string: no Server field at all. */
    static const char *const none[] = {"off", "false", "FALSE", "''", "\"\""};
    char yaml[128];
    for (size_t i = 0; i < FLARE_N_ELEMENTS(none); i++) {
        snprintf(yaml, sizeof yaml, LISTEN "server_header: %s\n", none[i]);
        cfg = load_ok(yaml);
        assert_null(cfg->server_header);
        flared_config_free(cfg);
    }
    /* "off" in quotes is off too: a Server field reading "off" is not what anyone wants. */
    cfg = load_ok(LISTEN "server_header: 'off'\n");
    assert_null(cfg->server_header);
    flared_config_free(cfg);
    char longest[400];
    int n = snprintf(longest, sizeof longest, LISTEN "server_header: %0256d\n", 7);
    assert_true(n > 0 && (size_t)n < sizeof longest);
    cfg = load_ok(longest);
    assert_int_equal(strlen(cfg->server_header), FLARED_SERVER_HEADER_MAX);
    flared_config_free(cfg);
}

static void test_server_header_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "server_header: \"a\\r\\nX-Injected: 1\"\n",
                 /* the value holds a line break: the mark is the scalar's start */
                 "t.yaml:2:16: server_header: control character 0x0d in 'a??X-Injected: 1'; a "
                 "field value holds visible ASCII, spaces and tabs (RFC 9110 §5.5)");
    expect_error(LISTEN "server_header: \"a\\0b\"\n",
                 "t.yaml:2:18: server_header: control character 0x00 in 'a?b'; a field value "
                 "holds visible ASCII, spaces and tabs (RFC 9110 §5.5)");
    expect_error(LISTEN "server_header: \"a\\x7fb\"\n",
                 "t.yaml:2:18: server_header: byte 0x7f in 'a?b' is not visible ASCII; write "
                 "the Server value in ASCII");
    expect_error(LISTEN "server_header: caf\xc3\xa9\n",
                 "t.yaml:2:19: server_header: byte 0xc3 in 'caf\xc3\xa9' is not visible ASCII; "
                 "write the Server value in ASCII");
    expect_error(LISTEN "server_header: ' flared'\n",
                 "t.yaml:2:17: server_header: ' flared' has whitespace at its start; a field "
                 "value starts and ends with a visible character (RFC 9110 §5.5)");
    expect_error(LISTEN "server_header: \"flared\\t\"\n",
                 "t.yaml:2:23: server_header: 'flared?' has whitespace at its end; a field value "
                 "starts and ends with a visible character (RFC 9110 §5.5)");
    char longer[400];
    int n = snprintf(longer, sizeof longer, LISTEN "server_header: %0257d\n", 7);
    assert_true(n > 0 && (size_t)n < sizeof longer);
    expect_error(longer, "t.yaml:2:16: server_header: 257 bytes; at most 256 are allowed");
    expect_error(LISTEN "server_header: true\n",
                 "t.yaml:2:16: server_header: true names no server; write the value to send "
                 "(the default is flared) or off");
    expect_error(LISTEN "server_header:\n",
                 "t.yaml:2:15: server_header: expected the Server field's value (e.g. flared) "
                 "or off, got nothing");
    expect_error(LISTEN "server_header: [flared]\n",
                 "t.yaml:2:16: server_header: expected the Server field's value (e.g. flared) "
                 "or off, got a list");
}

static void test_limits(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "limits:\n"
                                        "  max_connections: 5\n"
                                        "  max_header_bytes: 16k\n"
                                        "  max_headers: 50\n"
                                        "  max_uri_bytes: 2048\n"
                                        "  max_body_bytes: 1g\n"
                                        "  max_keepalive_requests: 7\n"
                                        "  max_connections_per_ip_ipv6_prefix: 48\n");
    assert_int_equal(cfg->limits.max_connections, 5);
    assert_int_equal(cfg->limits.max_header_bytes, 16384);
    assert_int_equal(cfg->limits.max_headers, 50);
    assert_int_equal(cfg->limits.max_uri_bytes, 2048);
    assert_int_equal(cfg->limits.max_body_bytes, 1024ull * 1024 * 1024);
    assert_int_equal(cfg->limits.max_keepalive_requests, 7);
    assert_int_equal(cfg->limits.max_connections_per_ip_ipv6_prefix, 48);
    flared_config_free(cfg);

    cfg = load_ok(LISTEN "limits: {max_headers: 10}\n");
    assert_int_equal(cfg->limits.max_headers, 10);
    assert_int_equal(cfg->limits.max_connections, 10000);
    assert_int_equal(cfg->limits.max_body_bytes, 10 * 1024 * 1024);
    flared_config_free(cfg);
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t bytes;
    } cases[] = {
        {"1", 1},           {"8192", 8192},     {"8k", 8192},
        {"8K", 8192},       {"10m", 10485760},  {"10M", 10485760},
        {"2g", 2ull << 30}, {"2G", 2ull << 30}, {"1024g", 1ull << 40},
    };
    char yaml[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(yaml, sizeof yaml, LISTEN "limits: {max_body_bytes: %s}\n", cases[i].text);
        flared_config *cfg = load_ok(yaml);
        assert_int_equal(cfg->limits.max_body_bytes, cases[i].bytes);
        flared_config_free(cfg);
    }
}

static void test_size_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "limits: {max_body_bytes: 8kb}\n",
                 "t.yaml:2:26: max_body_bytes: invalid size '8kb'; write bytes or a number with "
                 "k, m or g (e.g. 8k)");
    expect_error(LISTEN "limits: {max_body_bytes: k}\n",
                 "t.yaml:2:26: max_body_bytes: invalid size 'k'; write bytes or a number with k, "
                 "m or g (e.g. 8k)");
    expect_error(LISTEN "limits: {max_body_bytes: -1}\n",
                 "t.yaml:2:26: max_body_bytes: invalid size '-1'; write bytes or a number with "
                 "k, m or g (e.g. 8k)");
}

static void test_size_range_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "limits: {max_body_bytes: 0}\n",
                 "t.yaml:2:26: max_body_bytes: '0' is out of range 1..1024g");
    expect_error(LISTEN "limits: {max_body_bytes: 1025g}\n",
                 "t.yaml:2:26: max_body_bytes: '1025g' is out of range 1..1024g");
    expect_error(LISTEN "limits: {max_body_bytes: 99999999999999999999}\n",
                 "t.yaml:2:26: max_body_bytes: '99999999999999999999' is out of range 1..1024g");
    expect_error(LISTEN "limits: {max_body_bytes: 17179869184g}\n",
                 "t.yaml:2:26: max_body_bytes: '17179869184g' is out of range 1..1024g");
    expect_error(LISTEN "limits: {max_header_bytes: 17m}\n",
                 "t.yaml:2:28: max_header_bytes: '17m' is out of range 1..16m");
    expect_error(LISTEN "limits: {max_uri_bytes: {}}\n",
                 "t.yaml:2:25: max_uri_bytes: expected a size, got a mapping");
}

static void test_limit_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "limits: [1]\n", "t.yaml:2:9: limits: expected a mapping, got a list");
    expect_error(LISTEN "limits: {max_conn: 5}\n",
                 "t.yaml:2:10: unknown key 'max_conn' in limits; allowed: max_connections, "
                 "max_header_bytes, max_headers, max_uri_bytes, max_body_bytes, "
                 "max_keepalive_requests, max_connections_per_ip, rate_limit_entries, "
                 "max_connections_per_ip_ipv6_prefix");
    expect_error(LISTEN "limits: {max_connections: 0}\n",
                 "t.yaml:2:27: max_connections: '0' is out of range 1..1048576");
    expect_error(LISTEN "limits: {max_headers: 8k}\n",
                 "t.yaml:2:23: max_headers: expected an integer, got '8k'");
    expect_error(LISTEN "limits: {max_keepalive_requests: 1000000001}\n",
                 "t.yaml:2:34: max_keepalive_requests: '1000000001' is out of range "
                 "1..1000000000");
    expect_error(LISTEN "limits: {max_connections_per_ip_ipv6_prefix: 0}\n",
                 "t.yaml:2:46: max_connections_per_ip_ipv6_prefix: '0' is out of range 1..128");
}

static void test_timeouts(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "timeouts:\n"
                                        "  header: 500ms\n"
                                        "  body: 2s\n"
                                        "  write: 3m\n"
                                        "  keepalive: 1h\n"
                                        "  linger: 1ms\n"
                                        "  shutdown: 24h\n");
    assert_int_equal(cfg->timeouts.header_ms, 500);
    assert_int_equal(cfg->timeouts.body_ms, 2000);
    assert_int_equal(cfg->timeouts.write_ms, 180000);
    assert_int_equal(cfg->timeouts.keepalive_ms, 3600000);
    assert_int_equal(cfg->timeouts.linger_ms, 1);
    assert_int_equal(cfg->timeouts.shutdown_ms, 86400000);
    flared_config_free(cfg);
    cfg = load_ok(LISTEN "timeouts: {keepalive: 5s}\n");
    assert_int_equal(cfg->timeouts.keepalive_ms, 5000);
    assert_int_equal(cfg->timeouts.header_ms, 10000);
    flared_config_free(cfg);
}

static void test_duration_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "timeouts: {header: 10}\n",
                 "t.yaml:2:20: header: duration '10' has no unit; add ms, s, m or h (e.g. 10s)");
    expect_error(LISTEN "timeouts: {header: 10x}\n",
                 "t.yaml:2:20: header: invalid duration '10x'; write a number with ms, s, m or h "
                 "(e.g. 10s)");
    expect_error(LISTEN "timeouts: {body: 1.5s}\n",
                 "t.yaml:2:18: body: invalid duration '1.5s'; write a number with ms, s, m or h "
                 "(e.g. 10s)");
    expect_error(LISTEN "timeouts: {body: s}\n",
                 "t.yaml:2:18: body: invalid duration 's'; write a number with ms, s, m or h "
                 "(e.g. 10s)");
}

static void test_duration_range_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "timeouts: {write: 0s}\n",
                 "t.yaml:2:19: write: '0s' is out of range 1ms..24h");
    expect_error(LISTEN "timeouts: {linger: 25h}\n",
                 "t.yaml:2:20: linger: '25h' is out of range 1ms..24h");
    expect_error(LISTEN "timeouts: {shutdown: 86400001ms}\n",
                 "t.yaml:2:22: shutdown: '86400001ms' is out of range 1ms..24h");
    expect_error(LISTEN "timeouts: {keepalive: 99999999999999999999s}\n",
                 "t.yaml:2:23: keepalive: '99999999999999999999s' is out of range 1ms..24h");
    expect_error(LISTEN "timeouts: {idle: 5s}\n",
                 "t.yaml:2:12: unknown key 'idle' in timeouts; allowed: header, body, write, "
                 "keepalive, linger, shutdown, drain_delay, worker_start");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_error(LISTEN "port: 80\n",
                 "t.yaml:2:1: unknown key 'port' at the top level; allowed: workers, error_log, "
                 "log_level, limits, timeouts, listeners, routes, hosts, mime_types, user, group, "
                 "pid_file, trusted_proxies, access_log, access_log_format, upstreams, "
                 "headers, rate_limits, auth, server_header");
    expect_error(LISTEN "? [a, b]\n: 1\n",
                 "t.yaml:2:3: keys at the top level must be plain names, not a list");
}

static void test_unknown_key_suggestions(void **state)
{
    (void)state;
    expect_error("listeners: [{adress: 127.0.0.1:80}]\n",
                 "t.yaml:1:14: unknown key 'adress' in a listener; did you mean 'address'?");
    expect_error(LISTEN "listners: []\n",
                 "t.yaml:2:1: unknown key 'listners' at the top level; did you mean 'listeners'?");
    expect_error(LISTEN "timeouts: {keep_alive: 5s}\n",
                 "t.yaml:2:12: unknown key 'keep_alive' in timeouts; did you mean 'keepalive'?");
    expect_error(LISTEN "routes: [{path: /a, txt: {body: x}}]\n",
                 "t.yaml:2:21: unknown route type 'txt'; did you mean 'text'?");
    expect_error(LISTEN "routes: [{path: /a, static: {rot: www}}]\n",
                 "t.yaml:2:30: unknown key 'rot' in static; did you mean 'root'?");
    /* Short keys get one edit, not two: 'ab' is not taken for 'to'. */
    expect_error(
        LISTEN "routes: [{path: /a, redirect: {ab: /b}}]\n",
        "t.yaml:2:32: unknown key 'ab' in redirect; allowed: to, status, keep_path, keep_query");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    expect_error(LISTEN "workers: 2\nworkers: 3\n",
                 "t.yaml:3:1: duplicate key 'workers'; first set at line 2, column 1");
    expect_error(LISTEN "timeouts: {header: 1s, header: 2s}\n",
                 "t.yaml:2:24: duplicate key 'header'; first set at line 2, column 12");
    expect_error("listeners: [{address: 127.0.0.1:1, address: 127.0.0.1:2}]\n",
                 "t.yaml:1:36: duplicate key 'address'; first set at line 1, column 14");
    expect_error(LISTEN "routes: [{path: /a, path: /b, echo: {}}]\n",
                 "t.yaml:2:21: duplicate key 'path'; first set at line 2, column 11");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, echo: {raw: true}}]\n",
                 "t.yaml:2:31: duplicate key 'echo'; first set at line 2, column 21");
}

static void test_root_shapes(void **state)
{
    (void)state;
    expect_error("- a\n- b\n", "t.yaml:1:1: expected a mapping of settings at the top, got a list");
    expect_error("hello\n", "t.yaml:1:1: expected a mapping of settings at the top, got 'hello'");
    expect_error("", "t.yaml:1:1: no listeners; add a 'listeners' list, e.g. listeners: "
                     "[{address: 127.0.0.1:8080}]");
    expect_error("# only a comment\n", "t.yaml:1:1: no listeners; add a 'listeners' list, e.g. "
                                       "listeners: [{address: 127.0.0.1:8080}]");
    expect_error("\nworkers: 2\n", "t.yaml:2:1: no listeners; add a 'listeners' list, e.g. "
                                   "listeners: [{address: 127.0.0.1:8080}]");
}

/* ------------------------------------------------------------------ YAML */

static void test_yaml_syntax_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "workers: [1, 2\n",
                 "t.yaml:3:1: YAML syntax error: did not find expected ',' or ']' (while parsing "
                 "a flow sequence at line 2, column 10)");
    expect_error(LISTEN "limits:\n  max_headers: 5\n max_uri_bytes: 5\n",
                 "t.yaml:4:2: YAML syntax error: did not find expected key (while parsing a "
                 "block mapping at line 1, column 1)");
    expect_error(LISTEN "workers: \"4\n",
                 "t.yaml:3:1: YAML syntax error: found unexpected end of stream (while scanning "
                 "a quoted scalar at line 2, column 10)");
    expect_error(LISTEN "workers: 1\n\tlog_level: info\n",
                 "t.yaml:3:1: YAML syntax error: found a tab character that violates "
                 "indentation (while scanning a plain scalar at line 2, column 10)");
}

/* A file's bytes, NULs and all (a string literal: sizeof counts its final NUL). */
#define BYTES(literal) literal, sizeof literal - 1

static void test_yaml_bad_bytes(void **state)
{
    (void)state;
    static const char utf8_error[] = "invalid text: invalid leading UTF-8 octet";
    static const char surrogate_error[] = "invalid text: expected low surrogate area";
    /* libyaml gives these as a byte offset; the line and column are counted as libyaml
     * counts its own marks: CR alone ends a line too, CR LF is one line end, the byte
     * order mark is no character, and columns count characters. UTF-16 (with its byte
     * order mark): "w: 1\nx: " then a high surrogate, D800, followed by no low one;
     * libyaml points at the unit after it. */
    static const struct {
        const char *bytes;
        size_t len;
        const char *where, *message;
    } cases[] = {
        {BYTES(LISTEN "log_level: \xff\n"), "t.yaml:2:12: ", utf8_error},
        {BYTES("workers: 1\rlog_level: \xff\r"), "t.yaml:2:12: ", utf8_error},
        {BYTES("workers: 1\r\n\xc3\xa9: x\r\nlog_level: \xff\r\n"), "t.yaml:3:12: ", utf8_error},
        {BYTES("\xef\xbb\xbflog_level: \xff\n"), "t.yaml:1:12: ", utf8_error},
        {BYTES("x: \xc3\xa9\xc3\xa9\xff\n"), "t.yaml:1:6: ", utf8_error},
        {BYTES("\xff\xfew\0:\0 \0001\0\n\0x\0:\0 \0\0\xd8z\0\n\0"),
         "t.yaml:2:5: ", surrogate_error},
        {BYTES("\xfe\xff\0w\0:\0 \0001\0\n\0x\0:\0 \xd8\0\0z\0\n"),
         "t.yaml:2:5: ", surrogate_error},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char expected[128];
        snprintf(expected, sizeof expected, "%s%s", cases[i].where, cases[i].message);
        expect_error_len(cases[i].bytes, cases[i].len, expected);
    }
}

static void test_yaml_nul_byte(void **state)
{
    (void)state;
    static const char nul[] = LISTEN "workers: 1\0\n";
    expect_error_len(nul, sizeof nul - 1,
                     "t.yaml:2:11: invalid text: control characters are not allowed");
}

static void test_yaml_anchors(void **state)
{
    (void)state;
    expect_error(LISTEN "limits: &l {max_headers: 5}\n",
                 "t.yaml:2:9: YAML anchors and aliases are not supported (anchor 'l'); write the "
                 "value out in full");
    expect_error(LISTEN "workers: &w 4\n",
                 "t.yaml:2:10: YAML anchors and aliases are not supported (anchor 'w'); write the "
                 "value out in full");
    expect_error(LISTEN "hosts: &h []\n",
                 "t.yaml:2:8: YAML anchors and aliases are not supported (anchor 'h'); write the "
                 "value out in full");
}

static void test_yaml_aliases(void **state)
{
    (void)state;
    expect_error(LISTEN "workers: *w\n",
                 "t.yaml:2:10: YAML anchors and aliases are not supported (alias 'w'); write the "
                 "value out in full");
}

static void test_yaml_tags(void **state)
{
    (void)state;
    expect_error(LISTEN "workers: !!int 4\n", "t.yaml:2:10: YAML tags are not supported "
                                              "('tag:yaml.org,2002:int')");
    expect_error(LISTEN "error_log: !include x\n",
                 "t.yaml:2:12: YAML tags are not supported ('!include')");
    expect_error(LISTEN "limits: !!map {max_headers: 5}\n",
                 "t.yaml:2:9: YAML tags are not supported ('tag:yaml.org,2002:map')");
}

static void test_yaml_billion_laughs(void **state)
{
    (void)state;
    /* "Billion laughs": nine levels of aliases would expand to 10^9 nodes. */
    expect_error("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                 "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                 "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                 "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                 "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
                 "t.yaml:1:4: YAML anchors and aliases are not supported (anchor 'a'); write the "
                 "value out in full");
}

static void test_yaml_documents(void **state)
{
    (void)state;
    expect_error(LISTEN "---\nworkers: 2\n",
                 "t.yaml:2:1: a second YAML document; the config file holds one");
    flared_config *cfg = load_ok("---\n" LISTEN "...\n");
    assert_int_equal(cfg->listener_count, 1);
    flared_config_free(cfg);
}

static void test_yaml_depth(void **state)
{
    (void)state;
    char deep[256];
    size_t o = (size_t)snprintf(deep, sizeof deep, "workers: ");
    for (int i = 0; i < 40; i++)
        deep[o++] = '[';
    for (int i = 0; i < 40; i++)
        deep[o++] = ']';
    deep[o++] = '\n';
    deep[o] = '\0';
    /* Level 1 is the top mapping, so the 32nd '[' (column 41) is level 33. */
    expect_error(deep, "t.yaml:1:41: nesting deeper than 32 levels");
}

static void test_too_large(void **state)
{
    (void)state;
    size_t len = FLARED_CONFIG_MAX_BYTES + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '#', len);
    expect_error_len(big, len, "t.yaml: config is larger than 1048576 bytes");
    free(big);
}

/* ------------------------------------------------------------- listeners */

static void test_listeners(void **state)
{
    (void)state;
    flared_config *cfg = load_ok("listeners:\n"
                                 "  - address: \"[::1]:8443\"\n"
                                 "    reuseport: true\n"
                                 "    backlog: 128\n"
                                 "    defer_accept: true\n"
                                 "  - address: unix:/run/flared.sock\n"
                                 "  - address: 0.0.0.0:80\n"
                                 "    reuseport: false\n"
                                 "    backlog: 65535\n");
    assert_int_equal(cfg->listener_count, 3);
    const flared_listener *l = cfg->listeners;
    assert_int_equal(l[0].kind, FLARED_LISTENER_INET);
    assert_int_equal(l[0].addr.ip.family, AF_INET6);
    assert_memory_equal(l[0].addr.ip.bytes, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);
    assert_int_equal(l[0].addr.port, 8443);
    assert_true(l[0].reuseport);
    assert_int_equal(l[0].backlog, 128);
    assert_true(l[0].defer_accept);
    assert_int_equal(l[0].line, 2);
    assert_int_equal(l[0].column, 5);
    assert_int_equal(l[1].kind, FLARED_LISTENER_UNIX);
    assert_string_equal(l[1].unix_path, "/run/flared.sock");
    assert_string_equal(l[1].address, "unix:/run/flared.sock");
    assert_false(l[1].reuseport);
    assert_int_equal(l[1].backlog, 4096);
    assert_int_equal(l[2].addr.ip.family, AF_INET);
    assert_int_equal(l[2].addr.port, 80);
    assert_false(l[2].reuseport);
    assert_false(l[2].defer_accept);
    assert_int_equal(l[2].backlog, 65535);
    flared_config_free(cfg);
}

static void test_listener_shape_errors(void **state)
{
    (void)state;
    expect_error("workers: 2\n", "t.yaml:1:1: no listeners; add a 'listeners' list, e.g. "
                                 "listeners: [{address: 127.0.0.1:8080}]");
    expect_error("listeners: []\n", "t.yaml:1:12: listeners: at least one listener is required");
    expect_error("listeners: {address: 127.0.0.1:80}\n",
                 "t.yaml:1:12: listeners: expected a list, got a mapping");
    expect_error("listeners: [127.0.0.1:80]\n",
                 "t.yaml:1:13: listener: expected a mapping, got '127.0.0.1:80'");
    expect_error("listeners: [{backlog: 5}]\n",
                 "t.yaml:1:13: listener: missing required key 'address'");
    expect_error("listeners: [{address: 127.0.0.1:80, port: 80}]\n",
                 "t.yaml:1:37: unknown key 'port' in a listener; allowed: address, reuseport, "
                 "backlog, tls, proxy_protocol, defer_accept, https_redirect");
}

static void test_listener_https_redirect(void **state)
{
    (void)state;
    flared_config *cfg =
        load_ok("listeners:\n"
                "  - address: 127.0.0.1:80\n"
                "    https_redirect: true\n"
                "  - address: 127.0.0.1:81\n"
                "    https_redirect: {port: 8443, status: 308, except: [/a/, /b]}\n"
                "  - address: 127.0.0.1:82\n"
                "    https_redirect: {except: []}\n"
                "  - address: 127.0.0.1:83\n"
                "    https_redirect: false\n");
    const flared_listener *l = cfg->listeners;
    const flare_http_https_redirect *hr = l[0].https_redirect;
    assert_non_null(hr);
    assert_int_equal(hr->port, 443);
    assert_int_equal(hr->status, 301);
    assert_int_equal(hr->except_count, 1);
    assert_string_equal(hr->except[0], "/.well-known/acme-challenge/");
    hr = l[1].https_redirect;
    assert_int_equal(hr->port, 8443);
    assert_int_equal(hr->status, 308);
    assert_int_equal(hr->except_count, 2);
    assert_string_equal(hr->except[1], "/b");
    assert_int_equal(l[2].https_redirect->except_count, 0);
    assert_null(l[3].https_redirect);
    flared_config_free(cfg);
    expect_error("listeners: [{address: unix:/tmp/x.sock, https_redirect: true}]\n",
                 "t.yaml:1:57: https_redirect: only a clear-text IP listener can send its "
                 "visitors to HTTPS; remove it from this Unix socket listener");
    expect_error("listeners: [{address: 127.0.0.1:80, https_redirect: {status: 200}}]\n",
                 "t.yaml:1:62: status: '200' is not a redirect status; use 301, 302, 307 or 308 "
                 "(307 and 308 keep the method and body)");
    expect_error("listeners: [{address: 127.0.0.1:80, https_redirect: {except: [a b]}}]\n",
                 "t.yaml:1:63: except: 'a b' is not a path prefix; write one that starts with "
                 "'/', without spaces, '?' or '#', e.g. /.well-known/acme-challenge/");
    expect_error("listeners: [{address: 127.0.0.1:80, https_redirect: {except: /a/}}]\n",
                 "t.yaml:1:62: except: expected a list, got '/a/'");
    char many[1024];
    size_t at = (size_t)snprintf(many, sizeof many,
                                 "listeners: [{address: 127.0.0.1:80, https_redirect: {except: [");
    for (int i = 0; i <= 64; i++)
        at += (size_t)snprintf(many + at, sizeof many - at, "%s/%d/", i ? ", " : "", i);
    snprintf(many + at, sizeof many - at, "]}}]\n");
    expect_error(many, "t.yaml:1:62: except: 65 prefixes; at most 64 are allowed");
}

static void test_listener_address_errors(void **state)
{
    (void)state;
    expect_error_prefix("listeners: [{address: localhost:8080}]\n",
                        "t.yaml:1:23: address: invalid 'localhost:8080' (");
    expect_error_prefix("listeners: [{address: 127.0.0.1}]\n",
                        "t.yaml:1:23: address: invalid '127.0.0.1' (");
    expect_error_prefix("listeners: [{address: \"127.0.0.1:99999\"}]\n",
                        "t.yaml:1:23: address: invalid '127.0.0.1:99999' (");
    expect_error_prefix("listeners: [{address: \"::1:80\"}]\n",
                        "t.yaml:1:23: address: invalid '::1:80' (");
    expect_error("listeners: [{address: \"\"}]\n", "t.yaml:1:23: address: must not be empty");
    /* An IPv6-only socket cannot bind an IPv4-mapped address: the start would fail. */
    expect_error("listeners: [{address: \"[::ffff:127.0.0.1]:8080\"}]\n",
                 "t.yaml:1:23: address: '[::ffff:127.0.0.1]:8080' is an IPv4-mapped IPv6 address, "
                 "which an IPv6 listener cannot bind; write 127.0.0.1:8080");
    expect_error("listeners: [{address: \"[::ffff:0.0.0.0]:80\"}]\n",
                 "t.yaml:1:23: address: '[::ffff:0.0.0.0]:80' is an IPv4-mapped IPv6 address, "
                 "which an IPv6 listener cannot bind; write 0.0.0.0:80");
}

static void test_listener_unix_errors(void **state)
{
    (void)state;
    expect_error("listeners: [{address: unix:run/f.sock}]\n",
                 "t.yaml:1:23: address: the Unix socket path in 'unix:run/f.sock' must be "
                 "absolute");
    expect_error("listeners: [{address: \"unix:\"}]\n",
                 "t.yaml:1:23: address: the Unix socket path in 'unix:' must be absolute");
    /* bind(2) would fail at start: the directory must be there. */
    expect_error("listeners: [{address: unix:/nonexistent-flared-dir/f.sock}]\n",
                 "t.yaml:1:23: address: the directory '/nonexistent-flared-dir' of the Unix "
                 "socket: No such file or directory");
    expect_error("listeners: [{address: unix:/dev/null/f.sock}]\n",
                 "t.yaml:1:23: address: the directory '/dev/null' of the Unix socket: Not a "
                 "directory");
    /* Only a stale socket is replaced at the start: over a file or a directory, bind(2)
     * would fail with EADDRINUSE. */
    expect_error("listeners: [{address: unix:/dev/null}]\n",
                 "t.yaml:1:23: address: '/dev/null' exists and is not a socket; flared only "
                 "replaces a socket there: name a new file");
    expect_error("listeners: [{address: unix:/tmp/}]\n",
                 "t.yaml:1:23: address: '/tmp/' exists and is not a socket; flared only replaces "
                 "a socket there: name a new file");

    /* sun_path holds 108 bytes with the NUL: 107 fit, 108 do not. */
    char yaml[512], path[128];
    memset(path, 'a', sizeof path);
    path[0] = '/';
    path[107] = '\0';
    snprintf(yaml, sizeof yaml, "listeners: [{address: unix:%s}]\n", path);
    flared_config *cfg = load_ok(yaml);
    assert_int_equal(strlen(cfg->listeners[0].unix_path), 107);
    flared_config_free(cfg);
    path[107] = 'a';
    path[108] = '\0';
    snprintf(yaml, sizeof yaml, "listeners: [{address: unix:%s}]\n", path);
    expect_error(yaml, "t.yaml:1:23: address: the Unix socket path is 108 bytes; the limit is 107");
}

static void test_listener_duplicates(void **state)
{
    (void)state;
    expect_error("listeners:\n"
                 "  - address: 127.0.0.1:8080\n"
                 "  - address: \"[::1]:8080\"\n"
                 "  - address: 127.0.0.1:8080\n",
                 "t.yaml:4:14: address: '127.0.0.1:8080' is already used at line 2, column 14");
    expect_error("listeners:\n"
                 "  - address: \"[::1]:80\"\n"
                 "  - address: \"[0:0::1]:80\"\n",
                 "t.yaml:3:14: address: '[0:0::1]:80' is already used at line 2, column 14");
    /* A scope names an interface only for a link-local address: the kernel binds ::1 alike. */
    expect_error("listeners:\n"
                 "  - address: \"[::1]:80\"\n"
                 "  - address: \"[::1%lo]:80\"\n",
                 "t.yaml:3:14: address: '[::1%lo]:80' is already used at line 2, column 14");
    expect_error("listeners:\n"
                 "  - address: unix:/run/a.sock\n"
                 "  - address: unix:/run/a.sock\n",
                 "t.yaml:3:14: address: 'unix:/run/a.sock' is already used at line 2, column 14");
    /* One socket file, spelled twice: the second bind would find the first listening. */
    expect_error(
        "listeners:\n"
        "  - address: unix:/tmp/a.sock\n"
        "  - address: unix:/tmp//./a.sock\n",
        "t.yaml:3:14: address: 'unix:/tmp//./a.sock' is already used at line 2, column 14");
    /* A wildcard holds its port on every address of its family. */
    expect_error("listeners:\n"
                 "  - address: 0.0.0.0:8080\n"
                 "  - address: 127.0.0.1:8080\n",
                 "t.yaml:3:14: address: '127.0.0.1:8080' overlaps '0.0.0.0:8080' at line 2, "
                 "column 14: a wildcard address holds the port on every address; listen on one "
                 "of them, or set reuseport on both");
    expect_error("listeners:\n"
                 "  - address: \"[::1]:8080\"\n"
                 "  - address: \"[::]:8080\"\n"
                 "    reuseport: true\n",
                 "t.yaml:3:14: address: '[::]:8080' overlaps '[::1]:8080' at line 2, column 14: a "
                 "wildcard address holds the port on every address; listen on one of them, or set "
                 "reuseport on both");
    flared_config *both = load_ok("listeners:\n"
                                  "  - {address: 0.0.0.0:8080, reuseport: true}\n"
                                  "  - {address: 127.0.0.1:8080, reuseport: true}\n"
                                  "  - address: \"[::]:8080\"\n"
                                  "  - address: 0.0.0.0:8081\n");
    assert_int_equal(both->listener_count, 4);
    flared_config_free(both);
    /* Port 0 means "any free port", so two of them never collide. */
    flared_config *cfg = load_ok("listeners:\n"
                                 "  - address: 127.0.0.1:0\n"
                                 "  - address: 127.0.0.1:0\n"
                                 "  - address: 127.0.0.1:8080\n"
                                 "  - address: 127.0.0.2:8080\n");
    assert_int_equal(cfg->listener_count, 4);
    assert_int_equal(cfg->listeners[0].addr.port, 0);
    flared_config_free(cfg);
}

static void test_listener_option_errors(void **state)
{
    (void)state;
    /* 1024 workers: four reuseport listeners are 4096 sockets, the limit; a fifth is over. */
    expect_error("workers: 1024\n"
                 "listeners:\n"
                 "  - {address: 127.0.0.1:1, reuseport: true}\n"
                 "  - {address: 127.0.0.1:2, reuseport: true}\n"
                 "  - {address: 127.0.0.1:3, reuseport: true}\n"
                 "  - {address: 127.0.0.1:4, reuseport: true}\n"
                 "  - {address: 127.0.0.1:5}\n",
                 "t.yaml:7:15: listeners: this one makes 4097 listening sockets (a reuseport "
                 "listener has one per worker, 1024 workers); the limit is 4096");
    expect_error("listeners: [{address: unix:/tmp/f.sock, reuseport: true}]\n",
                 "t.yaml:1:52: reuseport: only IP listeners can share a port; remove it here");
    expect_error("listeners: [{address: 127.0.0.1:80, reuseport: yes}]\n",
                 "t.yaml:1:48: reuseport: expected true or false, got 'yes'");
    expect_error("listeners: [{address: 127.0.0.1:80, backlog: 0}]\n",
                 "t.yaml:1:46: backlog: '0' is out of range 1..65535");
    expect_error("listeners: [{address: 127.0.0.1:80, backlog: 65536}]\n",
                 "t.yaml:1:46: backlog: '65536' is out of range 1..65535");
    flared_config *cfg = load_ok("listeners: [{address: 127.0.0.1:80, reuseport: True}]\n");
    assert_true(cfg->listeners[0].reuseport);
    flared_config_free(cfg);
}

/* ---------------------------------------------------------------- routes */

static void test_text_route(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "routes:\n"
                                        "  - path: /plaintext\n"
                                        "    text: {body: \"Hello, World!\"}\n"
                                        "  - path: /teapot\n"
                                        "    text:\n"
                                        "      body: short and stout\n"
                                        "      content_type: text/html\n"
                                        "      status: 418\n"
                                        "  - path: /bin\n"
                                        "    text: {body: \"a\\0b\", status: 200}\n");
    assert_int_equal(cfg->default_host.route_count, 3);
    const flared_route *r = cfg->default_host.routes;
    assert_string_equal(r[0].path, "/plaintext");
    assert_false(r[0].is_prefix);
    assert_int_equal(r[0].type, FLARED_ROUTE_TEXT);
    assert_string_equal(r[0].u.text.body, "Hello, World!");
    assert_int_equal(r[0].u.text.body_len, 13);
    assert_string_equal(r[0].u.text.content_type, "text/plain; charset=utf-8");
    assert_int_equal(r[0].u.text.status, 200);
    assert_int_equal(r[0].line, 3);
    assert_int_equal(r[0].column, 5);
    assert_string_equal(r[1].u.text.body, "short and stout");
    assert_string_equal(r[1].u.text.content_type, "text/html");
    assert_int_equal(r[1].u.text.status, 418);
    assert_int_equal(r[2].u.text.body_len, 3);
    assert_memory_equal(r[2].u.text.body, "a\0b", 3);
    flared_config_free(cfg);
}

static void test_text_route_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "routes:\n  - path: /a\n    text: {content_type: text/html}\n",
                 "t.yaml:4:11: text: missing required key 'body'");
    expect_error(LISTEN "routes:\n  - path: /a\n    text: hello\n",
                 "t.yaml:4:11: text: expected a mapping, got 'hello'");
}

static void test_text_status(void **state)
{
    (void)state;
    expect_error(LISTEN "routes:\n  - path: /a\n    text: {body: x, status: 199}\n",
                 "t.yaml:4:29: status: '199' is out of range 200..599");
    expect_error(LISTEN "routes:\n  - path: /a\n    text: {body: x, status: 204}\n",
                 "t.yaml:4:29: status: 204 responses cannot have a body");
    expect_error(LISTEN "routes:\n  - path: /a\n    text: {body: x, status: 205}\n",
                 "t.yaml:4:29: status: 205 responses cannot have a body");
    flared_config *cfg =
        load_ok(LISTEN "routes:\n  - path: /a\n    text: {body: \"\", status: 204}\n");
    assert_int_equal(cfg->default_host.routes[0].u.text.status, 204);
    assert_int_equal(cfg->default_host.routes[0].u.text.body_len, 0);
    flared_config_free(cfg);
    expect_error(LISTEN "routes:\n  - path: /a\n    text: {body: x, status: 600}\n",
                 "t.yaml:4:29: status: '600' is out of range 200..599");
}

static void test_text_route_key_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "routes:\n  - path: /a\n    text: {body: x, type: html}\n",
                 "t.yaml:4:21: unknown key 'type' in text; allowed: body, content_type, status");
#define NOT_MEDIA_TYPE                                                                             \
    "content_type: not a media type like text/plain or \"text/html; charset=utf-8\" "              \
    "(type/subtype, then only ; name=value parameters, no control characters)"
    expect_error(LISTEN "routes:\n  - path: /a\n    text: {body: x, content_type: \"a\\nb\"}\n",
                 "t.yaml:4:35: " NOT_MEDIA_TYPE);
    /* Sent on every answer of the route: anything but type/subtype and parameters
     * would be a malformed Content-Type (RFC 9110 §8.3.1). */
    static const char *const bad[] = {"text",
                                      "text/html foo",
                                      "text/html,text/plain",
                                      "text/html; charset",
                                      "text/html; charset=\\\"utf-8",
                                      "text/ html",
                                      " text/html"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml,
                 LISTEN "routes:\n  - path: /a\n    text: {body: x, content_type: \"%s\"}\n",
                 bad[i]);
        expect_error(yaml, "t.yaml:4:35: " NOT_MEDIA_TYPE);
    }
#undef NOT_MEDIA_TYPE
    flared_config *cfg = load_ok(LISTEN "routes:\n  - path: /a\n    text: {body: x, "
                                        "content_type: \"text/html; charset=\\\"utf-8\\\"\"}\n");
    assert_string_equal(cfg->default_host.routes[0].u.text.content_type,
                        "text/html; charset=\"utf-8\"");
    flared_config_free(cfg);
}

static void test_redirect_route(void **state)
{
    (void)state;
    flared_config *cfg =
        load_ok(LISTEN "routes:\n"
                       "  - path: /old\n"
                       "    redirect: {to: /new}\n"
                       "  - path: /gone/\n"
                       "    redirect: {to: \"https://example.com/x?y=1\", status: 308}\n");
    const flared_route *r = cfg->default_host.routes;
    assert_int_equal(r[0].type, FLARED_ROUTE_REDIRECT);
    assert_string_equal(r[0].u.redirect.to, "/new");
    assert_int_equal(r[0].u.redirect.status, 302);
    assert_true(r[1].is_prefix);
    assert_string_equal(r[1].u.redirect.to, "https://example.com/x?y=1");
    assert_int_equal(r[1].u.redirect.status, 308);
    flared_config_free(cfg);
    static const int ok[] = {301, 302, 303, 307, 308};
    char yaml[256];
    for (size_t i = 0; i < 5; i++) {
        snprintf(yaml, sizeof yaml, LISTEN "routes: [{path: /a, redirect: {to: /b, status: %d}}]\n",
                 ok[i]);
        cfg = load_ok(yaml);
        assert_int_equal(cfg->default_host.routes[0].u.redirect.status, ok[i]);
        flared_config_free(cfg);
    }
}

static void test_redirect_route_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "routes: [{path: /a, redirect: {to: /b, status: 300}}]\n",
                 "t.yaml:2:48: status: a redirect is 301, 302, 303, 307 or 308, not 300");
    expect_error(LISTEN "routes: [{path: /a, redirect: {to: /b, status: 200}}]\n",
                 "t.yaml:2:48: status: a redirect is 301, 302, 303, 307 or 308, not 200");
    expect_error(LISTEN "routes: [{path: /a, redirect: {status: 301}}]\n",
                 "t.yaml:2:31: redirect: missing required key 'to'");
    expect_error(LISTEN "routes: [{path: /a, redirect: {to: \"/b c\"}}]\n",
                 "t.yaml:2:36: to: spaces, control and non-ASCII characters must be "
                 "percent-encoded");
    expect_error(LISTEN "routes: [{path: /a, redirect: {to: /b, keep_path: true}}]\n",
                 "t.yaml:2:51: keep_path: only a prefix route (a path ending in '/') has a rest "
                 "of the path to keep");
    expect_error(LISTEN "routes: [{path: /a/, redirect: {to: /b?x, keep_path: true}}]\n",
                 "t.yaml:2:37: to: with keep_path, no query or fragment");
    expect_error(LISTEN "routes: [{path: /a, redirect: {to: /b#top, keep_query: true}}]\n",
                 "t.yaml:2:36: to: with keep_query, no fragment");
    expect_error(LISTEN "routes: [{path: /a/, redirect: {to: /b, keep_query: 3}}]\n",
                 "t.yaml:2:53: keep_query: expected true or false, got '3'");
    expect_error(LISTEN "routes: [{path: /a, redirect: {to: \"/b\\r\\nSet-Cookie: x\"}}]\n",
                 "t.yaml:2:36: to: spaces, control and non-ASCII characters must be "
                 "percent-encoded");
}

static void test_echo_status_health_routes(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "routes:\n"
                                        "  - {path: /echo, echo: {}}\n"
                                        "  - {path: /raw, echo: {raw: true}}\n"
                                        "  - path: /bare\n"
                                        "    echo:\n"
                                        "  - {path: /status, status: {}}\n"
                                        "  - {path: /health, health: {}}\n");
    const flared_route *r = cfg->default_host.routes;
    assert_int_equal(cfg->default_host.route_count, 5);
    assert_int_equal(r[0].type, FLARED_ROUTE_ECHO);
    assert_false(r[0].u.echo.raw);
    assert_true(r[1].u.echo.raw);
    assert_int_equal(r[2].type, FLARED_ROUTE_ECHO);
    assert_false(r[2].u.echo.raw);
    assert_int_equal(r[3].type, FLARED_ROUTE_STATUS);
    assert_int_equal(r[4].type, FLARED_ROUTE_HEALTH);
    assert_string_equal(flared_route_type_name(r[3].type), "status");
    assert_string_equal(flared_route_type_name(FLARED_ROUTE_STATIC), "static");
    flared_config_free(cfg);
    expect_error(LISTEN "routes: [{path: /h, health: {deep: true}}]\n",
                 "t.yaml:2:30: unknown key 'deep' in health; allowed: none");
    expect_error(LISTEN "routes: [{path: /e, echo: {raw: 1}}]\n",
                 "t.yaml:2:33: raw: expected true or false, got '1'");
}

static void test_static_route(void **state)
{
    (void)state;
    char root[PATH_MAX + 8];
    snprintf(root, sizeof root, "%s/www", scratch_real);
    flared_config *cfg =
        load_ok(LISTEN "routes:\n"
                       "  - path: /\n"
                       "    static: {root: www}\n"
                       "  - path: /files/\n"
                       "    static: {root: ./www/, index: [index.htm, default.html]}\n"
                       "  - path: /bare/\n"
                       "    static: {root: www, index: []}\n");
    const flared_route *r = cfg->default_host.routes;
    assert_int_equal(r[0].type, FLARED_ROUTE_STATIC);
    assert_true(r[0].is_prefix);
    assert_string_equal(r[0].u.static_files.root, root);
    assert_int_equal(r[0].u.static_files.index_count, 1);
    assert_string_equal(r[0].u.static_files.index[0], "index.html");
    assert_string_equal(r[1].u.static_files.root, root);
    assert_int_equal(r[1].u.static_files.index_count, 2);
    assert_string_equal(r[1].u.static_files.index[0], "index.htm");
    assert_string_equal(r[1].u.static_files.index[1], "default.html");
    assert_int_equal(r[2].u.static_files.index_count, 0);
    flared_config_free(cfg);

    char yaml[PATH_MAX + 128];
    snprintf(yaml, sizeof yaml, LISTEN "routes: [{path: /, static: {root: %s/www}}]\n", scratch);
    cfg = load_ok(yaml);
    assert_string_equal(cfg->default_host.routes[0].u.static_files.root, root);
    flared_config_free(cfg);
}

/* fallback and not_found name files beneath root, stored without the leading '/'. */
static void cfg_ok_fallback(void)
{
    flared_config *cfg =
        load_ok(LISTEN "routes: [{path: /, static: {root: www, fallback: /index.html, not_found: "
                       "index.html}}]\n");
    const flared_static_route *st = &cfg->default_host.routes[0].u.static_files;
    assert_string_equal(st->fallback, "index.html");
    assert_string_equal(st->not_found, "index.html");
    flared_config_free(cfg);
}

static void test_static_route_errors(void **state)
{
    (void)state;
    char expected[PATH_MAX + 128];
    snprintf(expected, sizeof expected,
             "t.yaml:2:35: root: directory '%s/nope': No such file or directory", scratch_real);
    expect_error(LISTEN "routes: [{path: /, static: {root: nope}}]\n", expected);
    snprintf(expected, sizeof expected, "t.yaml:2:35: root: '%s/afile' is not a directory",
             scratch_real);
    expect_error(LISTEN "routes: [{path: /, static: {root: afile}}]\n", expected);
    expect_error(LISTEN "routes: [{path: /, static: {index: [a.html]}}]\n",
                 "t.yaml:2:28: static: missing required key 'root'");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, index: [../x.html]}}]\n",
                 "t.yaml:2:48: index: '../x.html' must be a file name without '/'");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, index: [..]}}]\n",
                 "t.yaml:2:48: index: '..' must be a file name without '/'");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, index: index.html}}]\n",
                 "t.yaml:2:47: index: expected a list, got 'index.html'");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, gzip: maybe}}]\n",
                 "t.yaml:2:46: gzip: expected true, false or a mapping of level, min_size and "
                 "types, got 'maybe'");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, fallback: ../afile}}]\n",
                 "t.yaml:2:50: fallback: '../afile' must name a file beneath root, without "
                 "empty, '.' or '..' segments");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, not_found: \"a//b\"}}]\n",
                 "t.yaml:2:51: not_found: 'a//b' must name a file beneath root, without "
                 "empty, '.' or '..' segments");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, fallback: /}}]\n",
                 "t.yaml:2:50: fallback: '' must name a file beneath root, without "
                 "empty, '.' or '..' segments");
    snprintf(expected, sizeof expected,
             "t.yaml:2:51: not_found: '404.html' is not a regular file in %s/www", scratch_real);
    expect_error(LISTEN "routes: [{path: /, static: {root: www, not_found: 404.html}}]\n",
                 expected);
    /* Checked as it is served: no symlink without follow_symlinks, at the end or on the
     * way, and none out of the root with it. */
    expect_error(LISTEN "routes: [{path: /, static: {root: www, fallback: in-link}}]\n",
                 "t.yaml:2:50: fallback: 'in-link' goes through a symlink; set "
                 "follow_symlinks: true");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, fallback: out-dir/afile}}]\n",
                 "t.yaml:2:50: fallback: 'out-dir/afile' goes through a symlink; set "
                 "follow_symlinks: true");
    snprintf(expected, sizeof expected,
             "t.yaml:2:74: not_found: 'out-link' is a symlink that leads out of %s/www",
             scratch_real);
    expect_error(LISTEN "routes: [{path: /, static: {root: www, follow_symlinks: true, "
                        "not_found: out-link}}]\n",
                 expected);
    snprintf(expected, sizeof expected,
             "t.yaml:2:73: fallback: 'out-dir/afile' is a symlink that leads out of %s/www",
             scratch_real);
    expect_error(LISTEN "routes: [{path: /, static: {root: www, follow_symlinks: true, "
                        "fallback: out-dir/afile}}]\n",
                 expected);
    flared_config_free(load_ok(LISTEN
                               "routes: [{path: /, static: {root: www, follow_symlinks: true, "
                               "fallback: in-link}}]\n"));
    cfg_ok_fallback();
}

static void test_route_shape_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "routes: {path: /a}\n",
                 "t.yaml:2:9: routes: expected a list, got a mapping");
    expect_error(LISTEN "routes:\n  - /a\n", "t.yaml:3:5: route: expected a mapping, got '/a'");
    expect_error(LISTEN "routes:\n  - path: /a\n",
                 "t.yaml:3:5: route has no type; add one of: text, redirect, echo, static, "
                 "status, health, websocket, proxy");
    expect_error(LISTEN "routes:\n  - path: /a\n    text: {body: x}\n    echo: {}\n",
                 "t.yaml:5:5: route has two types, 'text' and 'echo'; use exactly one");
    expect_error(LISTEN "routes:\n  - echo: {}\n    path: /a\n    text: {body: x}\n",
                 "t.yaml:5:5: route has two types, 'echo' and 'text'; use exactly one");
    expect_error(LISTEN "routes:\n  - text: {body: x}\n",
                 "t.yaml:3:5: route: missing required key 'path'");
    expect_error(
        LISTEN "routes:\n  - path: /a\n    cache: yes\n",
        "t.yaml:4:5: unknown key 'cache' in a route; allowed: path, methods, headers, "
        "max_body_bytes, allow, access_log, rate_limit, auth, client_cert, text, redirect, "
        "echo, static, status, health, websocket, proxy");
    expect_error(LISTEN "routes:\n  - path: /a\n    max_header_bytes: 1k\n    echo: {}\n",
                 "t.yaml:4:5: unknown key 'max_header_bytes' in a route; allowed: path, methods, "
                 "headers, max_body_bytes, allow, access_log, rate_limit, auth, client_cert, "
                 "text, redirect, echo, static, status, health, websocket, proxy");
}

static void test_unknown_route_types(void **state)
{
    (void)state;
    expect_error(LISTEN "routes:\n  - path: /api/\n    fastcgi: {to: \"127.0.0.1:9000\"}\n",
                 "t.yaml:4:5: unknown route type 'fastcgi'; supported: text, redirect, echo, "
                 "static, status, health, websocket, proxy");
    expect_error(LISTEN "routes:\n  - path: /api/\n    fastcgi:\n",
                 "t.yaml:4:5: unknown route type 'fastcgi'; supported: text, redirect, echo, "
                 "static, status, health, websocket, proxy");
}

static void test_route_paths(void **state)
{
    (void)state;
    flared_config *cfg =
        load_ok(LISTEN "routes:\n"
                       "  - {path: /a, echo: {}}\n"
                       "  - {path: /a/, echo: {}}\n"
                       "  - {path: /, echo: {}}\n"
                       "  - {path: \"/caf%C3%A9/x-y_z~!$&'()*+,;=:@.txt\", echo: {}}\n");
    const flared_route *r = cfg->default_host.routes;
    assert_int_equal(cfg->default_host.route_count, 4);
    assert_string_equal(r[0].path, "/a");
    assert_false(r[0].is_prefix);
    assert_string_equal(r[1].path, "/a/");
    assert_true(r[1].is_prefix);
    assert_true(r[2].is_prefix);
    assert_false(r[3].is_prefix);
    assert_true(r[0].any_method);
    assert_int_equal(r[0].method_mask, 0);
    assert_int_equal(r[0].header_count, 0);
    flared_config_free(cfg);
}

static void test_route_path_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "routes: [{path: a, echo: {}}]\n",
                 "t.yaml:2:17: path: 'a' must start with '/'");
    expect_error(LISTEN "routes: [{path: [/a], echo: {}}]\n",
                 "t.yaml:2:17: path: expected a string, got a list");
    expect_error(LISTEN "routes: [{path: /a/../b, echo: {}}]\n",
                 "t.yaml:2:17: path: '/a/../b' has an empty, '.' or '..' segment and could "
                 "never match");
    expect_error(LISTEN "routes: [{path: /a//b, echo: {}}]\n",
                 "t.yaml:2:17: path: '/a//b' has an empty, '.' or '..' segment and could never "
                 "match");
    expect_error(LISTEN "routes: [{path: /a/., echo: {}}]\n",
                 "t.yaml:2:17: path: '/a/.' has an empty, '.' or '..' segment and could never "
                 "match");
}

static void test_route_path_char_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "routes: [{path: \"/a?x=1\", echo: {}}]\n",
                 "t.yaml:2:17: path: '/a?x=1' has a query or fragment; routes match the path "
                 "only");
    expect_error(LISTEN "routes: [{path: \"/a b\", echo: {}}]\n",
                 "t.yaml:2:17: path: '/a b' has a character a URL path cannot hold at byte 3; "
                 "percent-encode it");
    expect_error(LISTEN "routes: [{path: /100%, echo: {}}]\n",
                 "t.yaml:2:17: path: '/100%' has a character a URL path cannot hold at byte 5; "
                 "percent-encode it");
    expect_error(LISTEN "routes: [{path: /caf\xc3\xa9, echo: {}}]\n",
                 "t.yaml:2:17: path: '/caf\xc3\xa9' has a character a URL path cannot hold at "
                 "byte 5; percent-encode it");
}

static void test_duplicate_routes(void **state)
{
    (void)state;
    expect_error(LISTEN "routes:\n"
                        "  - {path: /a, echo: {}}\n"
                        "  - {path: /b, echo: {}}\n"
                        "  - {path: /a, text: {body: x}}\n",
                 "t.yaml:5:12: path: duplicate route for '/a' in this host; first at line 3, "
                 "column 12");
    expect_error(LISTEN "routes:\n"
                        "  - {path: /x/, echo: {}}\n"
                        "  - {path: /y/, echo: {}}\n"
                        "  - {path: /y/, echo: {}}\n"
                        "  - {path: /x/, echo: {}}\n",
                 "t.yaml:5:12: path: duplicate route for '/y/' in this host; first at line 4, "
                 "column 12");
    /* Paths the router takes for one (RFC 3986 §6.2.2) are one route. */
    expect_error(LISTEN "routes:\n"
                        "  - {path: /caf%C3%A9/, echo: {}}\n"
                        "  - {path: /caf%c3%a9/, echo: {}}\n",
                 "t.yaml:4:12: path: duplicate route for '/caf%C3%A9/' in this host; first at "
                 "line 3, column 12");
    expect_error(LISTEN "routes:\n  - {path: /a/%2E%2e/b, echo: {}}\n",
                 "t.yaml:3:12: path: '/a/%2E%2e/b' has an empty, '.' or '..' segment and could "
                 "never match");
    expect_error(LISTEN "routes:\n"
                        "  - {path: /admin, echo: {}}\n"
                        "  - {path: /%61dmin, echo: {}}\n",
                 "t.yaml:4:12: path: duplicate route for '/admin' in this host; first at line 3, "
                 "column 12");
}

static void test_methods(void **state)
{
    (void)state;
    flared_config *cfg =
        load_ok(LISTEN "routes: [{path: /a, echo: {}, methods: [GET, HEAD, PROPFIND, PATCH, "
                       "M-SEARCH]}]\n");
    const flared_route *r = cfg->default_host.routes;
    assert_false(r[0].any_method);
    assert_int_equal(r[0].method_mask,
                     FLARED_METHOD_GET | FLARED_METHOD_HEAD | FLARED_METHOD_PATCH);
    assert_int_equal(r[0].other_method_count, 2);
    assert_string_equal(r[0].other_methods[0], "PROPFIND");
    assert_string_equal(r[0].other_methods[1], "M-SEARCH");
    flared_config_free(cfg);
    cfg = load_ok(LISTEN "routes: [{path: /a, echo: {}, methods: [POST, PUT, DELETE, CONNECT, "
                         "OPTIONS, TRACE]}]\n");
    assert_int_equal(cfg->default_host.routes[0].method_mask,
                     FLARED_METHOD_POST | FLARED_METHOD_PUT | FLARED_METHOD_DELETE |
                         FLARED_METHOD_CONNECT | FLARED_METHOD_OPTIONS | FLARED_METHOD_TRACE);
    assert_int_equal(cfg->default_host.routes[0].other_method_count, 0);
    flared_config_free(cfg);
    assert_int_equal(flared_method_bit("GET", 3), FLARED_METHOD_GET);
    assert_int_equal(flared_method_bit("PATCH", 5), FLARED_METHOD_PATCH);
    assert_int_equal(flared_method_bit("get", 3), 0);
    assert_int_equal(flared_method_bit("GETX", 3), FLARED_METHOD_GET);
    assert_int_equal(flared_method_bit("GETX", 4), 0);
}

static void test_method_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "routes: [{path: /a, echo: {}, methods: [get]}]\n",
                 "t.yaml:2:41: methods: 'get' has lower-case letters; method names are "
                 "case-sensitive and written in capitals");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, methods: [GET, Post]}]\n",
                 "t.yaml:2:46: methods: 'Post' has lower-case letters; method names are "
                 "case-sensitive and written in capitals");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, methods: [\"GE T\"]}]\n",
                 "t.yaml:2:41: methods: 'GE T' is not a method name");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, methods: [\"GET/1\"]}]\n",
                 "t.yaml:2:41: methods: 'GET/1' is not a method name");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, methods: [GET, GET]}]\n",
                 "t.yaml:2:46: methods: 'GET' is listed twice");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, methods: [M-SEARCH, M-SEARCH]}]\n",
                 "t.yaml:2:51: methods: 'M-SEARCH' is listed twice");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, methods: []}]\n",
                 "t.yaml:2:40: methods: empty list; omit the key to allow any method");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, methods: GET}]\n",
                 "t.yaml:2:40: methods: expected a list, got 'GET'");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, methods: [[GET]]}]\n",
                 "t.yaml:2:41: methods: expected a string, got a list");
    /* Lists that leave out every method the type answers: the route would never serve. */
    expect_error(LISTEN "routes: [{path: /ws, websocket: {}, methods: [POST, HEAD]}]\n",
                 "t.yaml:2:46: methods: a websocket route is opened with GET (RFC 6455 §4.1); "
                 "without GET it never serves: add GET or remove methods");
    expect_error(LISTEN "routes: [{path: /, static: {root: /tmp}, methods: [POST, PUT]}]\n",
                 "t.yaml:2:51: methods: a static route serves GET and HEAD only; without either "
                 "it never serves: add GET or remove methods");
    expect_error(LISTEN "routes: [{path: /t, text: {body: x}, methods: [CONNECT]}]\n",
                 "t.yaml:2:47: methods: CONNECT never reaches a route (flared runs no tunnels); "
                 "with nothing else the route never serves");
    flared_config *cfg = load_ok(LISTEN "routes:\n"
                                        "  - {path: /ws, websocket: {}, methods: [GET]}\n"
                                        "  - {path: /, static: {root: /tmp}, methods: [HEAD]}\n"
                                        "  - {path: /h, health: {}, methods: [PUT]}\n");
    flared_config_free(cfg);
}

static void test_headers(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "routes:\n"
                                        "  - path: /a\n"
                                        "    echo: {}\n"
                                        "    headers:\n"
                                        "      Cache-Control: no-store\n"
                                        "      Strict-Transport-Security: max-age=63072000\n"
                                        "      X-Empty: \"\"\n"
                                        "      Access-Control-Allow-Origin: \"*\"\n");
    const flared_route *r = cfg->default_host.routes;
    assert_int_equal(r[0].header_count, 4);
    assert_string_equal(r[0].headers[0].name, "Cache-Control");
    assert_string_equal(r[0].headers[0].value, "no-store");
    assert_string_equal(r[0].headers[1].name, "Strict-Transport-Security");
    assert_string_equal(r[0].headers[1].value, "max-age=63072000");
    assert_string_equal(r[0].headers[2].value, "");
    assert_string_equal(r[0].headers[3].value, "*");
    flared_config_free(cfg);
}

static void test_headers_inherited(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "headers: {X-Top: t, X-Both: top, X-All: top}\n"
                                        "routes:\n"
                                        "  - {path: /a, echo: {}}\n"
                                        "  - {path: /b, echo: {}, headers: {x-all: route}}\n"
                                        "hosts:\n"
                                        "  - names: [h.example]\n"
                                        "    headers: {X-Both: host, X-All: host}\n"
                                        "    routes:\n"
                                        "      - {path: /c, echo: {}, headers: {X-ALL: route}}\n"
                                        "      - {path: /d, echo: {}}\n");
    const flared_route *a = &cfg->default_host.routes[0], *b = &cfg->default_host.routes[1];
    assert_int_equal(a->header_count, 3);
    assert_string_equal(a->headers[0].name, "X-Top");
    assert_string_equal(a->headers[2].value, "top");
    /* The route's own field first, then the inherited ones it does not name. */
    assert_int_equal(b->header_count, 3);
    assert_string_equal(b->headers[0].name, "x-all");
    assert_string_equal(b->headers[0].value, "route");
    assert_string_equal(b->headers[1].name, "X-Top");
    assert_string_equal(b->headers[2].name, "X-Both");
    const flared_route *c = &cfg->hosts[0].routes[0], *d = &cfg->hosts[0].routes[1];
    assert_int_equal(c->header_count, 3);
    assert_string_equal(c->headers[0].value, "route");
    assert_string_equal(c->headers[1].name, "X-Both");
    assert_string_equal(c->headers[1].value, "host");
    assert_string_equal(c->headers[2].name, "X-Top");
    assert_int_equal(d->header_count, 3);
    assert_string_equal(d->headers[0].value, "host");
    assert_string_equal(d->headers[1].value, "host");
    assert_string_equal(d->headers[2].name, "X-Top");
    /* A host's own fields (for the answers no route of it gives) are its routes' without
     * theirs: the host's over the top level's; the default host's, the top level's. */
    const flared_host *def = &cfg->default_host, *h = &cfg->hosts[0];
    assert_int_equal(def->header_count, 3);
    assert_string_equal(def->headers[1].value, "top");
    assert_int_equal(h->header_count, 3);
    assert_string_equal(h->headers[0].name, "X-Both");
    assert_string_equal(h->headers[0].value, "host");
    assert_string_equal(h->headers[1].value, "host");
    assert_string_equal(h->headers[2].name, "X-Top");
    flared_config_free(cfg);
    /* Top-level and host fields follow the route's rules. */
    expect_error(LISTEN "headers: {Connection: close}\n",
                 "t.yaml:2:11: headers: 'Connection' is set by flared and cannot be configured");
    expect_error(LISTEN "hosts: [{names: [a.b], headers: {X: \" x\"}, routes: []}]\n",
                 "t.yaml:2:37: headers: the value of 'X' has control characters or "
                 "leading/trailing spaces");
}

static void test_header_name_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "routes: [{path: /a, echo: {}, headers: [a]}]\n",
                 "t.yaml:2:40: headers: expected a mapping of name: value, got a list");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, headers: {\"Bad Name\": x}}]\n",
                 "t.yaml:2:41: headers: 'Bad Name' is not a valid header name");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, headers: {Content-Length: 5}}]\n",
                 "t.yaml:2:41: headers: 'Content-Length' is set by flared and cannot be "
                 "configured");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, headers: {transfer-encoding: gzip}}]\n",
                 "t.yaml:2:41: headers: 'transfer-encoding' is set by flared and cannot be "
                 "configured");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, headers: {content-type: text/html}}]\n",
                 "t.yaml:2:41: headers: 'content-type' is set by flared and cannot be "
                 "configured; a text route's type is its content_type, a static file's comes "
                 "from mime_types");
    expect_error(LISTEN "headers: {Server: x}\nroutes: [{path: /a, echo: {}}]\n",
                 "t.yaml:2:11: headers: 'Server' is set by flared and cannot be configured; "
                 "the top-level server_header sets it for every answer (off: none)");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, headers: {Location: /b}}]\n",
                 "t.yaml:2:41: headers: 'Location' is set by flared and cannot be configured; a "
                 "redirect route sets it");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, headers: {X-A: 1, x-a: 2}}]\n",
                 "t.yaml:2:49: headers: 'x-a' is set twice; first at line 2, column 41");
}

static void test_header_value_errors(void **state)
{
    (void)state;
    expect_error(LISTEN
                 "routes: [{path: /a, echo: {}, headers: {X-A: \"a\\r\\nSet-Cookie: b\"}}]\n",
                 "t.yaml:2:46: headers: the value of 'X-A' has control characters or "
                 "leading/trailing spaces");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, headers: {X-A: \" a\"}}]\n",
                 "t.yaml:2:46: headers: the value of 'X-A' has control characters or "
                 "leading/trailing spaces");
    expect_error(LISTEN "routes: [{path: /a, echo: {}, headers: {X-A: }}]\n",
                 "t.yaml:2:46: X-A: expected a string, got nothing");
}

static void test_route_max_body_bytes(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "routes:\n"
                                        "  - {path: /up, echo: {}, max_body_bytes: 1g}\n"
                                        "  - {path: /other, echo: {}}\n"
                                        "limits: {max_body_bytes: 5m}\n");
    const flared_route *r = cfg->default_host.routes;
    assert_true(r[0].max_body_bytes_set);
    assert_int_equal(r[0].max_body_bytes, 1ull << 30);
    assert_false(r[1].max_body_bytes_set);
    assert_int_equal(r[1].max_body_bytes, 5ull << 20);
    flared_config_free(cfg);
    expect_error(LISTEN "routes: [{path: /a, echo: {}, max_body_bytes: 0}]\n",
                 "t.yaml:2:47: max_body_bytes: '0' is out of range 1..1024g");
}

/* ----------------------------------------------------------------- hosts */

static void test_hosts(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "routes: [{path: /, echo: {}}]\n"
                                        "hosts:\n"
                                        "  - names: [API.Example.com, \"*.example.org\"]\n"
                                        "    routes:\n"
                                        "      - {path: /, text: {body: api}}\n"
                                        "      - {path: /v1/, echo: {}}\n"
                                        "  - names: [www.example.net, 127.0.0.1]\n"
                                        "    routes: []\n");
    assert_int_equal(cfg->default_host.route_count, 1);
    assert_int_equal(cfg->default_host.name_count, 0);
    assert_int_equal(cfg->default_host.line, 2);
    assert_int_equal(cfg->default_host.column, 9);
    assert_int_equal(cfg->host_count, 2);
    const flared_host *h = cfg->hosts;
    assert_int_equal(h[0].name_count, 2);
    assert_string_equal(h[0].names[0], "api.example.com");
    assert_string_equal(h[0].names[1], "*.example.org");
    assert_int_equal(h[0].route_count, 2);
    assert_string_equal(h[0].routes[0].path, "/");
    assert_string_equal(h[0].routes[0].u.text.body, "api");
    assert_true(h[0].routes[1].is_prefix);
    assert_int_equal(h[0].line, 4);
    assert_int_equal(h[0].column, 5);
    assert_int_equal(h[1].name_count, 2);
    assert_string_equal(h[1].names[0], "www.example.net");
    assert_string_equal(h[1].names[1], "127.0.0.1");
    assert_int_equal(h[1].route_count, 0);
    flared_config_free(cfg);
}

static void test_host_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "hosts: [{routes: []}]\n",
                 "t.yaml:2:9: host: missing required key 'names'");
    expect_error(LISTEN "hosts: [{names: [a.example]}]\n",
                 "t.yaml:2:9: host: missing required key 'routes'");
    expect_error(LISTEN "hosts: [{names: [], routes: []}]\n",
                 "t.yaml:2:17: names: a host needs at least one name");
    expect_error(LISTEN "hosts: [{names: a.example, routes: []}]\n",
                 "t.yaml:2:17: names: expected a list, got 'a.example'");
    expect_error(
        LISTEN "hosts: [{names: [a.b], aliases: [x], routes: []}]\n",
        "t.yaml:2:24: unknown key 'aliases' in a host; allowed: names, routes, headers, auth");
    expect_error(LISTEN "hosts: {names: [a.b]}\n",
                 "t.yaml:2:8: hosts: expected a list, got a mapping");
    expect_error(LISTEN "hosts: [{names: [a.b], routes: [{path: /x, echo: {}}, {path: /x, echo: "
                        "{}}]}]\n",
                 "t.yaml:2:62: path: duplicate route for '/x' in this host; first at line 2, "
                 "column 40");
}

static void test_bad_host_names(void **state)
{
    (void)state;
    static const char *const bad[] = {"-bad.example", "bad-.example", "a..b",  "*.",
                                      "a.*.b",        "ex_ample",     "a.b.",  "*",
                                      "exa mple",     ".a",           "*.*.a", "a:80"};
    char yaml[256], expected[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml, LISTEN "hosts: [{names: [\"%s\"], routes: []}]\n", bad[i]);
        snprintf(expected, sizeof expected,
                 "t.yaml:2:18: names: '%s' is not a host name (like www.example.com or "
                 "*.example.com)",
                 bad[i]);
        expect_error(yaml, expected);
    }
    char label[80];
    memset(label, 'a', 64);
    label[64] = '\0';
    snprintf(yaml, sizeof yaml, LISTEN "hosts: [{names: [\"%s.com\"], routes: []}]\n", label);
    flare_error err;
    flared_config *cfg = NULL;
    assert_int_equal(flared_config_load_string(yaml, strlen(yaml), "t.yaml", scratch, &cfg, &err),
                     FLARE_ECONFIG);
    assert_non_null(strstr(err.message, "is not a host name"));
    label[63] = '\0';
    snprintf(yaml, sizeof yaml, LISTEN "hosts: [{names: [\"%s.com\"], routes: []}]\n", label);
    cfg = load_ok(yaml);
    flared_config_free(cfg);
}

static void test_duplicate_host_names(void **state)
{
    (void)state;
    expect_error(LISTEN "hosts:\n"
                        "  - {names: [a.example, B.example], routes: []}\n"
                        "  - {names: [b.example], routes: []}\n",
                 "t.yaml:4:14: names: host name 'b.example' is already used at line 3, column 25");
    expect_error(LISTEN "hosts:\n"
                        "  - {names: [a.example, A.EXAMPLE], routes: []}\n",
                 "t.yaml:3:25: names: host name 'a.example' is already used at line 3, column 14");
}

/* ------------------------------------------------------------------ files */

static void source_path(char *out, size_t cap, const char *rel)
{
    /* meson compiles this file by a path relative to the build directory, where tests run. */
    const char *file = __FILE__, *suffix = "tests/unit/flared/test_config.c";
    size_t n = strlen(file), sl = strlen(suffix);
    size_t prefix = n >= sl && strcmp(file + n - sl, suffix) == 0 ? n - sl : 0;
    snprintf(out, cap, "%.*s%s", (int)prefix, file, rel);
}

static void test_shipped_config(void **state)
{
    (void)state;
    char path[PATH_MAX], www[PATH_MAX], real_www[PATH_MAX];
    source_path(path, sizeof path, "conf/flared.yaml");
    source_path(www, sizeof www, "conf/www");
    assert_non_null(realpath(www, real_www));
    flare_error err;
    flared_config *cfg = NULL;
    int rc = flared_config_load(path, &cfg, &err);
    if (rc != 0) fail_msg("%s", err.message);
    assert_int_equal(cfg->workers, 1);
    assert_null(cfg->error_log);
    assert_int_equal(cfg->log_level, FLARED_LOG_INFO);
    assert_int_equal(cfg->listener_count, 1);
    assert_string_equal(cfg->listeners[0].address, "127.0.0.1:8080");
    assert_int_equal(cfg->listeners[0].addr.port, 8080);
    assert_int_equal(cfg->host_count, 0);
    const flared_host *h = &cfg->default_host;
    assert_int_equal(h->route_count, 6);
    assert_string_equal(h->routes[0].path, "/plaintext");
    assert_int_equal(h->routes[0].type, FLARED_ROUTE_TEXT);
    assert_string_equal(h->routes[0].u.text.body, "Hello, World!");
    assert_string_equal(h->routes[1].path, "/echo");
    assert_int_equal(h->routes[1].type, FLARED_ROUTE_ECHO);
    assert_string_equal(h->routes[2].path, "/ws");
    assert_int_equal(h->routes[2].type, FLARED_ROUTE_WEBSOCKET);
    assert_int_equal(h->routes[2].u.websocket.mode, FLARED_WEBSOCKET_ECHO);
    assert_true(h->routes[2].u.websocket.deflate);
    assert_string_equal(h->routes[3].path, "/health");
    assert_int_equal(h->routes[3].type, FLARED_ROUTE_HEALTH);
    assert_string_equal(h->routes[4].path, "/status");
    assert_int_equal(h->routes[4].type, FLARED_ROUTE_STATUS);
    assert_int_equal(h->routes[4].allow_count, 2);
    assert_string_equal(h->routes[5].path, "/");
    assert_int_equal(h->routes[5].type, FLARED_ROUTE_STATIC);
    assert_string_equal(h->routes[5].u.static_files.root, real_www);
    char index[PATH_MAX + 16];
    snprintf(index, sizeof index, "%s/%s", h->routes[5].u.static_files.root,
             h->routes[5].u.static_files.index[0]);
    assert_int_equal(access(index, R_OK), 0);
    flared_config_free(cfg);
}

static void test_load_file_resolves_paths(void **state)
{
    (void)state;
    char dir[PATH_MAX + 8], path[PATH_MAX + 32], expected[PATH_MAX + 128];
    snprintf(dir, sizeof dir, "%s/sub", scratch);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/flared.yaml", dir);
    const char *yaml = LISTEN "error_log: err.log\n"
                              "routes: [{path: /, static: {root: ../www}}]\n";
    assert_int_equal(write_file(path, yaml, strlen(yaml)), 0);
    flare_error err;
    flared_config *cfg = NULL;
    int rc = flared_config_load(path, &cfg, &err);
    if (rc != 0) fail_msg("%s", err.message);
    assert_string_equal(cfg->path, path);
    snprintf(expected, sizeof expected, "%s/sub", scratch_real);
    assert_string_equal(cfg->dir, expected);
    snprintf(expected, sizeof expected, "%s/sub/err.log", scratch_real);
    assert_string_equal(cfg->error_log, expected);
    snprintf(expected, sizeof expected, "%s/www", scratch_real);
    assert_string_equal(cfg->default_host.routes[0].u.static_files.root, expected);
    flared_config_free(cfg);

    /* Messages name the file as the caller did. */
    assert_int_equal(write_file(path, LISTEN "workers: 0\n", strlen(LISTEN) + 11), 0);
    assert_int_equal(flared_config_load(path, &cfg, &err), FLARE_ECONFIG);
    snprintf(expected, sizeof expected, "%s:2:10: workers: '0' is out of range 1..1024", path);
    assert_string_equal(err.message, expected);
    assert_null(cfg);
    unlink(path);
    rmdir(dir);
}

static void test_load_file_errors(void **state)
{
    (void)state;
    flare_error err;
    flared_config *cfg = (flared_config *)&err;
    assert_int_equal(flared_config_load("/nonexistent/flared.yaml", &cfg, &err), FLARE_ECONFIG);
    assert_null(cfg);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_string_equal(err.message, "/nonexistent/flared.yaml: cannot open: No such file or "
                                     "directory");

    char expected[PATH_MAX + 64], path[PATH_MAX + 16];
    assert_int_equal(flared_config_load(scratch, &cfg, &err), FLARE_ECONFIG);
    snprintf(expected, sizeof expected, "%s: not a regular file", scratch);
    assert_string_equal(err.message, expected);

    snprintf(path, sizeof path, "%s/big.yaml", scratch);
    size_t len = FLARED_CONFIG_MAX_BYTES + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '#', len);
    assert_int_equal(write_file(path, big, len), 0);
    free(big);
    assert_int_equal(flared_config_load(path, &cfg, &err), FLARE_ECONFIG);
    snprintf(expected, sizeof expected, "%s: config is larger than 1048576 bytes", path);
    assert_string_equal(err.message, expected);
    assert_null(cfg);
    unlink(path);
}

/* flared -s: a file that no longer loads still names its pid_file, read alone. */
static void test_load_pid_file_alone(void **state)
{
    (void)state;
    char path[PATH_MAX + 16], expected[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/gone-root.yaml", scratch);
    static const char text[] = "workerz: 2\npid_file: run/f.pid\nroutes:\n  - path: /\n"
                               "    static: {root: gone}\n";
    assert_int_equal(write_file(path, text, sizeof text - 1), 0);
    flare_error err;
    flared_config *cfg = NULL;
    assert_int_equal(flared_config_load(path, &cfg, &err), FLARE_ECONFIG);
    assert_int_equal(flared_config_load_pid_file(path, &cfg, &err), 0);
    snprintf(expected, sizeof expected, "%s/run/f.pid", scratch_real);
    assert_string_equal(cfg->pid_file, expected);
    assert_int_equal(cfg->default_host.route_count, 0);
    flared_config_free(cfg);
    /* Without one, none; a bad one or bad YAML is still an error. */
    static const char none[] = "routes: [{path: /, static: {root: gone}}]\n";
    assert_int_equal(write_file(path, none, sizeof none - 1), 0);
    assert_int_equal(flared_config_load_pid_file(path, &cfg, &err), 0);
    assert_null(cfg->pid_file);
    flared_config_free(cfg);
    static const char bad[] = "pid_file: [a]\n";
    assert_int_equal(write_file(path, bad, sizeof bad - 1), 0);
    assert_int_equal(flared_config_load_pid_file(path, &cfg, &err), FLARE_ECONFIG);
    assert_null(cfg);
    static const char broken[] = "pid_file: a\nroutes: [\n";
    assert_int_equal(write_file(path, broken, sizeof broken - 1), 0);
    assert_int_equal(flared_config_load_pid_file(path, &cfg, &err), FLARE_ECONFIG);
    unlink(path);
}

/* ------------------------------------------------------------------- API */

static void test_api_edges(void **state)
{
    (void)state;
    flared_config_free(NULL);
    flared_config *cfg = NULL;
    /* err may be NULL; the return code still tells. */
    assert_int_equal(flared_config_load_string("workers: 0", 10, "t.yaml", scratch, &cfg, NULL),
                     FLARE_ECONFIG);
    assert_null(cfg);
    flare_error err;
    assert_int_equal(
        flared_config_load_string(LISTEN, strlen(LISTEN), "t.yaml", scratch, NULL, &err),
        FLARE_EINVAL);
    assert_int_equal(flared_config_load(NULL, &cfg, &err), FLARE_EINVAL);
    assert_int_equal(
        flared_config_load_string(LISTEN, strlen(LISTEN), "t.yaml", "/nonexistent", &cfg, &err),
        FLARE_ECONFIG);
    assert_string_equal(err.message,
                        "t.yaml: base directory '/nonexistent': No such file or directory");
    /* No base directory: relative paths resolve against the current one. */
    char cwd[PATH_MAX];
    assert_non_null(realpath(".", cwd));
    assert_int_equal(flared_config_load_string(LISTEN, strlen(LISTEN), NULL, NULL, &cfg, &err), 0);
    assert_string_equal(cfg->dir, cwd);
    assert_string_equal(cfg->path, "<string>");
    flared_config_free(cfg);
    assert_string_equal(flared_log_level_name((flared_log_level)9), "?");
    assert_string_equal(flared_route_type_name((flared_route_type)9), "?");
    assert_string_equal(flared_route_type_name(FLARED_ROUTE_REDIRECT), "redirect");
}

/* A long file of many routes loads, and its duplicate check still finds the one repeat. */
static void test_many_routes(void **state)
{
    (void)state;
    size_t cap = 64 * 1024, o = 0;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    o += (size_t)snprintf(yaml + o, cap - o, LISTEN "routes:\n");
    for (int i = 0; i < 2000; i++)
        o += (size_t)snprintf(yaml + o, cap - o, "  - {path: /r%d, echo: {}}\n", i);
    flared_config *cfg = load_ok(yaml);
    assert_int_equal(cfg->default_host.route_count, 2000);
    assert_string_equal(cfg->default_host.routes[1999].path, "/r1999");
    flared_config_free(cfg);
    o += (size_t)snprintf(yaml + o, cap - o, "  - {path: /r1234, echo: {}}\n");
    expect_error(yaml, "t.yaml:2003:12: path: duplicate route for '/r1234' in this host; first "
                       "at line 1237, column 12");
    free(yaml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_workers),
        cmocka_unit_test(test_workers_errors),
        cmocka_unit_test(test_error_log),
        cmocka_unit_test(test_log_level),
        cmocka_unit_test(test_server_header),
        cmocka_unit_test(test_server_header_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_size_errors),
        cmocka_unit_test(test_size_range_errors),
        cmocka_unit_test(test_limit_errors),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_access_log_keys),
        cmocka_unit_test(test_access_log_errors),
        cmocka_unit_test(test_duration_errors),
        cmocka_unit_test(test_duration_range_errors),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_unknown_key_suggestions),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_root_shapes),
        cmocka_unit_test(test_yaml_syntax_errors),
        cmocka_unit_test(test_yaml_bad_bytes),
        cmocka_unit_test(test_yaml_nul_byte),
        cmocka_unit_test(test_yaml_anchors),
        cmocka_unit_test(test_yaml_aliases),
        cmocka_unit_test(test_yaml_tags),
        cmocka_unit_test(test_yaml_billion_laughs),
        cmocka_unit_test(test_yaml_documents),
        cmocka_unit_test(test_yaml_depth),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_listeners),
        cmocka_unit_test(test_listener_shape_errors),
        cmocka_unit_test(test_listener_https_redirect),
        cmocka_unit_test(test_listener_address_errors),
        cmocka_unit_test(test_listener_unix_errors),
        cmocka_unit_test(test_listener_duplicates),
        cmocka_unit_test(test_listener_option_errors),
        cmocka_unit_test(test_text_route),
        cmocka_unit_test(test_text_route_errors),
        cmocka_unit_test(test_text_status),
        cmocka_unit_test(test_text_route_key_errors),
        cmocka_unit_test(test_redirect_route),
        cmocka_unit_test(test_headers_inherited),
        cmocka_unit_test(test_redirect_route_errors),
        cmocka_unit_test(test_echo_status_health_routes),
        cmocka_unit_test(test_static_route),
        cmocka_unit_test(test_static_route_errors),
        cmocka_unit_test(test_load_pid_file_alone),
        cmocka_unit_test(test_route_shape_errors),
        cmocka_unit_test(test_unknown_route_types),
        cmocka_unit_test(test_route_paths),
        cmocka_unit_test(test_route_path_errors),
        cmocka_unit_test(test_route_path_char_errors),
        cmocka_unit_test(test_duplicate_routes),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_method_errors),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_header_name_errors),
        cmocka_unit_test(test_header_value_errors),
        cmocka_unit_test(test_route_max_body_bytes),
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_host_errors),
        cmocka_unit_test(test_bad_host_names),
        cmocka_unit_test(test_duplicate_host_names),
        cmocka_unit_test(test_shipped_config),
        cmocka_unit_test(test_load_file_resolves_paths),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_many_routes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
