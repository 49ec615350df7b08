/*
 * timer_wheel.c: a hierarchical hashed timing wheel with 1 ms resolution.
 * Four levels of 64 slots cover 64^4 ms (about 4.6 hours); longer timers wait
 * on an overflow list that is re-examined each time level 3 turns. Schedule and
 * cancel are O(1) list operations; advance visits only occupied slots, found
 * through a 64-bit occupancy mask per level.
 *
 * Invariants: a timer in level k (k >= 1) has (deadline >> 6k) - (now >> 6k) in
 * [1, 64], so it is cascaded exactly when `now` enters the level-k block holding
 * its deadline; a timer in level 0 has deadline - now in [1, 63]. Timers due at
 * or before `now` sit on the `due` list and fire at the next advance. Hence no
 * timer fires early, and every timer fires at the first advance past its deadline.
 */
#include "flare/runtime.h"

#include <stdlib.h>

#define LEVELS    4
#define SLOT_BITS 6
#define SLOTS     (1u << SLOT_BITS)
#define SLOT_MASK (SLOTS - 1)

/* Sentinel-headed circular list. */
typedef struct timer_list {
    flare_timer head;
} timer_list;

struct flare_timer_wheel {
    uint64_t now_ms;
    size_t count;
    uint64_t occupied[LEVELS];
    timer_list slots[LEVELS][SLOTS];
    timer_list due;
    timer_list overflow;
};

static void list_init(timer_list *l)
{
    l->head.next = l->head.prev = &l->head;
}

static bool list_empty(const timer_list *l)
{
    return l->head.next == &l->head;
}

static void list_push(timer_list *l, flare_timer *t)
{
    t->prev = l->head.prev;
    t->next = &l->head;
    l->head.prev->next = t;
    l->head.prev = t;
}

/* Moves every timer of `from` onto the empty list `to`. */
static void list_take(timer_list *to, timer_list *from)
{
    list_init(to);
    if (list_empty(from)) return;
    to->head.next = from->head.next;
    to->head.prev = from->head.prev;
    to->head.next->prev = &to->head;
    to->head.prev->next = &to->head;
    list_init(from);
}

static unsigned level_shift(int level)
{
    return (unsigned)level * SLOT_BITS;
}

/* Places an unlinked timer by its deadline relative to w->now_ms. */
static void place(flare_timer_wheel *w, flare_timer *t)
{
    uint64_t deadline = t->deadline_ms;
    if (deadline <= w->now_ms) {
        list_push(&w->due, t);
        return;
    }
    uint64_t delta = deadline - w->now_ms;
    for (int level = 0; level < LEVELS; level++) {
        if (delta < (1ull << level_shift(level + 1))) {
            unsigned slot = (unsigned)(deadline >> level_shift(level)) & SLOT_MASK;
            list_push(&w->slots[level][slot], t);
            w->occupied[level] |= 1ull << slot;
            return;
        }
    }
    list_push(&w->overflow, t);
}

/* Which wheel slot a list sentinel is, if any (due and overflow are not slots). */
static bool sentinel_slot(const flare_timer_wheel *w, const flare_timer *sentinel, int *level,
                          unsigned *slot)
{
    uintptr_t p = (uintptr_t)sentinel;
    uintptr_t first = (uintptr_t)&w->slots[0][0];
    uintptr_t end = (uintptr_t)&w->slots[LEVELS - 1][SLOTS - 1] + sizeof(timer_list);
    if (p < first || p >= end) return false;
    size_t index = (p - first) / sizeof(timer_list);
    *level = (int)(index / SLOTS);
    *slot = (unsigned)(index % SLOTS);
    return true;
}

/* Unlinks t and clears its slot's bit when the slot empties. */
static void unlink_timer(flare_timer_wheel *w, flare_timer *t)
{
    flare_timer *next = t->next;
    t->prev->next = next;
    next->prev = t->prev;
    int level;
    unsigned slot;
    /* next == prev only when the list is now empty, so next is its sentinel. */
    if (next == t->prev && sentinel_slot(w, next, &level, &slot))
        w->occupied[level] &= ~(1ull << slot);
    t->next = t->prev = NULL;
}

void flare_timer_init(flare_timer *t, flare_timer_fn fn, void *data)
{
    t->next = t->prev = NULL;
    t->deadline_ms = 0;
    t->fn = fn;
    t->data = data;
}

int flare_timer_wheel_new(flare_timer_wheel **out, uint64_t now_ms, flare_error *err)
{
    flare_timer_wheel *w = calloc(1, sizeof *w);
    if (!w) return flare_error_set(err, FLARE_ENOMEM, 0, "timer wheel: out of memory");
    w->now_ms = now_ms;
    for (int level = 0; level < LEVELS; level++)
        for (unsigned slot = 0; slot < SLOTS; slot++)
            list_init(&w->slots[level][slot]);
    list_init(&w->due);
    list_init(&w->overflow);
    *out = w;
    return 0;
}

void flare_timer_wheel_free(flare_timer_wheel *w)
{
    free(w);
}

