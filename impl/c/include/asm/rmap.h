/* asm/rmap.h: ptep_to_mm, ptep_to_address, pte_chain_lock.
 * The shim declares everything in one place (shim/kernel.h). */
#ifndef SHIM_ASM_RMAP_H
#define SHIM_ASM_RMAP_H
#include <shim/kernel.h>
#endif
