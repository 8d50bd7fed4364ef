/* linux/mm.h: struct page, page flags, mm_struct, vm_area_struct, find_vma, pfn_valid, page_state.
 * The shim declares everything in one place (shim/kernel.h). */
#ifndef SHIM_LINUX_MM_H
#define SHIM_LINUX_MM_H
#include <shim/kernel.h>
#endif