void flare_timer_schedule(flare_timer_wheel *w, flare_timer *t, uint64_t deadline_ms)
{
    if (flare_timer_active(t))
        unlink_timer(w, t);
    else
        w->count++;
    t->deadline_ms = deadline_ms;
    place(w, t);
}

void flare_timer_cancel(flare_timer_wheel *w, flare_timer *t)
{
    if (!flare_timer_active(t)) return;
    unlink_timer(w, t);
    w->count--;
}

/* Re-places every timer of a list (a cascading slot or the overflow list). */
static void replace_all(flare_timer_wheel *w, timer_list *from)
{
    timer_list moving;
    list_take(&moving, from);
    while (!list_empty(&moving)) {
        flare_timer *t = moving.head.next;
        moving.head.next = t->next;
        t->next->prev = &moving.head;
        place(w, t);
    }
}

static size_t fire_list(flare_timer_wheel *w, timer_list *l)
{
    size_t fired = 0;
    timer_list firing;
    list_take(&firing, l);
    while (!list_empty(&firing)) {
        flare_timer *t = firing.head.next;
        firing.head.next = t->next;
        t->next->prev = &firing.head;
        t->next = t->prev = NULL;
        w->count--;
        fired++;
        t->fn(t, t->data);
    }
    return fired;
}

/* Cascades the higher-level slots whose block begins at w->now_ms. */
static void cascade(flare_timer_wheel *w)
{
    for (int level = LEVELS - 1; level >= 1; level--) {
        uint64_t span = 1ull << level_shift(level);
        if (w->now_ms % span != 0) continue;
        if (level == LEVELS - 1) replace_all(w, &w->overflow);
        unsigned slot = (unsigned)(w->now_ms >> level_shift(level)) & SLOT_MASK;
        if (w->occupied[level] & (1ull << slot)) {
            w->occupied[level] &= ~(1ull << slot);
            replace_all(w, &w->slots[level][slot]);
        }
    }
}

/* Next tick after now (<= limit) at which something may happen: the earliest
 * start of an occupied slot's block at any level (where it fires or cascades), or
 * the next level-3 turn while the overflow list holds timers. Nothing is occupied
 * before it, so the empty stretch between is skipped in one step: a wheel left
 * idle for days advances in O(occupied slots), not one step per 64 ms. */
static uint64_t next_event_tick(const flare_timer_wheel *w, uint64_t limit)
{
    uint64_t next = flare_timer_wheel_next_deadline(w);
    if (next <= w->now_ms) next = w->now_ms + 1; /* due timers re-armed by callbacks */
    return next < limit ? next : limit;
}

size_t flare_timer_wheel_advance(flare_timer_wheel *w, uint64_t now_ms)
{
    size_t fired = fire_list(w, &w->due);
    while (w->now_ms < now_ms) {
        w->now_ms = next_event_tick(w, now_ms);
        cascade(w);
        unsigned slot = (unsigned)(w->now_ms & SLOT_MASK);
        if (w->occupied[0] & (1ull << slot)) {
            w->occupied[0] &= ~(1ull << slot);
            /* Move due timers first so callbacks that reschedule see a clean slot. */
            timer_list *l = &w->slots[0][slot];
            while (!list_empty(l)) {
                flare_timer *t = l->head.next;
                l->head.next = t->next;
                t->next->prev = &l->head;
                list_push(&w->due, t);
            }
        }
        fired += fire_list(w, &w->due);
    }
    return fired;
}

uint64_t flare_timer_wheel_next_deadline(const flare_timer_wheel *w)
{
    if (w->count == 0) return UINT64_MAX;
    if (!list_empty(&w->due)) return w->now_ms;
    uint64_t best = UINT64_MAX;
    for (int level = 0; level < LEVELS; level++) {
        uint64_t mask = w->occupied[level];
        if (!mask) continue;
        unsigned shift = level_shift(level);
        uint64_t block = w->now_ms >> shift;
        unsigned cur = (unsigned)block & SLOT_MASK;
        unsigned rot = (cur + 1) & SLOT_MASK;
        uint64_t rotated = rot ? (mask >> rot) | (mask << (64 - rot)) : mask;
        uint64_t ahead = 1 + (uint64_t)__builtin_ctzll(rotated); /* blocks ahead, 1..64 */
        uint64_t tick = (block + ahead) << shift;                /* start of that block */
        if (tick < best) best = tick;
    }
    if (!list_empty(&w->overflow)) {
        uint64_t span = 1ull << level_shift(LEVELS - 1);
        uint64_t tick = (w->now_ms / span + 1) * span;
        if (tick < best) best = tick;
    }
    return best;
}

int flare_timer_wheel_timeout(const flare_timer_wheel *w, uint64_t now_ms)
{
    uint64_t next = flare_timer_wheel_next_deadline(w);
    if (next == UINT64_MAX) return -1;
    if (next <= now_ms) return 0;
    uint64_t delta = next - now_ms;
    return delta > INT32_MAX ? INT32_MAX : (int)delta;
}

size_t flare_timer_wheel_count(const flare_timer_wheel *w)
{
    return w->count;
}
