/*
 * flare.h: every public header of libflare, for applications that want the
 * whole library with one include. Library code includes the layer it needs.
 */
#ifndef FLARE_FLARE_H
#define FLARE_FLARE_H

#include "flare/error.h"
#include "flare/runtime.h"
#include "flare/net.h"
#include "flare/dns.h"
#include "flare/tcp.h"
#include "flare/udp.h"
#include "flare/tls.h"
#include "flare/io.h"
#include "flare/http_parser.h"
#include "flare/http.h"
#include "flare/proxy_protocol.h"
#include "flare/url.h"
#include "flare/encoding.h"
#include "flare/cookie.h"
#include "flare/http_client.h"
#include "flare/ws.h"

/** Version of the library ("0.1.0"). */
const char *flare_version(void);

#endif
