/*
 * config_harness.h: loading a config text in a unit test, for the test files of
 * one config section. Relative paths resolve against CONFIG_HARNESS_DIR (define
 * it before including, e.g. to a scratch directory; default "/tmp"); the name in
 * messages is "t.yaml". Include after <cmocka.h> and "config.h". A file that
 * compares messages its own way defines CONFIG_HARNESS_OWN_EXPECT and builds on
 * config_refused.
 */
#ifndef FLARED_TEST_CONFIG_HARNESS_H
#define FLARED_TEST_CONFIG_HARNESS_H

#include <string.h>

#ifndef CONFIG_HARNESS_DIR
#define CONFIG_HARNESS_DIR "/tmp"
#endif

#define CONFIG_HARNESS_FN static __attribute__((unused))

/* Loads yaml, failing the test with the loader's message if it is refused. */
CONFIG_HARNESS_FN flared_config *load_ok(const char *yaml)
{
    flare_error err;
    flare_error_clear(&err);
    flared_config *cfg = NULL;
    int rc =
        flared_config_load_string(yaml, strlen(yaml), "t.yaml", CONFIG_HARNESS_DIR, &cfg, &err);
    if (rc != 0) fail_msg("unexpected error %d: %s", rc, err.message);
    assert_non_null(cfg);
    return cfg;
}

/* yaml[0..len) must be refused as a config error, leaving no config behind (the
 * out pointer starts poisoned, so the loader must reset it); *err holds the message. */
CONFIG_HARNESS_FN void config_refused(const char *yaml, size_t len, flare_error *err)
{
    flare_error_clear(err);
    flared_config *cfg = (flared_config *)err;
    int rc = flared_config_load_string(yaml, len, "t.yaml", CONFIG_HARNESS_DIR, &cfg, err);
    assert_int_equal(rc, FLARE_ECONFIG);
    assert_int_equal(err->code, FLARE_ECONFIG);
    assert_null(cfg);
}

#ifndef CONFIG_HARNESS_OWN_EXPECT
/* yaml[0..len) must be refused as a config error with exactly this message. */
CONFIG_HARNESS_FN void expect_error_len(const char *yaml, size_t len, const char *message)
{
    flare_error err;
    config_refused(yaml, len, &err);
    assert_string_equal(err.message, message);
}

CONFIG_HARNESS_FN void expect_error(const char *yaml, const char *message)
{
    expect_error_len(yaml, strlen(yaml), message);
}
#endif

#endif
