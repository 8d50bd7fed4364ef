/* linux/pagemap.h: page_cache_release.
 * The shim declares everything in one place (shim/kernel.h). */
#ifndef SHIM_LINUX_PAGEMAP_H
#define SHIM_LINUX_PAGEMAP_H
#include <shim/kernel.h>
#endif
