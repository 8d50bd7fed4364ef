/*
 * The modelled machine's state, for the harness (callers.c, protocol.c):
 * what impl/kernel.py's Kernel holds, as arrays indexed the way the Python
 * side numbers pages, mms and ptes (world order).
 */
#ifndef SHIM_WORLD_H
#define SHIM_WORLD_H

#include <setjmp.h>
#include <stdint.h>

#include <shim/kernel.h>

/* One entry of the event log (impl/kernel.py's Event): the kinds are
 * SHIM_EV_* of shim/kernel.h, in impl/c/mirror.py's EVENT_KINDS order. */
struct shim_event {
	int kind;
	int mm;
	unsigned long address; /* 0 for lock and unlock */
	int present;           /* a pte change: the pte held a present translation */
};

/* A slab object the model knows; the key hides the pointer (~ptr), so
 * that LeakSanitizer does not count the registry as a reference. */
struct shim_obj {
	uintptr_t key;
	unsigned long serial;
	int live;
	unsigned long seen; /* dump epoch */
};

struct shim_world {
	struct page *pages;
	unsigned long *pfn;
	int *valid;
	int npages, maxpages;
	struct mm_struct *mms;
	int nmms, maxmms;
	pte_t *ptes;
	int *pte_mm;
	unsigned long *pte_address;
	int nptes, maxptes;
	unsigned long *swap_entry;
	unsigned long *swap_count;
	int nswap, maxswap;
	struct address_space **spaces; /* mapping id k > 0 is spaces[k - 1] */
	int nspaces;
	spinlock_t pagemap_lru_lock;
	int fail_next;
	int fail_after; /* allocations that succeed before fail_next start failing */
	struct shim_event *events;
	int nevents, maxevents;
	struct shim_obj *objs; /* open addressing on key */
	size_t objs_cap, objs_used;
	unsigned long serial;
	kmem_cache_t *caches[4]; /* made by pte_chain_init; freed at reset */
	int ncaches;
	size_t obj_size;
};

extern struct shim_world W;

/* 2.5.31's struct pte_chain {next, ptep}: the harness reads chains through
 * this view (the seed's struct is private to rmap.c); kmem_cache_create's
 * size is checked against it, so another layout is refused, not misread. */
struct shim_chain_view {
	void *next;
	pte_t *ptep;
};

/* The fault that ended the last command, and where to jump on one. */
struct shim_fault_info {
	int kind;
	char func[64];
	char file[64];
	int line;
	char why[256];
	uintptr_t pc;   /* SIGSEGV: the faulting instruction */
	uintptr_t addr; /* SIGSEGV: the address it touched */
	int write;      /* SIGSEGV: 1 write, 0 read, -1 unknown */
};
extern struct shim_fault_info shim_last_fault;
extern sigjmp_buf *shim_jump;

void shim_reset(int maxpages, int maxmms, int maxptes);
struct address_space *shim_space(int id);
int shim_space_id(const struct address_space *space);
struct shim_obj *shim_obj_find(const void *ptr);
void *shim_obj_ptr(const struct shim_obj *obj);
int shim_pte_index(const void *ptr);
void shim_set_vmas(int mm, int n, const unsigned long *start, const unsigned long *end,
		   const unsigned long *flags);
int shim_swap_slot(unsigned long entry); /* index in the swap map, or -1 */
void shim_set_swap(unsigned long entry, unsigned long count);

#endif /* SHIM_WORLD_H */
