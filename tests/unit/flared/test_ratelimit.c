/*
 * test_ratelimit.c: the rate limits (src/flared/ratelimit.c and config_ratelimit.c):
 * the GCRA step (burst, draining over an injected clock, per-minute rates), the
 * shared table (clients and limits kept apart, IPv6 clients by prefix, drained buckets
 * reused, a full group's eviction exempting no one, one budget across fork) and the config keys
 * with their errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "config_harness.h"
#include "ratelimit.h"

#define SEC 1000000ull

/* A limit as the config would make it. */
static flared_rate_limit limit(uint64_t rate, uint64_t period_ms, uint64_t burst, uint64_t key)
{
    return (flared_rate_limit){.rate = rate,
                               .period_ms = period_ms,
                               .interval_us = period_ms * 1000 / rate,
                               .burst = burst,
                               .status = 429,
                               .key = key};
}

static flare_ip_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    flare_ip_addr ip = {.family = AF_INET};
    ip.bytes[0] = a;
    ip.bytes[1] = b;
    ip.bytes[2] = c;
    ip.bytes[3] = d;
    return ip;
}

/* Charges one request; the eviction flag goes unread. */
static flared_rate_verdict take(flared_rate_table *t, const flared_rate_limit *rl,
                                const flare_ip_addr *ip, uint64_t now, uint64_t *wait)
{
    bool evicted;
    return flared_rate_table_take(t, rl, ip, now, wait, &evicted);
}

/* Sends n requests of ip at now; returns how many were taken. */
static unsigned take_many(flared_rate_table *t, const flared_rate_limit *rl,
                          const flare_ip_addr *ip, uint64_t now, unsigned n)
{
    unsigned taken = 0;
    uint64_t wait;
    for (unsigned i = 0; i < n; i++)
        taken += take(t, rl, ip, now, &wait) == FLARED_RATE_TAKEN;
    return taken;
}

/* Takes requests at `now` until one is refused; returns how many were taken. */
static unsigned take_all(uint64_t *tat, uint64_t now, uint64_t interval, uint64_t burst,
                         uint64_t *wait)
{
    unsigned n = 0;
    uint64_t next;
    while (n < 1000 && flared_rate_step(*tat, now, interval, burst, &next, wait)) {
        *tat = next;
        n++;
    }
    return n;
}

static void test_step_burst(void **state)
{
    (void)state;
    uint64_t tat = 0, wait = 0, now = 5 * SEC, interval = SEC / 10; /* 10/s */
    /* An empty bucket takes burst + 1 at once (nginx: burst=5 nodelay), then refuses. */
    assert_int_equal(take_all(&tat, now, interval, 5, &wait), 6);
    /* Six requests queued, five allowed to wait: one interval until the next is taken. */
    assert_int_equal(wait, interval);
    /* burst 0: one request per interval, no more. */
    tat = 0;
    assert_int_equal(take_all(&tat, now, interval, 0, &wait), 1);
    assert_int_equal(wait, interval);
}

static void test_step_drains(void **state)
{
    (void)state;
    uint64_t tat = 0, wait = 0, now = 100 * SEC, interval = SEC / 20; /* 20/s */
    assert_int_equal(take_all(&tat, now, interval, 2, &wait), 3);
    /* Just before one interval has passed: still refused, with the rest to wait. */
    assert_int_equal(take_all(&tat, now + interval - 1, interval, 2, &wait), 0);
    assert_int_equal(wait, 1);
    /* After one interval, exactly one more. */
    assert_int_equal(take_all(&tat, now + interval, interval, 2, &wait), 1);
    /* After the whole bucket drained (3 intervals past the last), burst + 1 again. */
    assert_int_equal(take_all(&tat, now + 5 * interval, interval, 2, &wait), 3);
    /* A clock behind the bucket (another worker's older loop turn) is strict, never lax. */
    assert_int_equal(take_all(&tat, now, interval, 2, &wait), 0);
}

