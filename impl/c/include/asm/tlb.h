/* asm/tlb.h: flush_cache_page.
 * The shim declares everything in one place (shim/kernel.h). */
#ifndef SHIM_ASM_TLB_H
#define SHIM_ASM_TLB_H
#include <shim/kernel.h>
#endif
