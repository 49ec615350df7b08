/*
 * libflare.c: the version symbol of the combined library. Every other object
 * comes from the per-layer static libraries linked whole into libflare.
 */
const char *flare_version(void);
const char *flare_version(void)
{
    return "0.1.0";
}
