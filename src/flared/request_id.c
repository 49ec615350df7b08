/*
 * request_id.c: the id of request n is P1(n) || P2(n), two 64-bit keyed
 * permutations of the serial. Being permutations, two serials of one worker never
 * share an id; with independent random keys, two workers (or two runs) collide only
 * by chance, 2^-128 per pair. No syscall and no allocation per id; the key is
 * drawn once per process. The ids are unique, not secret: they are not meant to
 * resist someone who sees many of them and wants to predict the next.
 */
#include "request_id.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t key[4];

/* splitmix64's finaliser: a bijection of 64-bit words that spreads every input bit. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void flared_request_id_init(void)
{
    if (getrandom(key, sizeof key, GRND_NONBLOCK) == (ssize_t)sizeof key) return;
    /* No entropy yet (early boot) or no getrandom: what tells processes and runs apart. */
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    uint64_t seed = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
    seed ^= (uint64_t)getpid() << 40 ^ (uint64_t)mono.tv_nsec ^ (uint64_t)(uintptr_t)&seed;
    for (size_t i = 0; i < sizeof key / sizeof key[0]; i++)
        key[i] = mix(seed += 0x9e3779b97f4a7c15u);
}

static void put_hex(char *out, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[v & 15];
        v >>= 4;
    }
}

void flared_request_id(uint64_t serial, char *out)
{
    /* Each half: key, mix, key, mix; xor and mix are bijections, so is each half. */
    put_hex(out, mix(mix(serial ^ key[0]) ^ key[1]));
    put_hex(out + 16, mix(mix(serial ^ key[2]) ^ key[3]));
}
