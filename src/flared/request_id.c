/*
 * request_id.c: the id of request n is P1(n) || P2(n), two 64-bit keyed
 * permutations of the serial. Being permutations, two serials of one worker never
 * share an id; with independent random keys, two workers (or two runs) collide only
 * by chance, 2^-128 per pair. No syscall and no allocation per id; the key is
 * drawn once per process. The ids are unique, not secret: they are not meant to
 * resist someone who sees many of them and wants to predict the next.
 */
#include "request_id.h"

#include <string.h>
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

/* Two digits per byte from a table: half the steps of a digit at a time. */
static void put_hex(char *out, uint64_t v)
{
    static const char pairs[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
                                "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
                                "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
                                "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
                                "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
                                "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
                                "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
                                "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    for (int i = 7; i >= 0; i--) {
        memcpy(out + 2 * i, pairs + 2 * (v & 0xff), 2);
        v >>= 8;
    }
}

void flared_request_id(uint64_t serial, char *out)
{
    /* Each half: key, mix, key, mix; xor and mix are bijections, so is each half. */
    put_hex(out, mix(mix(serial ^ key[0]) ^ key[1]));
    put_hex(out + 16, mix(mix(serial ^ key[2]) ^ key[3]));
}
