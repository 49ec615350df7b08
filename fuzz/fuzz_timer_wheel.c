/*
 * fuzz_timer_wheel.c: operation sequences on the timing wheel (schedule,
 * reschedule, cancel, advance over small and multi-hour spans, timers in the
 * past, and callbacks that reschedule themselves or cancel and schedule other
 * timers), checked against a plain model: no timer fires early or twice, every
 * timer fires at the first advance past its deadline, the count is right, and
 * next_deadline never lies after the earliest deadline. Each op is 3 bytes.
 */
#include <string.h>

#include "flare/runtime.h"
#include "fuzz.h"

#define TIMERS 16
#define START  1000000ull

enum { ACT_NONE, ACT_RESCHEDULE_SELF, ACT_CANCEL_OTHER, ACT_SCHEDULE_OTHER };

typedef struct model_timer {
    bool active;
    bool late; /* scheduled by a callback during this advance, due by its target */
    uint64_t deadline;
    int action;
    unsigned arg;
} model_timer;

static struct {
    flare_timer_wheel *w;
    flare_timer timers[TIMERS];
    model_timer m[TIMERS];
    uint64_t now;    /* the wheel's time: the last advance target */
    uint64_t target; /* the advance in progress */
    size_t fired;
} st;

static void model_schedule(size_t i, uint64_t deadline, bool in_callback)
{
    flare_timer_schedule(st.w, &st.timers[i], deadline);
    st.m[i].active = true;
    st.m[i].deadline = deadline;
    st.m[i].late = in_callback && deadline <= st.target;
}

static void on_fire(flare_timer *t, void *data)
{
    size_t i = (size_t)(uintptr_t)data;
    model_timer *m = &st.m[i];
    FUZZ_CHECK(t == &st.timers[i]);
    FUZZ_CHECK(!flare_timer_active(t));
    FUZZ_CHECK(m->active);                /* never a cancelled or already fired timer */
    FUZZ_CHECK(m->deadline <= st.target); /* never early */
    m->active = false;
    st.fired++;
    switch (m->action) {
    case ACT_RESCHEDULE_SELF:
        model_schedule(i, st.target + 1 + m->arg, true);
        break;
    case ACT_CANCEL_OTHER:
        flare_timer_cancel(st.w, &st.timers[m->arg % TIMERS]);
        st.m[m->arg % TIMERS].active = false;
        break;
    case ACT_SCHEDULE_OTHER:
        /* May land at or before the target: then it is due now or at the next advance. */
        model_schedule(m->arg % TIMERS, m->deadline + m->arg, true);
        break;
    default:
        break;
    }
}

static uint64_t span(uint8_t b, unsigned scale)
{
    return (uint64_t)b << (6 * scale);
}

static void check_state(void)
{
    size_t active = 0;
    uint64_t earliest = UINT64_MAX;
    for (size_t i = 0; i < TIMERS; i++) {
        FUZZ_CHECK(flare_timer_active(&st.timers[i]) == st.m[i].active);
        if (!st.m[i].active) continue;
        active++;
        if (st.m[i].deadline < earliest) earliest = st.m[i].deadline;
    }
    FUZZ_CHECK(flare_timer_wheel_count(st.w) == active);
    uint64_t next = flare_timer_wheel_next_deadline(st.w);
    if (!active) {
        FUZZ_CHECK(next == UINT64_MAX);
        FUZZ_CHECK(flare_timer_wheel_timeout(st.w, st.now) == -1);
        return;
    }
    /* A lower bound; a timer already in the past makes it "now". */
    FUZZ_CHECK(next <= (earliest > st.now ? earliest : st.now));
    int timeout = flare_timer_wheel_timeout(st.w, st.now);
    FUZZ_CHECK(timeout >= 0);
    if (next <= st.now) FUZZ_CHECK(timeout == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&st, 0, sizeof st);
    st.now = st.target = START;
    if (flare_timer_wheel_new(&st.w, START, NULL) < 0) return 0;
    for (size_t i = 0; i < TIMERS; i++)
        flare_timer_init(&st.timers[i], on_fire, (void *)(uintptr_t)i);

    for (size_t pos = 0; pos + 3 <= size && pos < 3 * 2000; pos += 3) {
        uint8_t op = data[pos], a = data[pos + 1], b = data[pos + 2];
        size_t i = a % TIMERS;
        unsigned scale = (op >> 3) & 3;
        switch ((op & 7) % 5) {
        case 0:
            model_schedule(i, st.now + span(b, scale), false);
            break;
        case 1:
            model_schedule(i, st.now > b ? st.now - b : 0, false);
            break;
        case 2:
            flare_timer_cancel(st.w, &st.timers[i]);
            st.m[i].active = false;
            break;
        case 3: {
            /* Advancing costs a step per 64 ms, so long spans stay under ~70 min. */
            st.target = st.now + span(b, scale < 3 ? scale : 2) * (scale < 3 ? 1 : 4) + (op >> 5);
            for (size_t k = 0; k < TIMERS; k++)
                st.m[k].late = false;
            /* Whatever was left due by callbacks of the last advance fires now. */
            st.fired = 0;
            size_t n = flare_timer_wheel_advance(st.w, st.target);
            FUZZ_CHECK(n == st.fired);
            st.now = st.target;
            for (size_t k = 0; k < TIMERS; k++)
                if (st.m[k].active && st.m[k].deadline <= st.now) FUZZ_CHECK(st.m[k].late);
            break;
        }
        default:
            st.m[i].action = b % 4;
            st.m[i].arg = a >> 4 | (unsigned)(b >> 2) << 4;
            break;
        }
        check_state();
    }
    flare_timer_wheel_free(st.w);
    return 0;
}
