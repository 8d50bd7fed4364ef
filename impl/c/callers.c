/*
 * The seed's callers, line for line as impl/callers.py has them: what the
 * fault and fork paths do around page_add_rmap (map_pte), what
 * zap_pte_range does around page_remove_rmap (zap_pte), and what
 * shrink_cache does around page_referenced and try_to_unmap (reclaim).
 * They are the harness, not the code under test.  Each first checks its
 * caller-side precondition and answers PRE_* without touching anything.
 */
#include <shim/harness.h>
#include <shim/world.h>

static int lock_free(pte_t *ptep)
{
	return ptep_to_mm(ptep)->page_table_lock.holder == 0;
}

/* The vma of ptep's mm that contains its address, or a stand-in vma of
 * that one page in ptep's mm when none does (impl/callers.py's _vma_of):
 * the flushes name the pte's mm and address either way. */
static struct vm_area_struct *vma_of(pte_t *ptep, struct vm_area_struct *stand_in)
{
	unsigned long address = ptep_to_address(ptep);
	for (struct vm_area_struct *vma = ptep_to_mm(ptep)->mmap; vma; vma = vma->vm_next)
		if (vma->vm_start <= address && address < vma->vm_end)
			return vma;
	*stand_in = (struct vm_area_struct){ ptep_to_mm(ptep), address, address + (1UL << PAGE_SHIFT), NULL, 0 };
	return stand_in;
}

/* 2.5.31's page_add_rmap returns nothing, so the fault cannot back out
 * (the port's -ENOMEM path is the corrected variant's). */
int map_pte(pte_t *ptep, struct page *page, int dirty)
{
	pte_t old;
	struct mm_struct *mm;
	unsigned long pfn = page_to_pfn(page);
	int normal;

	if (pte_present(*ptep))
		return PRE_PRESENT;
	if (!lock_free(ptep))
		return PRE_LOCK_HELD;
	old = *ptep;
	mm = ptep_to_mm(ptep);
	normal = pfn_valid(pfn) && !PageReserved(page);
	spin_lock(&mm->page_table_lock);
	if (normal) {
		get_page(page);
		mm->rss++;
	}
	set_pte(ptep, mk_pte_pfn(pfn, 1, dirty));
	page_add_rmap(page, ptep);
	if (pte_is_swap(old)) {
		swp_entry_t entry = { pte_swap_entry(old) };
		swap_free(entry); /* do_swap_page gives the pte's swap reference back */
	}
	spin_unlock(&mm->page_table_lock);
	return PRE_NONE;
}

int zap_pte(pte_t *ptep)
{
	pte_t pte;
	struct mm_struct *mm;
	struct vm_area_struct stand_in, *vma;

	if (pte_none(*ptep))
		return PRE_NOTHING_TO_ZAP;
	if (!lock_free(ptep))
		return PRE_LOCK_HELD;
	vma = vma_of(ptep, &stand_in);
	mm = ptep_to_mm(ptep);
	spin_lock(&mm->page_table_lock);
	flush_cache_page(vma, ptep_to_address(ptep)); /* zap_page_range's flush_cache_range */
	pte = ptep_get_and_clear(ptep);
	if (pte_present(pte) && pfn_valid(pte_pfn(pte))) {
		struct page *page = pfn_to_page(pte_pfn(pte));
		/* The pte is already clear here: page_remove_rmap must not need it. */
		page_remove_rmap(page, ptep);
		if (!PageReserved(page)) {
			if (pte_dirty(pte))
				set_page_dirty(page);
			page_cache_release(page);
			mm->rss--;
		}
	} else if (pte_is_swap(pte)) {
		swp_entry_t entry = { pte_swap_entry(pte) };
		swap_free(entry);
	}
	flush_tlb_page(vma, ptep_to_address(ptep)); /* tlb_finish_mmu */
	spin_unlock(&mm->page_table_lock);
	return PRE_NONE;
}

static int disposition_of(int swap_result)
{
	switch (swap_result) {
	case SWAP_SUCCESS:
		return DISP_FREE;
	case SWAP_AGAIN:
		return DISP_KEEP;
	default:
		return DISP_ACTIVATE;
	}
}

/* shrink_cache on one inactive page, in 2.5.31's lock order:
 * pagemap_lru_lock, the page lock, pte_chain_lock. */
int reclaim(struct page *page, int *referenced, int *swap_result, int *disposition)
{
	if (PageReserved(page))
		return PRE_RESERVED;
	if (!page->mapping)
		return PRE_NO_MAPPING;
	if (PageLocked(page))
		return PRE_PAGE_LOCKED;
	if (shim_test_bit(PG_chainlock, page))
		return PRE_CHAINLOCK;
	if (W.pagemap_lru_lock.holder)
		return PRE_LRU_LOCK;
	spin_lock(&W.pagemap_lru_lock);
	shim_set_bit(PG_locked, page); /* TryLockPage */
	pte_chain_lock(page);
	*referenced = page_referenced(page);
	*swap_result = -1;
	if (*referenced) {
		*disposition = DISP_ACTIVATE;
	} else if (page->pte.chain) { /* either member of the union */
		*swap_result = try_to_unmap(page);
		*disposition = disposition_of(*swap_result);
	} else {
		*disposition = DISP_FREE;
	}
	pte_chain_unlock(page);
	shim_clear_bit(PG_locked, page); /* UnlockPage */
	spin_unlock(&W.pagemap_lru_lock);
	return PRE_NONE;
}

/* The trace's `referenced`: page_referenced under pte_chain_lock.  Its
 * faults name the port's trace helper, _referenced, so that they compare. */
int referenced_under_lock(struct page *page)
{
	int count;
	shim_pte_chain_lock(page, "_referenced", __FILE__, __LINE__);
	count = page_referenced(page);
	shim_pte_chain_unlock(page, "_referenced", __FILE__, __LINE__);
	return count;
}
