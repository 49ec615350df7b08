/*
 * config_harness.h: loading a config text in a unit test, for the test files of
 * one config section. Relative paths resolve against /tmp; the name in messages
 * is "t.yaml". Include after <cmocka.h> and "config.h".
 */
#ifndef FLARED_TEST_CONFIG_HARNESS_H
#define FLARED_TEST_CONFIG_HARNESS_H

#include <string.h>

/* Loads yaml, failing the test with the loader's message if it is refused. */
static flared_config *load_ok(const char *yaml)
{
    flare_error err;
    flare_error_clear(&err);
    flared_config *cfg = NULL;
    int rc = flared_config_load_string(yaml, strlen(yaml), "t.yaml", "/tmp", &cfg, &err);
    if (rc != 0) fail_msg("unexpected error %d: %s", rc, err.message);
    return cfg;
}

/* yaml must be refused as a config error with exactly this message. */
static void expect_error(const char *yaml, const char *message)
{
    flare_error err;
    flare_error_clear(&err);
    flared_config *cfg = NULL;
    int rc = flared_config_load_string(yaml, strlen(yaml), "t.yaml", "/tmp", &cfg, &err);
    assert_int_equal(rc, FLARE_ECONFIG);
    assert_null(cfg);
    assert_string_equal(err.message, message);
}

#endif