static void test_step_per_minute(void **state)
{
    (void)state;
    flared_rate_limit rl = limit(6, 60000, 1, 0); /* 6/m: one every 10 s */
    assert_int_equal(rl.interval_us, 10 * SEC);
    uint64_t tat = 0, wait = 0, now = 1000 * SEC;
    assert_int_equal(take_all(&tat, now, rl.interval_us, rl.burst, &wait), 2);
    assert_int_equal(wait, 10 * SEC);
    assert_int_equal(take_all(&tat, now + 9 * SEC, rl.interval_us, rl.burst, &wait), 0);
    assert_int_equal(wait, 1 * SEC);
    assert_int_equal(take_all(&tat, now + 10 * SEC, rl.interval_us, rl.burst, &wait), 1);
}

static void test_table_clients_and_limits(void **state)
{
    (void)state;
    flared_rate_table *t;
    flare_error err;
    assert_int_equal(flared_rate_table_new(&t, 1024, &err), 0);
    flared_rate_limit a = limit(10, 1000, 2, 1), b = limit(10, 1000, 0, 2);
    flare_ip_addr one = v4(192, 0, 2, 1), two = v4(192, 0, 2, 2);
    flare_ip_addr six = {.family = AF_INET6, .bytes = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}};
    uint64_t now = 50 * SEC, wait;
    for (int i = 0; i < 3; i++)
        assert_int_equal(take(t, &a, &one, now, &wait), FLARED_RATE_TAKEN);
    assert_int_equal(take(t, &a, &one, now, &wait), FLARED_RATE_REFUSED);
    assert_int_equal(wait, SEC / 10);
    /* Another client, and the same client under another limit, have their own buckets. */
    assert_int_equal(take(t, &a, &two, now, &wait), FLARED_RATE_TAKEN);
    assert_int_equal(take(t, &a, &six, now, &wait), FLARED_RATE_TAKEN);
    assert_int_equal(take(t, &b, &one, now, &wait), FLARED_RATE_TAKEN);
    assert_int_equal(take(t, &b, &one, now, &wait), FLARED_RATE_REFUSED);
    /* The same IPv4 client seen through a dual-stack listener (::ffff:192.0.2.1). */
    flare_ip_addr mapped = {.family = AF_INET6, .bytes = {[10] = 0xff, 0xff, 192, 0, 2, 1}};
    assert_int_equal(take(t, &b, &mapped, now, &wait), FLARED_RATE_REFUSED);
    /* Drained by a tenth of a second: one more for the first client. */
    assert_int_equal(take(t, &a, &one, now + SEC / 10, &wait), FLARED_RATE_TAKEN);
    assert_int_equal(take(t, &a, &one, now + SEC / 10, &wait), FLARED_RATE_REFUSED);
    flared_rate_table_free(t);
}

static flare_ip_addr v6(const char *text)
{
    flare_ip_addr ip = {.family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, text, ip.bytes), 1);
    return ip;
}

/* Whether a and b share a bucket under a 1/m limit of prefix bits: a fresh limit (its
 * own key) takes a's one request, and then b is refused only if it is a's bucket. */
static bool same_bucket(flared_rate_table *t, unsigned prefix, flare_ip_addr a, flare_ip_addr b)
{
    static uint64_t next_key = 1000;
    flared_rate_limit rl = limit(1, 60000, 0, next_key++);
    rl.ipv6_prefix = prefix;
    uint64_t now = 20 * SEC, wait;
    assert_int_equal(take(t, &rl, &a, now, &wait), FLARED_RATE_TAKEN);
    return take(t, &rl, &b, now, &wait) == FLARED_RATE_REFUSED;
}

/* IPv6 clients are counted by prefix: every address of a /64 (the default) is one
 * client, so rotating through them gains nothing; the bits past the prefix never count
 * and those inside always do. IPv4, mapped or not, stays per address. */
