/*
 * The kernel that mm/rmap.c (2.5.31) runs in, in user space.
 *
 * This is the C twin of impl/kernel.py: the same struct page, pte union,
 * page flags (same bit numbers), mm_struct, vm_area_struct, spinlocks,
 * slab, swap map and page_state, with the same rules (a held spinlock is a
 * deadlock, page_cache_release of a free page is a BUG, swap counts
 * saturate at SWAP_MAP_MAX, ...).  The ten <linux/...> and <asm/...>
 * headers the seed's lost #include lines named all come here.
 *
 * Faults leave through shim_fault(), which jumps back to the command that
 * ran the seed (impl/c/protocol.c); a real NULL dereference arrives there
 * as SIGSEGV.
 */
#ifndef SHIM_KERNEL_H
#define SHIM_KERNEL_H

#include <stddef.h>

/* ---------------------------------------------------------------- faults */

enum { SHIM_BUG = 1, SHIM_OOPS = 2, SHIM_DEADLOCK = 3 };

void shim_fault(int kind, const char *func, const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 5, 6)));
void shim_panic(const char *func, const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));
int shim_printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Where a primitive was called from: the port names the same function. */
#define SHIM_HERE __func__, __FILE__, __LINE__

#define BUG() shim_fault(SHIM_BUG, SHIM_HERE, "BUG()")
#define panic(...) shim_panic(SHIM_HERE, __VA_ARGS__)
#define printk shim_printk
#define KERN_ERR "<3>"

#define __init
/*
 * The kernel's FASTCALL is an attribute (regparm(3) on i386).  Here it
 * keeps gcc from cloning or re-signaturing the function, so that the
 * harness can call the seed's static try_to_unmap_one (made global in the
 * object file by objcopy, the source is not touched).
 */
#define FASTCALL(x) x __attribute__((noipa))

/* ---------------------------------------------------------------- ptes */

/* i386's layout of a pte: one word.  _PAGE_SWAP is the model's own bit: a
 * non-present pte that holds a swap entry (entry << 8), so that every
 * entry, 0 included, differs from pte_none. */
typedef struct { unsigned long pte_low; } pte_t;
typedef struct { unsigned long val; } swp_entry_t;

#define PAGE_SHIFT 12
#define _PAGE_PRESENT 0x001UL
#define _PAGE_SWAP 0x002UL
#define _PAGE_ACCESSED 0x020UL
#define _PAGE_DIRTY 0x040UL
#define SWP_SHIFT 8

static inline int pte_present(pte_t pte) { return (pte.pte_low & _PAGE_PRESENT) != 0; }
static inline int pte_none(pte_t pte) { return pte.pte_low == 0; }
static inline int pte_dirty(pte_t pte) { return (pte.pte_low & _PAGE_DIRTY) != 0; }
static inline int pte_young(pte_t pte) { return (pte.pte_low & _PAGE_ACCESSED) != 0; }
/* The model reads pfn 0 from a pte that is not present (impl/kernel.py). */
static inline unsigned long pte_pfn(pte_t pte)
{
	return pte_present(pte) ? pte.pte_low >> PAGE_SHIFT : 0;
}
static inline int pte_is_swap(pte_t pte) { return !pte_present(pte) && (pte.pte_low & _PAGE_SWAP); }
static inline unsigned long pte_swap_entry(pte_t pte) { return pte.pte_low >> SWP_SHIFT; }
static inline pte_t mk_pte_pfn(unsigned long pfn, int young, int dirty)
{
	pte_t pte = { pfn << PAGE_SHIFT | _PAGE_PRESENT | (young ? _PAGE_ACCESSED : 0) |
		      (dirty ? _PAGE_DIRTY : 0) };
	return pte;
}
static inline pte_t swp_entry_to_pte(swp_entry_t entry)
{
	pte_t pte = { entry.val << SWP_SHIFT | _PAGE_SWAP };
	return pte;
}
/* The event log's kinds (impl/kernel.py's EventKind, in this order). */
enum { SHIM_EV_TLB, SHIM_EV_CACHE, SHIM_EV_SET_PTE, SHIM_EV_GET_AND_CLEAR, SHIM_EV_LOCK, SHIM_EV_UNLOCK };
void shim_pte_event(int kind, pte_t *ptep, pte_t old);
static inline void set_pte(pte_t *ptep, pte_t pte)
{
	pte_t old = *ptep;
	*ptep = pte;
	shim_pte_event(SHIM_EV_SET_PTE, ptep, old);
}
static inline pte_t ptep_get_and_clear(pte_t *ptep)
{
	pte_t old = *ptep;
	ptep->pte_low = 0;
	shim_pte_event(SHIM_EV_GET_AND_CLEAR, ptep, old);
	return old;
}
static inline int ptep_test_and_clear_young(pte_t *ptep)
{
	int young = pte_young(*ptep);
	ptep->pte_low &= ~_PAGE_ACCESSED;
	return young;
}

struct mm_struct;
/* asm-generic/rmap.h: the page-table page records the mm and address a pte
 * serves.  A pointer that is no pte slot is an oops, as in the port. */
struct mm_struct *ptep_to_mm(pte_t *ptep);
unsigned long ptep_to_address(pte_t *ptep);

