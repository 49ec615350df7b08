/*
 * clock.c: monotonic milliseconds for timers and a cached wall clock whose
 * RFC 9110 §5.6.7 IMF-fixdate string is rebuilt only when the second changes,
 * so a loop turn that answers many requests formats the date once at most.
 */
#include "flare/runtime.h"

#include <string.h>
#include <time.h>

static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

uint64_t flare_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int flare_monotonic_ms_until(uint64_t deadline_ms)
{
    if (deadline_ms == UINT64_MAX) return -1;
    uint64_t now = flare_monotonic_ms();
    if (now >= deadline_ms) return 0;
    uint64_t left = deadline_ms - now;
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

size_t flare_format_http_date(time_t t, char out[FLARE_IMF_FIXDATE_LEN + 1])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    /* "Tue, 24 Nov 2026 14:00:00 GMT" */
    memcpy(out, day_names[tm.tm_wday], 3);
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, month_names[tm.tm_mon], 3);
    out[11] = ' ';
    int year = tm.tm_year + 1900;
    put2(out + 12, (year / 100) % 100);
    put2(out + 14, year % 100);
    out[16] = ' ';
    put2(out + 17, tm.tm_hour);
    out[19] = ':';
    put2(out + 20, tm.tm_min);
    out[22] = ':';
    put2(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 4);
    out[FLARE_IMF_FIXDATE_LEN] = '\0';
    return FLARE_IMF_FIXDATE_LEN;
}

void flare_clock_init(flare_clock *c)
{
    c->wall_sec = (time_t)-1;
    flare_clock_update(c);
}

void flare_clock_update(flare_clock *c)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    c->monotonic_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    c->monotonic_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != c->wall_sec) {
        c->wall_sec = ts.tv_sec;
        flare_format_http_date(ts.tv_sec, c->http_date);
    }
}
