/*
 * vips_dl.h - libvips and GLib reached through one table of function
 * pointers, filled by dlopen() when a mode that handles pixels starts.
 *
 * Why: libvips pulls in about seventy shared libraries (GLib, the image
 * codecs, lcms, ImageMagick's and poppler's dependencies...). Linked
 * normally, every easel process maps and relocates all of them at exec,
 * and that alone is 14 MB of RSS, most of what `easel controller` would
 * use while it only routes jobs. The controller, the API and the CLI never
 * decode an image, so they never load libvips; `easel job`, `easel worker`
 * and `easel image` do, through easel_imaging_init().
 *
 * Included by imaging_int.h after <vips/vips.h>: every libvips or GLib
 * function the imaging module calls (including those the headers' macros
 * expand to, such as vips_init from VIPS_INIT) is renamed to its table
 * slot. Types, constants and struct layouts still come from the headers
 * the build compiled against, and the soname pins the ABI those headers
 * describe. Adding a call to a new libvips function means adding it to
 * EASEL_VIPS_FUNCS and below; the link fails until then, since nothing
 * links libvips.
 */
#ifndef EASEL_VIPS_DL_H
#define EASEL_VIPS_DL_H

#include <vips/vips.h>

#include <stddef.h>

#define EASEL_VIPS_FUNCS(X) \
    X(g_free) \
    X(g_log) \
    X(g_malloc) \
    X(g_malloc0) \
    X(g_object_ref) \
    X(g_object_unref) \
    X(g_signal_connect_data) \
    X(g_signal_handler_disconnect) \
    X(g_strfreev) \
    X(vips_area_unref) \
    X(vips_array_double_new) \
    X(vips_autorot) \
    X(vips_bandmean) \
    X(vips_blob_get) \
    X(vips_block_untrusted_set) \
    X(vips_cache_set_max) \
    X(vips_cache_set_max_files) \
    X(vips_cache_set_max_mem) \
    X(vips_cast_uchar) \
    X(vips_colourspace) \
    X(vips_concurrency_set) \
    X(vips_copy) \
    X(vips_embed) \
    X(vips_error) \
    X(vips_error_buffer_copy) \
    X(vips_error_clear) \
    X(vips_extract_area) \
    X(vips_extract_band) \
    X(vips_flatten) \
    X(vips_format_sizeof_unsafe) \
    X(vips_icc_transform) \
    X(vips_ifthenelse) \
    X(vips_image_copy_memory) \
    X(vips_image_get_bands) \
    X(vips_image_get_fields) \
    X(vips_image_get_format) \
    X(vips_image_get_height) \
    X(vips_image_get_int) \
    X(vips_image_get_interpretation) \
    X(vips_image_get_typeof) \
    X(vips_image_get_width) \
    X(vips_image_hasalpha) \
    X(vips_image_new_from_buffer) \
    X(vips_image_new_from_memory_copy) \
    X(vips_image_remove) \
    X(vips_image_set_blob_copy) \
    X(vips_image_set_kill) \
    X(vips_image_set_progress) \
    X(vips_image_wio_input) \
    X(vips_init) \
    X(vips_insert) \
    X(vips_jpegsave_buffer) \
    X(vips_linear) \
    X(vips_linear1) \
    X(vips_multiply) \
    X(vips_operation_block_set) \
    X(vips_pngsave_buffer) \
    X(vips_profile_load) \
    X(vips_resize) \
    X(vips_rshift_const1) \
    X(vips_shutdown) \
    X(vips_stats) \
    X(vips_thread_shutdown) \
    X(vips_thumbnail_buffer) \
    X(vips_thumbnail_image) \
    X(vips_version) \
    X(vips_version_string) \
    X(vips_webpsave_buffer) \
    X(vips_xyz)

struct img_vips_api {
#define EASEL_VIPS_SLOT(name) __typeof__(name) *f_##name;
    EASEL_VIPS_FUNCS(EASEL_VIPS_SLOT)
#undef EASEL_VIPS_SLOT
};

extern struct img_vips_api img_vips;

/* Loads libvips (once) and fills img_vips. 0, or -1 with a one-line reason
 * in why (the soname, dlerror's text or the missing symbol). */
int img_vips_open(char *why, size_t len);

#define g_free (*img_vips.f_g_free)
#define g_log (*img_vips.f_g_log)
#define g_malloc (*img_vips.f_g_malloc)
#define g_malloc0 (*img_vips.f_g_malloc0)
/* GLib defines g_object_ref() as a macro adding a cast to the argument's
 * type; through the table it returns a gpointer, which C converts. */
