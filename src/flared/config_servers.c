/*
 * config_servers.c: the one change a loaded config takes, an upstream's servers replaced by
 * the master's `resolve` (master_resolve.c), so that a reload for new addresses starts its
 * workers on the config that runs instead of reading the file again. Each replacement is a
 * block of its own; a block no upstream uses any more is freed, except the one replaced
 * last, which a reload that fails points the upstream back at.
 */
#include "config.h"
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

static bool in_use(const flared_config *cfg, const flared_cfg_servers *block)
{
    for (size_t i = 0; i < cfg->upstream_count; i++)
        if (cfg->upstreams[i].servers == block->servers) return true;
    return false;
}

static void free_unused(config_obj *obj, const flared_upstream_server *replaced)
{
    for (flared_cfg_servers **p = &obj->servers_set; *p;) {
        flared_cfg_servers *b = *p;
        if (b->servers == replaced || in_use(&obj->cfg, b)) {
            p = &b->next;
            continue;
        }
        *p = b->next;
        free(b);
    }
}

int flared_config_set_servers(flared_config *cfg, size_t upstream,
                              const flared_upstream_server *servers, size_t count, flare_error *err)
{
    config_obj *obj = (config_obj *)cfg;
    flared_cfg_servers *block =
        malloc(sizeof *block + count * (sizeof block->servers[0] + FLARE_SOCK_ADDR_STR_MAX));
    if (!block)
        return flare_error_set(err, FLARE_ENOMEM, 0, "upstream '%s': out of memory",
                               cfg->upstreams[upstream].name);
    char *text = (char *)&block->servers[count];
    for (size_t i = 0; i < count; i++) {
        flared_upstream_server *sv = &block->servers[i];
        *sv = servers[i];
        /* A host name's server is named by its address, as config load names it. */
        if (sv->name) {
            flare_sock_addr_format(&sv->addr, text, FLARE_SOCK_ADDR_STR_MAX);
            sv->address = text;
            text += FLARE_SOCK_ADDR_STR_MAX;
        }
    }
    block->next = obj->servers_set;
    obj->servers_set = block;
    /* The config's memory is its own: only its pointers to it are const. */
    flared_upstream *u = (flared_upstream *)&cfg->upstreams[upstream];
    const flared_upstream_server *replaced = u->servers;
    u->servers = block->servers;
    u->server_count = count;
    free_unused(obj, replaced);
    return 0;
}

void flared_cfg_free_servers_set(config_obj *obj)
{
    while (obj->servers_set) {
        flared_cfg_servers *next = obj->servers_set->next;
        free(obj->servers_set);
        obj->servers_set = next;
    }
}
