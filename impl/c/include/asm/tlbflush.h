/* asm/tlbflush.h: flush_tlb_page.
 * The shim declares everything in one place (shim/kernel.h). */
#ifndef SHIM_ASM_TLBFLUSH_H
#define SHIM_ASM_TLBFLUSH_H
#include <shim/kernel.h>
#endif
