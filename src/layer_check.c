/*
 * layer_check.c: an empty translation unit. meson links it into one shared module
 * per layer with -Wl,--no-undefined, so an upward dependency fails to link.
 */
int flare_layer_check_anchor(void);
int flare_layer_check_anchor(void)
{
    return 0;
}
