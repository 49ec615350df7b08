/*
 * version.h: flared's version string, reported by `flared -v` and the status
 * route. A build may override it with -DFLARED_VERSION="...".
 */
#ifndef FLARED_VERSION_H
#define FLARED_VERSION_H

#ifndef FLARED_VERSION
#define FLARED_VERSION "0.1.0"
#endif

#endif