#undef g_object_ref
#define g_object_ref (*img_vips.f_g_object_ref)
#define g_object_unref (*img_vips.f_g_object_unref)
#define g_signal_connect_data (*img_vips.f_g_signal_connect_data)
#define g_signal_handler_disconnect (*img_vips.f_g_signal_handler_disconnect)
#define g_strfreev (*img_vips.f_g_strfreev)
#define vips_area_unref (*img_vips.f_vips_area_unref)
#define vips_array_double_new (*img_vips.f_vips_array_double_new)
#define vips_autorot (*img_vips.f_vips_autorot)
#define vips_bandmean (*img_vips.f_vips_bandmean)
#define vips_blob_get (*img_vips.f_vips_blob_get)
#define vips_block_untrusted_set (*img_vips.f_vips_block_untrusted_set)
#define vips_cache_set_max (*img_vips.f_vips_cache_set_max)
#define vips_cache_set_max_files (*img_vips.f_vips_cache_set_max_files)
#define vips_cache_set_max_mem (*img_vips.f_vips_cache_set_max_mem)
#define vips_cast_uchar (*img_vips.f_vips_cast_uchar)
#define vips_colourspace (*img_vips.f_vips_colourspace)
#define vips_concurrency_set (*img_vips.f_vips_concurrency_set)
#define vips_copy (*img_vips.f_vips_copy)
#define vips_embed (*img_vips.f_vips_embed)
#define vips_error (*img_vips.f_vips_error)
#define vips_error_buffer_copy (*img_vips.f_vips_error_buffer_copy)
#define vips_error_clear (*img_vips.f_vips_error_clear)
#define vips_extract_area (*img_vips.f_vips_extract_area)
#define vips_extract_band (*img_vips.f_vips_extract_band)
#define vips_flatten (*img_vips.f_vips_flatten)
#define vips_format_sizeof_unsafe (*img_vips.f_vips_format_sizeof_unsafe)
#define vips_icc_transform (*img_vips.f_vips_icc_transform)
#define vips_ifthenelse (*img_vips.f_vips_ifthenelse)
#define vips_image_copy_memory (*img_vips.f_vips_image_copy_memory)
#define vips_image_get_bands (*img_vips.f_vips_image_get_bands)
#define vips_image_get_fields (*img_vips.f_vips_image_get_fields)
#define vips_image_get_format (*img_vips.f_vips_image_get_format)
#define vips_image_get_height (*img_vips.f_vips_image_get_height)
#define vips_image_get_int (*img_vips.f_vips_image_get_int)
#define vips_image_get_interpretation (*img_vips.f_vips_image_get_interpretation)
#define vips_image_get_typeof (*img_vips.f_vips_image_get_typeof)
#define vips_image_get_width (*img_vips.f_vips_image_get_width)
#define vips_image_hasalpha (*img_vips.f_vips_image_hasalpha)
#define vips_image_new_from_buffer (*img_vips.f_vips_image_new_from_buffer)
#define vips_image_new_from_memory_copy (*img_vips.f_vips_image_new_from_memory_copy)
#define vips_image_remove (*img_vips.f_vips_image_remove)
#define vips_image_set_blob_copy (*img_vips.f_vips_image_set_blob_copy)
#define vips_image_set_kill (*img_vips.f_vips_image_set_kill)
#define vips_image_set_progress (*img_vips.f_vips_image_set_progress)
#define vips_image_wio_input (*img_vips.f_vips_image_wio_input)
#define vips_init (*img_vips.f_vips_init)
#define vips_insert (*img_vips.f_vips_insert)
#define vips_jpegsave_buffer (*img_vips.f_vips_jpegsave_buffer)
#define vips_linear (*img_vips.f_vips_linear)
#define vips_linear1 (*img_vips.f_vips_linear1)
#define vips_multiply (*img_vips.f_vips_multiply)
#define vips_operation_block_set (*img_vips.f_vips_operation_block_set)
#define vips_pngsave_buffer (*img_vips.f_vips_pngsave_buffer)
#define vips_profile_load (*img_vips.f_vips_profile_load)
#define vips_resize (*img_vips.f_vips_resize)
#define vips_rshift_const1 (*img_vips.f_vips_rshift_const1)
#define vips_shutdown (*img_vips.f_vips_shutdown)
#define vips_stats (*img_vips.f_vips_stats)
#define vips_thread_shutdown (*img_vips.f_vips_thread_shutdown)
#define vips_thumbnail_buffer (*img_vips.f_vips_thumbnail_buffer)
#define vips_thumbnail_image (*img_vips.f_vips_thumbnail_image)
#define vips_version (*img_vips.f_vips_version)
#define vips_version_string (*img_vips.f_vips_version_string)
#define vips_webpsave_buffer (*img_vips.f_vips_webpsave_buffer)
#define vips_xyz (*img_vips.f_vips_xyz)

#endif