static void test_table_ipv6_prefix(void **state)
{
    (void)state;
    flared_rate_table *t;
    flare_error err;
    assert_int_equal(flared_rate_table_new(&t, 1 << 16, &err), 0);
    flare_ip_addr a = v6("2001:db8:1:2::1");
    /* The default /64: the interface identifier does not matter, the subnet does. */
    assert_true(same_bucket(t, 64, a, v6("2001:db8:1:2:ffff:ffff:ffff:ffff")));
    assert_true(same_bucket(t, 64, a, v6("2001:db8:1:2:8000::")));
    assert_false(same_bucket(t, 64, a, v6("2001:db8:1:3::1")));
    assert_false(same_bucket(t, 64, a, v6("2001:db8:1:8002::1")));
    assert_false(same_bucket(t, 64, a, v6("3001:db8:1:2::1")));
    /* Per address: /128, and 0 (a limit not made by the config) counts as 128. */
    assert_false(same_bucket(t, 128, a, v6("2001:db8:1:2::2")));
    assert_false(same_bucket(t, 0, a, v6("2001:db8:1:2::2")));
    assert_true(same_bucket(t, 128, a, v6("2001:db8:1:2::1")));
    /* Each side of the boundary, in either half of the address. */
    assert_true(same_bucket(t, 127, v6("2001:db8::2"), v6("2001:db8::3")));
    assert_false(same_bucket(t, 127, v6("2001:db8::1"), v6("2001:db8::2")));
    assert_true(same_bucket(t, 65, v6("2001:db8::1"), v6("2001:db8::7fff:0:0:0")));
    assert_false(same_bucket(t, 65, v6("2001:db8::1"), v6("2001:db8::8000:0:0:0")));
    assert_true(same_bucket(t, 56, v6("2001:db8:0:ab00::1"), v6("2001:db8:0:abff::1")));
    assert_false(same_bucket(t, 56, v6("2001:db8:0:ab00::1"), v6("2001:db8:0:ac00::1")));
    assert_true(same_bucket(t, 48, v6("2001:db8:5::1"), v6("2001:db8:5:ffff::1")));
    assert_false(same_bucket(t, 48, v6("2001:db8:5::1"), v6("2001:db8:4::1")));
    assert_true(same_bucket(t, 1, v6("2001::1"), v6("7fff::1")));
    assert_false(same_bucket(t, 1, v6("2001::1"), v6("8000::1")));
    /* IPv4 clients stay apart whatever the prefix, also through a dual-stack listener,
     * where every mapped address shares its first 64 (and 96) bits. */
    assert_false(same_bucket(t, 1, v4(192, 0, 2, 1), v4(192, 0, 2, 2)));
    assert_false(same_bucket(t, 64, v6("::ffff:192.0.2.1"), v6("::ffff:192.0.2.2")));
    assert_true(same_bucket(t, 64, v6("::ffff:192.0.2.1"), v4(192, 0, 2, 1)));
    /* An IPv6 prefix never meets an IPv4 address: :: /64 is not 0.0.0.0. */
    assert_false(same_bucket(t, 64, v6("::"), v4(0, 0, 0, 0)));
    flared_rate_table_free(t);
}

/* A reload keeps a named limit's buckets even when its rate changes. Charged at 1/m,
 * a bucket holds minutes; under the new 10/s it may hold only burst + 1 tenths of a
 * second, so it counts as full for one interval, not for the minutes it held. */
static void test_table_rate_raised_by_reload(void **state)
{
    (void)state;
    flared_rate_table *t;
    flare_error err;
    assert_int_equal(flared_rate_table_new(&t, 1024, &err), 0);
    flared_rate_limit slow = limit(1, 60000, 1, 7), fast = limit(10, 1000, 2, 7);
    flare_ip_addr one = v4(192, 0, 2, 1);
    uint64_t now = 50 * SEC, wait = 0;
    assert_int_equal(take(t, &slow, &one, now, &wait), FLARED_RATE_TAKEN);
    assert_int_equal(take(t, &slow, &one, now, &wait), FLARED_RATE_TAKEN);
    assert_int_equal(take(t, &slow, &one, now, &wait), FLARED_RATE_REFUSED);
    assert_int_equal(wait, 60 * SEC);
    assert_int_equal(take(t, &fast, &one, now, &wait), FLARED_RATE_REFUSED);
    assert_true(wait <= fast.interval_us);
    /* One interval later the new limit takes one, and refuses the next for an interval. */
    now += fast.interval_us;
    assert_int_equal(take(t, &fast, &one, now, &wait), FLARED_RATE_TAKEN);
    assert_int_equal(take(t, &fast, &one, now, &wait), FLARED_RATE_REFUSED);
    assert_int_equal(wait, fast.interval_us);
    flared_rate_table_free(t);
}

