/* The seed's entry points and the callers around them (callers.c). */
#ifndef SHIM_HARNESS_H
#define SHIM_HARNESS_H

#include <shim/kernel.h>

/* mm/rmap.c */
int page_referenced(struct page *page);
void page_add_rmap(struct page *page, pte_t *ptep);
void page_remove_rmap(struct page *page, pte_t *ptep);
int try_to_unmap(struct page *page);
int try_to_unmap_one(struct page *page, pte_t *ptep); /* static there; objcopy makes it global */
void pte_chain_init(void);

/* Caller-side preconditions that do not hold (nothing ran); the Python side
 * words each as impl/callers.py does. */
enum {
	PRE_NONE,
	PRE_PRESENT,
	PRE_LOCK_HELD,
	PRE_NOTHING_TO_ZAP,
	PRE_RESERVED,
	PRE_NO_MAPPING,
	PRE_PAGE_LOCKED,
	PRE_CHAINLOCK,
	PRE_LRU_LOCK,
};

/* shrink_cache's placement of a page (spec.ops.DISPOSITION). */
enum { DISP_FREE, DISP_KEEP, DISP_ACTIVATE };

int map_pte(pte_t *ptep, struct page *page, int dirty);
int zap_pte(pte_t *ptep);
int reclaim(struct page *page, int *referenced, int *swap_result, int *disposition);
int referenced_under_lock(struct page *page);

#endif /* SHIM_HARNESS_H */
