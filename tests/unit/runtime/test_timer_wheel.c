/* Tests src/runtime/timer_wheel.c: exact firing, never early, cancel, long timers,
 * and a 100,000-operation random property test against a brute-force model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <unistd.h>

#include "flare/runtime.h"

typedef struct probe {
    flare_timer timer;
    uint64_t *now;
    int fired;
    uint64_t fired_at;
} probe;

static void on_fire(flare_timer *t, void *data)
{
    probe *p = data;
    (void)t;
    p->fired++;
    p->fired_at = *p->now;
}

static void probe_init(probe *p, uint64_t *now)
{
    p->now = now;
    p->fired = 0;
    p->fired_at = 0;
    flare_timer_init(&p->timer, on_fire, p);
}

/* A wheel on a clock the test moves by hand, and one probe timer on that clock. */
typedef struct wheel_clock {
    uint64_t now;
    flare_timer_wheel *w;
    probe p;
} wheel_clock;

static void clock_start(wheel_clock *k, uint64_t now)
{
    k->now = now;
    assert_int_equal(flare_timer_wheel_new(&k->w, now, NULL), 0);
    probe_init(&k->p, &k->now);
}

/* Moves the clock to `now` and advances the wheel; returns how many timers fired. */
static size_t clock_advance(wheel_clock *k, uint64_t now)
{
    k->now = now;
    return flare_timer_wheel_advance(k->w, now);
}

static void test_fires_at_deadline_not_before(void **state)
{
    (void)state;
    wheel_clock k;
    clock_start(&k, 1000);
    flare_timer_schedule(k.w, &k.p.timer, 1050);
    assert_true(flare_timer_active(&k.p.timer));
    assert_int_equal(flare_timer_wheel_count(k.w), 1);
    assert_int_equal(clock_advance(&k, 1049), 0);
    assert_int_equal(k.p.fired, 0);
    assert_int_equal(clock_advance(&k, 1050), 1);
    assert_int_equal(k.p.fired, 1);
    assert_false(flare_timer_active(&k.p.timer));
    assert_int_equal(flare_timer_wheel_count(k.w), 0);
    flare_timer_wheel_free(k.w);
}

static void test_cancel_never_fires(void **state)
{
    (void)state;
    wheel_clock k;
    clock_start(&k, 0);
    flare_timer_schedule(k.w, &k.p.timer, 10);
    flare_timer_cancel(k.w, &k.p.timer);
    flare_timer_cancel(k.w, &k.p.timer); /* idempotent */
    assert_int_equal(clock_advance(&k, 100000), 0);
    assert_int_equal(k.p.fired, 0);
    assert_int_equal(flare_timer_wheel_next_deadline(k.w), UINT64_MAX);
    assert_int_equal(flare_timer_wheel_timeout(k.w, k.now), -1);
    flare_timer_wheel_free(k.w);
}

static void test_past_deadline_fires_on_next_advance(void **state)
{
    (void)state;
    wheel_clock k;
    clock_start(&k, 500);
    flare_timer_schedule(k.w, &k.p.timer, 100);
    assert_int_equal(flare_timer_wheel_timeout(k.w, k.now), 0);
    assert_int_equal(clock_advance(&k, 500), 1);
    assert_int_equal(k.p.fired, 1);
    flare_timer_wheel_free(k.w);
}

static void test_reschedule_moves_timer(void **state)
{
    (void)state;
    wheel_clock k;
    clock_start(&k, 0);
    flare_timer_schedule(k.w, &k.p.timer, 5000);
    flare_timer_schedule(k.w, &k.p.timer, 20);
    assert_int_equal(flare_timer_wheel_count(k.w), 1);
    assert_int_equal(flare_timer_wheel_next_deadline(k.w), 20);
    clock_advance(&k, 20);
    assert_int_equal(k.p.fired, 1);
    clock_advance(&k, 6000);
    assert_int_equal(k.p.fired, 1);
    flare_timer_wheel_free(k.w);
}

static void test_long_timers_cross_every_level(void **state)
{
    (void)state;
    /* Deadlines on every level and beyond the wheel (overflow list: > 64^4 ms). */
    static const uint64_t delays[] = {1,        63,       64,       65,      4095,
                                      4096,     4097,     262143,   262144,  262145,
                                      16777215, 16777216, 16777217, 40000000};
    enum { N = sizeof delays / sizeof delays[0] };
    wheel_clock k;
    clock_start(&k, 123457);
    probe p[N];
    for (size_t i = 0; i < N; i++) {
        probe_init(&p[i], &k.now);
        flare_timer_schedule(k.w, &p[i].timer, k.now + delays[i]);
    }
    uint64_t start = k.now;
    /* Advance in uneven steps; the lower bound must never pass a live deadline. */
    while (flare_timer_wheel_count(k.w) > 0) {
        uint64_t next = flare_timer_wheel_next_deadline(k.w);
        for (size_t i = 0; i < N; i++)
            if (flare_timer_active(&p[i].timer)) assert_true(next <= p[i].timer.deadline_ms);
        assert_true(next > k.now);
        clock_advance(&k, next);
    }
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(p[i].fired, 1);
        assert_int_equal(p[i].fired_at, start + delays[i]);
    }
    flare_timer_wheel_free(k.w);
}

