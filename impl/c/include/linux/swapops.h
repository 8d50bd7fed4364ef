/* linux/swapops.h: swp_entry_t, swp_entry_to_pte; swap_duplicate and SWAP_* come with it here.
 * The shim declares everything in one place (shim/kernel.h). */
#ifndef SHIM_LINUX_SWAPOPS_H
#define SHIM_LINUX_SWAPOPS_H
#include <shim/kernel.h>
#endif