/* A table of one group: every key meets every other. */
static flared_rate_table *one_group(void)
{
    flared_rate_table *t;
    flare_error err;
    assert_int_equal(flared_rate_table_new(&t, 16, &err), 0);
    assert_int_equal(flared_rate_table_entries(t), 16);
    return t;
}

/* Drained buckets serve new clients at once, and that is no eviction. */
static void test_table_drained_buckets_reused(void **state)
{
    (void)state;
    flared_rate_table *t;
    flare_error err;
    assert_int_equal(flared_rate_table_new(&t, 16, &err), 0); /* one group */
    assert_int_equal(flared_rate_table_entries(t), 16);
    flared_rate_limit rl = limit(1, 1000, 0, 7);
    uint64_t now = 10 * SEC, wait;
    bool evicted;
    for (uint8_t i = 0; i < 16; i++) {
        flare_ip_addr ip = v4(10, 0, 0, i);
        assert_int_equal(flared_rate_table_take(t, &rl, &ip, now, &wait, &evicted),
                         FLARED_RATE_TAKEN);
        assert_false(evicted);
    }
    /* A second later every bucket is empty: the newcomer gets one, and is limited. */
    flare_ip_addr late = v4(10, 0, 1, 1);
    assert_int_equal(flared_rate_table_take(t, &rl, &late, now + SEC, &wait, &evicted),
                     FLARED_RATE_TAKEN);
    assert_false(evicted);
    assert_int_equal(take(t, &rl, &late, now + SEC, &wait), FLARED_RATE_REFUSED);
    flared_rate_table_free(t);
    assert_int_not_equal(flared_rate_table_new(&t, 1000, &err), 0); /* not a power of two */
    flared_rate_table_free(NULL);
}

/* Distinct addresses flooding a group leave no one unlimited: a client arriving after
 * them takes over a bucket with what it held (it was let through uncounted), and the
 * flood itself gets no more than the group's buckets hold. */
static void test_table_flood_exempts_no_one(void **state)
{
    (void)state;
    flared_rate_table *t = one_group();
    flared_rate_limit rl = limit(1, 1000, 3, 7); /* 4 at once */
    uint64_t now = 10 * SEC, wait;
    unsigned flood_taken = 0, evictions = 0;
    for (unsigned i = 0; i < 1000; i++) {
        flare_ip_addr ip = v4(10, 1, (uint8_t)(i >> 8), (uint8_t)i);
        bool evicted;
        flood_taken +=
            flared_rate_table_take(t, &rl, &ip, now, &wait, &evicted) == FLARED_RATE_TAKEN;
        evictions += evicted;
    }
    assert_int_equal(flood_taken, 16 * 4);
    assert_int_equal(evictions, 1000 - 16);
    flare_ip_addr late = v4(192, 0, 2, 1);
    assert_int_equal(take_many(t, &rl, &late, now, 10), 0);
    /* Its bucket drains like any other: one interval later it is taken again. */
    assert_int_equal(take(t, &rl, &late, now + SEC, &wait), FLARED_RATE_TAKEN);
    flared_rate_table_free(t);
}

/* A client over its limit keeps its bucket while others hold less, and two addresses
 * that push each other out share buckets rather than start empty each time. */
static void test_table_eviction_takes_the_emptiest(void **state)
{
    (void)state;
    flared_rate_table *t = one_group();
    flared_rate_limit rl = limit(1, 1000, 3, 7);
    uint64_t now = 10 * SEC, wait;
    flare_ip_addr heavy = v4(198, 51, 100, 1);
    assert_int_equal(take_many(t, &rl, &heavy, now, 10), 4);
    for (uint8_t i = 0; i < 15; i++) {
        flare_ip_addr ip = v4(10, 2, 0, i);
        assert_int_equal(take_many(t, &rl, &ip, now, 2), 2);
    }
    /* The group is full: X and Y take turns, 200 requests in all. */
    flare_ip_addr x = v4(203, 0, 113, 1), y = v4(203, 0, 113, 2);
    unsigned taken = 0;
    for (int i = 0; i < 100; i++) {
        taken += take(t, &rl, &x, now, &wait) == FLARED_RATE_TAKEN;
        taken += take(t, &rl, &y, now, &wait) == FLARED_RATE_TAKEN;
    }
    /* Each took over a light bucket and got what it had left (2), then was held to
     * it: 4, not the 200 two addresses that start empty each time would get. */
    assert_int_equal(taken, 2 * 2);
    assert_int_equal(take(t, &rl, &heavy, now, &wait), FLARED_RATE_REFUSED);
    flared_rate_table_free(t);
}

