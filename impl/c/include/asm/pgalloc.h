/* asm/pgalloc.h: pte_t and its accessors (pte_present, pte_pfn, set_pte, ...).
 * The shim declares everything in one place (shim/kernel.h). */
#ifndef SHIM_ASM_PGALLOC_H
#define SHIM_ASM_PGALLOC_H
#include <shim/kernel.h>
#endif
