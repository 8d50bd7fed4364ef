/* asm/smplock.h: spinlocks: spin_trylock, spin_unlock.
 * The shim declares everything in one place (shim/kernel.h). */
#ifndef SHIM_ASM_SMPLOCK_H
#define SHIM_ASM_SMPLOCK_H
#include <shim/kernel.h>
#endif
