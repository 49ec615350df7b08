/*
 * server_ipcount.c: open connections per client address, for
 * max_connections_per_ip, an IPv6 client counted by its address's prefix
 * (max_connections_per_ip_ipv6_prefix). An open-addressing table sized once at twice
 * max_connections, so it can never fill and counting allocates nothing;
 * deletion shifts entries back, so lookups need no tombstones.
 */
#include "server_internal.h"

#include <stdlib.h>
#include <string.h>

struct ip_slot {
    uint32_t count; /* 0: empty */
    uint8_t family;
    uint8_t bytes[16];
};

static uint32_t hash_ip(const flare_ip_addr *ip)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < 16; i++)
        h = (h ^ ip->bytes[i]) * 16777619u;
    return h ^ (uint32_t)ip->family;
}

int flare_http__ipcount_init(flare_http_server *srv)
{
    size_t cap = 64;
    while (cap < srv->cfg.max_connections * 2)
        cap *= 2;
    srv->ip_slots = calloc(cap, sizeof *srv->ip_slots);
    if (!srv->ip_slots) return FLARE_ENOMEM;
    srv->ip_mask = cap - 1;
    return 0;
}

void flare_http__ipcount_free(flare_http_server *srv)
{
    free(srv->ip_slots);
    srv->ip_slots = NULL;
}

static bool same(const ip_slot *s, const flare_ip_addr *ip)
{
    return s->family == ip->family && memcmp(s->bytes, ip->bytes, 16) == 0;
}

static size_t find(const flare_http_server *srv, const flare_ip_addr *ip)
{
    size_t i = hash_ip(ip) & srv->ip_mask;
    while (srv->ip_slots[i].count && !same(&srv->ip_slots[i], ip))
        i = (i + 1) & srv->ip_mask;
    return i;
}

/* An IPv4 client counts as itself whether it came over IPv4 or IPv4-mapped IPv6; an
 * IPv6 one as its prefix, or a host with a /64 could open as many as it has addresses. */
static flare_ip_addr key_of(const flare_http_server *srv, const flare_sock_addr *peer)
{
    return flare_ip_client_key(&peer->ip, srv->cfg.max_connections_per_ip_ipv6_prefix);
}

bool flare_http__ipcount_acquire(flare_http_server *srv, const flare_sock_addr *peer)
{
    if (!srv->ip_slots || !peer->ip.family) return true;
    flare_ip_addr ip = key_of(srv, peer);
    ip_slot *s = &srv->ip_slots[find(srv, &ip)];
    if (s->count >= srv->cfg.max_connections_per_ip) return false;
    if (!s->count) {
        s->family = (uint8_t)ip.family;
        memcpy(s->bytes, ip.bytes, 16);
    }
    s->count++;
    return true;
}

void flare_http__ipcount_release(flare_http_server *srv, const flare_sock_addr *peer)
{
    if (!srv->ip_slots || !peer->ip.family) return;
    flare_ip_addr ip = key_of(srv, peer);
    size_t i = find(srv, &ip);
    if (!srv->ip_slots[i].count || --srv->ip_slots[i].count) return;
    /* Backward-shift deletion: pull later members of the probe run into the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & srv->ip_mask; srv->ip_slots[j].count; j = (j + 1) & srv->ip_mask) {
        flare_ip_addr k = {.family = srv->ip_slots[j].family};
        memcpy(k.bytes, srv->ip_slots[j].bytes, 16);
        size_t home = hash_ip(&k) & srv->ip_mask;
        /* j may move to the hole unless its home lies cyclically in (hole, j]. */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays) continue;
        srv->ip_slots[hole] = srv->ip_slots[j];
        srv->ip_slots[j].count = 0;
        hole = j;
    }
}