/* ---- property test ---- */

enum { POOL = 512, OPS = 100000 };

typedef struct model_timer {
    flare_timer timer;
    uint64_t *now;
    bool live;         /* model: scheduled and not yet fired or cancelled */
    uint64_t deadline; /* model deadline */
    int fired_count;
    bool failed;
} model_timer;

/* With chaos on, callbacks also re-arm themselves and reschedule or cancel other timers,
 * always in the future of the time being advanced to, so the model stays exact. */
static struct {
    bool chaos;
    flare_timer_wheel *w;
    model_timer *pool;
} model_ctx;

static uint64_t rng(void);
static uint64_t random_delay(void);

static void model_schedule(model_timer *m, uint64_t deadline)
{
    m->deadline = deadline;
    m->live = true;
    flare_timer_schedule(model_ctx.w, &m->timer, deadline);
}

static void on_model_fire(flare_timer *t, void *data)
{
    model_timer *m = data;
    (void)t;
    /* Must be live, due (never early), and fire once. */
    if (!m->live || *m->now < m->deadline) m->failed = true;
    m->live = false;
    m->fired_count++;
    if (!model_ctx.chaos) return;
    model_timer *other = &model_ctx.pool[rng() % POOL];
    switch (rng() % 4) {
    case 0:
        model_schedule(m, *m->now + 1 + random_delay());
        break;
    case 1:
        model_schedule(other, *m->now + 1 + random_delay());
        break;
    case 2:
        other->live = false;
        flare_timer_cancel(model_ctx.w, &other->timer);
        break;
    default:
        break;
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t random_delay(void)
{
    switch (rng() % 8) {
    case 0:
        return 0;
    case 1:
        return rng() % 64;
    case 2:
        return rng() % 4096;
    case 3:
        return rng() % 262144;
    case 4:
        return rng() % 20000000; /* reaches the overflow list */
    default:
        return rng() % 200;
    }
}

static void run_property(bool chaos)
{
    uint64_t now = 777;
    flare_timer_wheel *w;
    assert_int_equal(flare_timer_wheel_new(&w, now, NULL), 0);
    static model_timer pool[POOL];
    model_ctx.chaos = chaos;
    model_ctx.w = w;
    model_ctx.pool = pool;
    for (size_t i = 0; i < POOL; i++) {
        pool[i] = (model_timer){.now = &now};
        flare_timer_init(&pool[i].timer, on_model_fire, &pool[i]);
    }
    size_t total_fired = 0, total_scheduled = 0;
    for (int op = 0; op < OPS; op++) {
        model_timer *m = &pool[rng() % POOL];
        switch (rng() % 4) {
        case 0:
        case 1: /* schedule or reschedule */
            model_schedule(m, now + random_delay());
            total_scheduled++;
            break;
        case 2: /* cancel */
            m->live = false;
            flare_timer_cancel(w, &m->timer);
            break;
        case 3: { /* advance, sometimes far */
            uint64_t step = rng() % 16 == 0 ? rng() % 3000000 : rng() % 300;
            uint64_t next = flare_timer_wheel_next_deadline(w);
            for (size_t i = 0; i < POOL; i++)
                if (pool[i].live) assert_true(next <= pool[i].deadline);
            now += step;
            total_fired += flare_timer_wheel_advance(w, now);
            /* Every live timer now due must have fired. */
            for (size_t i = 0; i < POOL; i++)
                assert_false(pool[i].live && pool[i].deadline <= now);
            break;
        }
        }
        size_t live = 0;
        for (size_t i = 0; i < POOL; i++)
            live += pool[i].live;
        assert_int_equal(flare_timer_wheel_count(w), live);
    }
    /* Drain: everything left fires exactly once. */
    model_ctx.chaos = false;
    now += 40000000;
    total_fired += flare_timer_wheel_advance(w, now);
    for (size_t i = 0; i < POOL; i++) {
        assert_false(pool[i].failed);
        assert_false(pool[i].live);
    }
    assert_int_equal(flare_timer_wheel_count(w), 0);
    assert_true(total_fired > 1000);
    assert_true(total_scheduled > 40000);
    flare_timer_wheel_free(w);
}

static void test_property_random_operations(void **state)
{
    (void)state;
    run_property(false);
}

static void test_property_callbacks_reschedule_and_cancel(void **state)
{
    (void)state;
    run_property(true);
}

/* A callback may reschedule itself and cancel others. */
typedef struct chain {
    flare_timer timer;
    flare_timer_wheel *w;
    uint64_t *now;
    int fired;
    flare_timer *victim;
} chain;

static void on_chain(flare_timer *t, void *data)
{
    chain *c = data;
    c->fired++;
    if (c->victim) flare_timer_cancel(c->w, c->victim);
    if (c->fired < 3) flare_timer_schedule(c->w, t, *c->now + 10);
}

static void test_callbacks_reschedule_and_cancel(void **state)
{
    (void)state;
    wheel_clock k;
    clock_start(&k, 0); /* its probe is the victim */
    chain c = {.w = k.w, .now = &k.now, .victim = &k.p.timer};
    flare_timer_init(&c.timer, on_chain, &c);
    flare_timer_schedule(k.w, &c.timer, 5);
    flare_timer_schedule(k.w, &k.p.timer, 5);
    for (uint64_t t = 1; t <= 100; t++)
        clock_advance(&k, t);
    assert_int_equal(c.fired, 3);
    assert_int_equal(k.p.fired, 0);
    assert_int_equal(flare_timer_wheel_count(k.w), 0);
    flare_timer_wheel_free(k.w);
}

/* A wheel idle for a long stretch, or handed a time from another clock (wall-clock
 * ms on a wheel started at 0), must jump the empty stretch, not walk it 64 ms at a
 * time: 2^40 ms would be 1.7e10 steps. SIGALRM ends the test if it walks. */
static void test_far_jumps_skip_empty_stretches(void **state)
{
    (void)state;
    alarm(30);
    wheel_clock k;
    clock_start(&k, 0);
    probe mid, far;
    probe_init(&mid, &k.now);
    probe_init(&far, &k.now);
    const uint64_t mid_at = (1ull << 39) + 12345, far_at = (1ull << 40) - 7;
    flare_timer_schedule(k.w, &mid.timer, mid_at);
    flare_timer_schedule(k.w, &far.timer, far_at);
    assert_int_equal(clock_advance(&k, 1ull << 40), 2);
    assert_int_equal(mid.fired_at, 1ull << 40); /* both late: the clock jumped past them */
    assert_int_equal(far.fired, 1);

    /* An empty wheel, then one timer a wheel span away after a jump to wall-clock time. */
    const uint64_t wall_ms = 1796630400000ull; /* 2026-12-07 in ms since the epoch */
    assert_int_equal(clock_advance(&k, wall_ms), 0);
    flare_timer_schedule(k.w, &k.p.timer, wall_ms + 20000000);
    assert_true(flare_timer_wheel_next_deadline(k.w) <= wall_ms + 20000000);
    assert_int_equal(clock_advance(&k, wall_ms + 19999999), 0);
    assert_int_equal(clock_advance(&k, wall_ms + 20000000), 1);
    assert_int_equal(k.p.fired_at, wall_ms + 20000000);
    alarm(0);
    flare_timer_wheel_free(k.w);
}

/* A callback that re-arms itself at or before now is not fired again in the same
 * advance (no endless loop); it fires at the next one. One that pushes a timer due
 * at the same tick to later keeps it from firing now. */
static void on_rearm(flare_timer *t, void *data)
{
    chain *c = data; /* its victim is postponed, not cancelled */
    c->fired++;
    flare_timer_schedule(c->w, t, *c->now - 1);
    if (c->victim) flare_timer_schedule(c->w, c->victim, *c->now + 1000);
    c->victim = NULL;
}

static void test_callback_rearms_at_now_and_postpones_peer(void **state)
{
    (void)state;
    wheel_clock k;
    clock_start(&k, 100);
    chain a = {.w = k.w, .now = &k.now, .victim = &k.p.timer};
    flare_timer_init(&a.timer, on_rearm, &a);
    flare_timer_schedule(k.w, &a.timer, 150);
    flare_timer_schedule(k.w, &k.p.timer, 150); /* after a in the same slot */
    assert_int_equal(clock_advance(&k, 150), 1);
    assert_int_equal(a.fired, 1);
    assert_int_equal(k.p.fired, 0);
    assert_int_equal(flare_timer_wheel_count(k.w), 2);
    assert_int_equal(flare_timer_wheel_timeout(k.w, k.now), 0); /* a is due again */
    assert_int_equal(clock_advance(&k, 150), 1);
    assert_int_equal(a.fired, 2);
    flare_timer_cancel(k.w, &a.timer);
    assert_int_equal(clock_advance(&k, 1149), 0);
    assert_int_equal(clock_advance(&k, 1150), 1);
    assert_int_equal(k.p.fired_at, 1150);
    assert_int_equal(flare_timer_wheel_count(k.w), 0);
    flare_timer_wheel_free(k.w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fires_at_deadline_not_before),
        cmocka_unit_test(test_cancel_never_fires),
        cmocka_unit_test(test_past_deadline_fires_on_next_advance),
        cmocka_unit_test(test_reschedule_moves_timer),
        cmocka_unit_test(test_long_timers_cross_every_level),
        cmocka_unit_test(test_property_random_operations),
        cmocka_unit_test(test_property_callbacks_reschedule_and_cancel),
        cmocka_unit_test(test_callbacks_reschedule_and_cancel),
        cmocka_unit_test(test_far_jumps_skip_empty_stretches),
        cmocka_unit_test(test_callback_rearms_at_now_and_postpones_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
