/* linux/slab.h: kmem_cache_t, kmem_cache_create/alloc/free, GFP_ATOMIC.
 * The shim declares everything in one place (shim/kernel.h). */
#ifndef SHIM_LINUX_SLAB_H
#define SHIM_LINUX_SLAB_H
#include <shim/kernel.h>
#endif