/* ---------------------------------------------------------------- pages */

#define PG_locked 0
#define PG_referenced 2
#define PG_dirty 4
#define PG_reserved 12
#define PG_chainlock 15
#define PG_direct 16
#define PG_swapcache 17 /* the model's bit; 2.5.31 tested page->mapping */

typedef struct { int counter; } atomic_t;
struct address_space { int id; };
struct pte_chain;

struct page {
	atomic_t count;
	unsigned long flags;
	struct address_space *mapping;
	unsigned long index;
	union {
		struct pte_chain *chain;
		pte_t *direct;
	} pte;
};

static inline int shim_test_bit(int bit, const struct page *page) { return (page->flags >> bit) & 1; }
static inline void shim_set_bit(int bit, struct page *page) { page->flags |= 1UL << bit; }
static inline void shim_clear_bit(int bit, struct page *page) { page->flags &= ~(1UL << bit); }

#define PageDirect(page) shim_test_bit(PG_direct, (page))
#define SetPageDirect(page) shim_set_bit(PG_direct, (page))
#define ClearPageDirect(page) shim_clear_bit(PG_direct, (page))
#define PageReserved(page) shim_test_bit(PG_reserved, (page))
#define PageLocked(page) shim_test_bit(PG_locked, (page))
#define PageSwapCache(page) shim_test_bit(PG_swapcache, (page))
#define set_page_dirty(page) shim_set_bit(PG_dirty, (page))
static inline int TestClearPageReferenced(struct page *page)
{
	int was = shim_test_bit(PG_referenced, page);
	shim_clear_bit(PG_referenced, page);
	return was;
}

/* mem_map is the world's valid pages; other struct pages are I/O memory. */
int pfn_valid(unsigned long pfn);
unsigned long page_to_pfn(struct page *page); /* no dereference, as C's page - mem_map */
struct page *pfn_to_page(unsigned long pfn);

static inline void get_page(struct page *page) { page->count.counter++; }
void shim_page_cache_release(struct page *page, const char *func, const char *file, int line);
#define page_cache_release(page) shim_page_cache_release((page), SHIM_HERE)

/* pte_chain_lock: a bit spinlock on PG_chainlock; one CPU runs, so a held
 * bit can never be released: a deadlock. */
void shim_pte_chain_lock(struct page *page, const char *func, const char *file, int line);
void shim_pte_chain_unlock(struct page *page, const char *func, const char *file, int line);
#define pte_chain_lock(page) shim_pte_chain_lock((page), SHIM_HERE)
#define pte_chain_unlock(page) shim_pte_chain_unlock((page), SHIM_HERE)

/* ---------------------------------------------------------------- mm, vma */

/* holder: 0 when free, else the holding CPU's number + 1 (cpu0 is 1). */
typedef struct { int holder; } spinlock_t;
#define SHIM_THIS_CPU 1
#define SHIM_OTHER_CPU 2

struct vm_area_struct {
	struct mm_struct *vm_mm;
	unsigned long vm_start;
	unsigned long vm_end;
	struct vm_area_struct *vm_next; /* sorted by vm_start */
	unsigned long vm_flags;
};
#define VM_LOCKED 0x00002000UL

struct mm_struct {
	struct vm_area_struct *mmap;
	spinlock_t page_table_lock;
	unsigned long rss;
};

struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr);

void shim_spin_lock(spinlock_t *lock, const char *func, const char *file, int line);
int shim_spin_trylock(spinlock_t *lock);
void shim_spin_unlock(spinlock_t *lock, const char *func, const char *file, int line);
#define spin_lock(lock) shim_spin_lock((lock), SHIM_HERE)
#define spin_trylock(lock) shim_spin_trylock(lock)
#define spin_unlock(lock) shim_spin_unlock((lock), SHIM_HERE)

/* ---------------------------------------------------------------- slab */

typedef struct kmem_cache_s kmem_cache_t;
#define GFP_ATOMIC 0x20

kmem_cache_t *kmem_cache_create(const char *name, size_t size, size_t offset, unsigned long flags,
				void (*ctor)(void *, kmem_cache_t *, unsigned long),
				void (*dtor)(void *, kmem_cache_t *, unsigned long));
void *kmem_cache_alloc(kmem_cache_t *cachep, int flags);
void kmem_cache_free(kmem_cache_t *cachep, void *objp);

/* ---------------------------------------------------------------- swap */

#define SWAP_MAP_MAX 0x7fff
#define SWAP_SUCCESS 0
#define SWAP_AGAIN 1
#define SWAP_FAIL 2
#define SWAP_ERROR 3

int swap_duplicate(swp_entry_t entry);
void shim_swap_free(swp_entry_t entry, const char *func, const char *file, int line);
#define swap_free(entry) shim_swap_free((entry), SHIM_HERE)

/* ------------------------------------------------- page_state and the TLB */

struct page_state {
	unsigned long nr_reverse_maps;
};
extern struct page_state shim_page_state;
#define inc_page_state(member) (shim_page_state.member++)
#define dec_page_state(member) (shim_page_state.member--)

void flush_tlb_page(struct vm_area_struct *vma, unsigned long address);
void flush_cache_page(struct vm_area_struct *vma, unsigned long address);

#endif /* SHIM_KERNEL_H */
