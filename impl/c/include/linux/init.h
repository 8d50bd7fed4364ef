/* linux/init.h: __init.
 * The shim declares everything in one place (shim/kernel.h). */
#ifndef SHIM_LINUX_INIT_H
#define SHIM_LINUX_INIT_H
#include <shim/kernel.h>
#endif