/* A child forked after the mapping charges the same buckets as its parent. */
static void test_table_shared_across_fork(void **state)
{
    (void)state;
    flared_rate_table *t;
    flare_error err;
    assert_int_equal(flared_rate_table_new(&t, 1024, &err), 0);
    flared_rate_limit rl = limit(1, 60000, 3, 9);
    flare_ip_addr ip = v4(198, 51, 100, 7);
    uint64_t now = 77 * SEC, wait;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int taken = 0;
        for (int i = 0; i < 3; i++)
            taken += take(t, &rl, &ip, now, &wait) == FLARED_RATE_TAKEN;
        _exit(taken == 3 ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(take(t, &rl, &ip, now, &wait), FLARED_RATE_TAKEN);
    assert_int_equal(take(t, &rl, &ip, now, &wait), FLARED_RATE_REFUSED);
    assert_int_equal(wait, 60 * SEC);
    flared_rate_table_free(t);
}

#define HEAD "listeners: [{address: 127.0.0.1:8080}]\n"

static void test_config_named_and_own(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(HEAD "rate_limits:\n"
                                      "  api: {rate: 10/s, burst: 20}\n"
                                      "  slow: {rate: 30r/m, status: 503}\n"
                                      "limits: {rate_limit_entries: 5000}\n"
                                      "routes:\n"
                                      "  - {path: /a, text: {body: a}, rate_limit: api}\n"
                                      "  - {path: /b, text: {body: b}, rate_limit: api}\n"
                                      "  - {path: /c, text: {body: c}, rate_limit: {rate: 2/s}}\n"
                                      "  - {path: /d, text: {body: d}}\n");
    assert_int_equal(cfg->rate_limit_count, 2);
    const flared_rate_limit *api = &cfg->rate_limits[0], *slow = &cfg->rate_limits[1];
    assert_string_equal(api->name, "api");
    assert_int_equal(api->rate, 10);
    assert_int_equal(api->period_ms, 1000);
    assert_int_equal(api->interval_us, 100000);
    assert_int_equal(api->burst, 20);
    assert_int_equal(api->status, 429);
    assert_int_equal(slow->interval_us, 2000000);
    assert_int_equal(slow->burst, 0);
    assert_int_equal(slow->status, 503);
    assert_int_not_equal(api->key, slow->key);
    const flared_route *r = cfg->default_host.routes;
    assert_ptr_equal(r[0].rate_limit, api);
    assert_ptr_equal(r[1].rate_limit, api); /* one budget for both */
    assert_non_null(r[2].rate_limit);
    assert_null(r[2].rate_limit->name);
    assert_int_equal(r[2].rate_limit->interval_us, 500000);
    assert_int_not_equal(r[2].rate_limit->key, api->key);
    assert_null(r[3].rate_limit);
    /* Unset, ipv6_prefix is 64 on a named limit and on a route's own. */
    assert_int_equal(api->ipv6_prefix, 64);
    assert_int_equal(r[2].rate_limit->ipv6_prefix, 64);
    assert_int_equal(cfg->rate_limit_entries, 8192); /* rounded up to a power of two */
    flared_config_free(cfg);
    cfg = load_ok(HEAD "routes: [{path: /, text: {body: x}}]\n");
    assert_int_equal(cfg->rate_limit_entries, 65536);
    flared_config_free(cfg);
    cfg = load_ok(HEAD "rate_limits: {wide: {rate: 1/s, ipv6_prefix: 48}, one: {rate: 1/s, "
                       "ipv6_prefix: 128}}\n"
                       "routes: [{path: /, text: {body: x}, rate_limit: {rate: 1/s, ipv6_prefix: "
                       "1}}]\n");
    assert_int_equal(cfg->rate_limits[0].ipv6_prefix, 48);
    assert_int_equal(cfg->rate_limits[1].ipv6_prefix, 128);
    assert_int_equal(cfg->default_host.routes[0].rate_limit->ipv6_prefix, 1);
    flared_config_free(cfg);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error(HEAD "rate_limits: {api: {rate: 0/s}}\n",
                 "t.yaml:2:27: rate: '0/s' is out of range 1..1000000 per second");
    expect_error(HEAD "rate_limits: {api: {rate: -5/s}}\n",
                 "t.yaml:2:27: rate: expected requests per second or minute (10/s, 600/m), "
                 "got '-5/s'");
    expect_error(HEAD "rate_limits: {api: {rate: 10/h}}\n",
                 "t.yaml:2:27: rate: unknown unit 'h' in '10/h'; use /s or /m");
    /* The value is quoted with its control characters shown as '?': one line in the log. */
    expect_error(HEAD "rate_limits: {api: {rate: \"10/x\\nFAKE\"}}\n",
                 "t.yaml:2:27: rate: unknown unit 'x?FAKE' in '10/x?FAKE'; use /s or /m");
    expect_error(HEAD "rate_limits: {api: {rate: 10}}\n",
                 "t.yaml:2:27: rate: expected requests per second or minute (10/s, 600/m), "
                 "got '10'");
    expect_error(HEAD "rate_limits: {api: {burst: 3}}\n",
                 "t.yaml:2:20: rate_limit: missing required key 'rate'");
    expect_error(HEAD "rate_limits: {api: {rate: 1/s, burst: 100001}}\n",
                 "t.yaml:2:39: burst: '100001' is out of range 0..100000");
    expect_error(HEAD "rate_limits: {api: {rate: 1/s, status: 404}}\n",
                 "t.yaml:2:40: status: a rate limit answers 429 or 503, got 404");
    expect_error(HEAD "rate_limits: {api: {rate: 1/s}, api: {rate: 2/s}}\n",
                 "t.yaml:2:33: rate_limits: 'api' is defined twice; first at line 2");
    /* A name from the file goes into the message as it is, but never its control
     * characters: every config error stays one log line. */
    expect_error(HEAD "rate_limits: {\"a\\nb\\e\": {rate: 1/s}, \"a\\nb\\e\": {rate: 2/s}}\n",
                 "t.yaml:2:38: rate_limits: 'a?b?' is defined twice; first at line 2");
    expect_error(HEAD "routes: [{path: /, text: {body: x}, rate_limit: apx}]\n",
                 "t.yaml:2:49: rate_limit: no rate limit named 'apx'; define it under the "
                 "top-level 'rate_limits', or give this route its own {rate: 10/s, burst: 20}");
    expect_error(HEAD "routes: [{path: /, text: {body: x}, rate_limit: {rate: 1/s, per: 2}}]\n",
                 "t.yaml:2:61: unknown key 'per' in rate_limit; allowed: rate, burst, status, "
                 "ipv6_prefix");
    expect_error(HEAD "rate_limits: {api: {rate: 1/s, ipv6_prefix: 0}}\n",
                 "t.yaml:2:45: ipv6_prefix: '0' is out of range 1..128");
    expect_error(HEAD "rate_limits: {api: {rate: 1/s, ipv6_prefix: 129}}\n",
                 "t.yaml:2:45: ipv6_prefix: '129' is out of range 1..128");
    expect_error(HEAD "routes: [{path: /, text: {body: x}, rate_limit: {rate: 1/s, ipv6_prefix: "
                      "/64}}]\n",
                 "t.yaml:2:74: ipv6_prefix: expected an integer, got '/64'");
    expect_error(HEAD "limits: {rate_limit_entries: 10}\n",
                 "t.yaml:2:30: rate_limit_entries: '10' is out of range 1024..16777216");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_burst),
        cmocka_unit_test(test_step_drains),
        cmocka_unit_test(test_step_per_minute),
        cmocka_unit_test(test_table_clients_and_limits),
        cmocka_unit_test(test_table_ipv6_prefix),
        cmocka_unit_test(test_table_rate_raised_by_reload),
        cmocka_unit_test(test_table_drained_buckets_reused),
        cmocka_unit_test(test_table_flood_exempts_no_one),
        cmocka_unit_test(test_table_eviction_takes_the_emptiest),
        cmocka_unit_test(test_table_shared_across_fork),
        cmocka_unit_test(test_config_named_and_own),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
