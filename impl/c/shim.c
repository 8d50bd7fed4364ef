/*
 * The kernel primitives the seed calls (declared in shim/kernel.h), each
 * with impl/kernel.py's rules and fault messages, and the world they act on.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shim/world.h>

struct shim_world W;
struct page_state shim_page_state;
struct shim_fault_info shim_last_fault;
sigjmp_buf *shim_jump;

struct kmem_cache_s {
	const char *name;
	size_t size;
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p)
		abort();
	return p;
}

/* ---------------------------------------------------------------- faults */

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static void __attribute__((noreturn)) vfault(int kind, const char *func, const char *file, int line,
					     const char *fmt, va_list ap)
{
	struct shim_fault_info *f = &shim_last_fault;
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	snprintf(f->func, sizeof(f->func), "%s", func);
	snprintf(f->file, sizeof(f->file), "%s", basename_of(file));
	f->line = line;
	f->write = -1;
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	if (shim_jump)
		siglongjmp(*shim_jump, 1);
	fprintf(stderr, "shim: fault outside a command: %s\n", f->why);
	abort();
}

void shim_fault(int kind, const char *func, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfault(kind, func, file, line, fmt, ap);
}

/* panic() is a BUG in the model (impl.rmap_seed.pte_chain_init). */
void shim_panic(const char *func, const char *file, int line, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	size_t n;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	shim_fault(SHIM_BUG, func, file, line, "panic: %s", msg);
}

/* The console is not part of a state record. */
int shim_printk(const char *fmt, ...)
{
	(void)fmt;
	return 0;
}

/* ---------------------------------------------------------------- pages */

int pfn_valid(unsigned long pfn)
{
	return pfn_to_page(pfn) != NULL;
}

struct page *pfn_to_page(unsigned long pfn)
{
	for (int i = 0; i < W.npages; i++)
		if (W.valid[i] && W.pfn[i] == pfn)
			return &W.pages[i];
	return NULL;
}

unsigned long page_to_pfn(struct page *page)
{
	uintptr_t p = (uintptr_t)page, b = (uintptr_t)W.pages;
	if (!W.pages || p < b || p >= b + (size_t)W.npages * sizeof(*page))
		return ~0UL; /* the port's meaningless pfn of a NULL page */
	return W.pfn[(p - b) / sizeof(*page)];
}

void shim_page_cache_release(struct page *page, const char *func, const char *file, int line)
{
	if (page->count.counter <= 0)
		shim_fault(SHIM_BUG, func, file, line, "page_cache_release of free page %lu", page_to_pfn(page));
	page->count.counter--;
}

void shim_pte_chain_lock(struct page *page, const char *func, const char *file, int line)
{
	if (shim_test_bit(PG_chainlock, page))
		shim_fault(SHIM_DEADLOCK, func, file, line, "pte_chain_lock of page %lu already held",
			   page_to_pfn(page));
	shim_set_bit(PG_chainlock, page);
}

void shim_pte_chain_unlock(struct page *page, const char *func, const char *file, int line)
{
	if (!shim_test_bit(PG_chainlock, page))
		shim_fault(SHIM_BUG, func, file, line, "pte_chain_unlock of page %lu not held", page_to_pfn(page));
	shim_clear_bit(PG_chainlock, page);
}

struct address_space *shim_space(int id)
{
	if (id <= 0)
		return NULL;
	if (id > W.nspaces) {
		W.spaces = xrealloc(W.spaces, (size_t)id * sizeof(*W.spaces));
		for (int i = W.nspaces; i < id; i++) {
			W.spaces[i] = xcalloc(1, sizeof(**W.spaces));
			W.spaces[i]->id = i + 1;
		}
		W.nspaces = id;
	}
	return W.spaces[id - 1];
}

int shim_space_id(const struct address_space *space)
{
	return space ? space->id : 0;
}

/* ---------------------------------------------------------------- ptes */

int shim_pte_index(const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr, b = (uintptr_t)W.ptes;
	if (!W.ptes || p < b || p >= b + (size_t)W.nptes * sizeof(pte_t) || (p - b) % sizeof(pte_t))
		return -1;
	return (int)((p - b) / sizeof(pte_t));
}

/* What the port's Pte attribute read raises when ptep is not a pte. */
static int pte_slot(pte_t *ptep, const char *func, int line, const char *member)
{
	int i = shim_pte_index(ptep);
	if (i >= 0)
		return i;
	if (!ptep)
		shim_fault(SHIM_OOPS, func, __FILE__, line, "NULL pointer dereference reading ->%s", member);
	if (shim_obj_find(ptep))
		shim_fault(SHIM_OOPS, func, __FILE__, line, "union pte read as the wrong member (->%s)", member);
	shim_fault(SHIM_OOPS, func, __FILE__, line, "pointer %p is no pte (->%s)", (void *)ptep, member);
}

struct mm_struct *ptep_to_mm(pte_t *ptep)
{
	return &W.mms[W.pte_mm[pte_slot(ptep, __func__, __LINE__, "mm")]];
}

unsigned long ptep_to_address(pte_t *ptep)
{
	return W.pte_address[pte_slot(ptep, __func__, __LINE__, "address")];
}

/* ---------------------------------------------------------------- mm, vma */

struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr)
{
	for (struct vm_area_struct *vma = mm->mmap; vma; vma = vma->vm_next)
		if (vma->vm_end > addr)
			return vma;
	return NULL;
}

void shim_set_vmas(int mm, int n, const unsigned long *start, const unsigned long *end,
		   const unsigned long *flags)
{
	struct vm_area_struct **link = &W.mms[mm].mmap;
	for (struct vm_area_struct *vma = *link, *next; vma; vma = next) {
		next = vma->vm_next;
		free(vma);
	}
	*link = NULL;
	for (int i = 0; i < n; i++) {
		struct vm_area_struct *vma = xcalloc(1, sizeof(*vma));
		vma->vm_mm = &W.mms[mm];
		vma->vm_start = start[i];
		vma->vm_end = end[i];
		vma->vm_flags = flags[i];
		*link = vma;
		link = &vma->vm_next;
	}
}

static const char *holder_name(int holder)
{
	static const char *names[] = { "None", "cpu0", "cpu1" };
	return holder >= 0 && holder <= 2 ? names[holder] : "?";
}

static void log_event(int kind, int mm, unsigned long address, int present)
{
	W.nevents++;
	if (W.nevents > W.maxevents) {
		W.maxevents = 2 * W.nevents;
		W.events = xrealloc(W.events, (size_t)W.maxevents * sizeof(*W.events));
	}
	W.events[W.nevents - 1] = (struct shim_event){ kind, mm, address, present };
}

/* An mm's page_table_lock is logged when this CPU takes or drops it. */
static void lock_event(spinlock_t *lock, int kind)
{
	for (int i = 0; i < W.nmms; i++)
		if (&W.mms[i].page_table_lock == lock)
			log_event(kind, i, 0, 0);
}

/* A write through a pointer that is no pte slot is not logged (the port
 * oopses on it before it logs). */
void shim_pte_event(int kind, pte_t *ptep, pte_t old)
{
	int slot = shim_pte_index(ptep);
	if (slot >= 0)
		log_event(kind, W.pte_mm[slot], W.pte_address[slot], pte_present(old));
}

void shim_spin_lock(spinlock_t *lock, const char *func, const char *file, int line)
{
	if (lock->holder)
		shim_fault(SHIM_DEADLOCK, func, file, line, "spinning on a lock held by %s", holder_name(lock->holder));
	lock->holder = SHIM_THIS_CPU;
	lock_event(lock, SHIM_EV_LOCK);
}

int shim_spin_trylock(spinlock_t *lock)
{
	if (lock->holder)
		return 0;
	lock->holder = SHIM_THIS_CPU;
	lock_event(lock, SHIM_EV_LOCK);
	return 1;
}

void shim_spin_unlock(spinlock_t *lock, const char *func, const char *file, int line)
{
	if (lock->holder != SHIM_THIS_CPU)
		shim_fault(SHIM_BUG, func, file, line, "spin_unlock of a lock held by %s", holder_name(lock->holder));
	lock->holder = 0;
	lock_event(lock, SHIM_EV_UNLOCK);
}

void flush_tlb_page(struct vm_area_struct *vma, unsigned long address)
{
	log_event(SHIM_EV_TLB, (int)(vma->vm_mm - W.mms), address, 0);
}

void flush_cache_page(struct vm_area_struct *vma, unsigned long address)
{
	log_event(SHIM_EV_CACHE, (int)(vma->vm_mm - W.mms), address, 0);
}

/* ---------------------------------------------------------------- slab */

static size_t obj_hash(uintptr_t key, size_t cap)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 20) & (cap - 1);
}

static struct shim_obj *obj_slot(struct shim_obj *table, size_t cap, uintptr_t key)
{
	size_t i = obj_hash(key, cap);
	while (table[i].key && table[i].key != key)
		i = (i + 1) & (cap - 1);
	return &table[i];
}

struct shim_obj *shim_obj_find(const void *ptr)
{
	struct shim_obj *o;
	if (!W.objs)
		return NULL;
	o = obj_slot(W.objs, W.objs_cap, ~(uintptr_t)ptr);
	return o->key ? o : NULL;
}

void *shim_obj_ptr(const struct shim_obj *obj)
{
	return (void *)~obj->key;
}

static void obj_insert(void *ptr)
{
	uintptr_t key = ~(uintptr_t)ptr;
	struct shim_obj *o;
	if (2 * (W.objs_used + 1) > W.objs_cap) {
		size_t cap = W.objs_cap ? 2 * W.objs_cap : 64;
		struct shim_obj *table = xcalloc(cap, sizeof(*table));
		for (size_t i = 0; i < W.objs_cap; i++)
			if (W.objs[i].key)
				*obj_slot(table, cap, W.objs[i].key) = W.objs[i];
		free(W.objs);
		W.objs = table;
		W.objs_cap = cap;
	}
	o = obj_slot(W.objs, W.objs_cap, key);
	if (!o->key)
		W.objs_used++;
	/* Under the sanitizers a freed object's memory comes back: a new one. */
	*o = (struct shim_obj){ key, ++W.serial, 1, 0 };
}

kmem_cache_t *kmem_cache_create(const char *name, size_t size, size_t offset, unsigned long flags,
				void (*ctor)(void *, kmem_cache_t *, unsigned long),
				void (*dtor)(void *, kmem_cache_t *, unsigned long))
{
	kmem_cache_t *cache;
	(void)offset, (void)flags, (void)ctor, (void)dtor;
	if (W.ncaches == (int)(sizeof(W.caches) / sizeof(W.caches[0])))
		return NULL;
	cache = xcalloc(1, sizeof(*cache));
	cache->name = name;
	cache->size = size;
	W.caches[W.ncaches++] = cache;
	W.obj_size = size;
	return cache;
}

/* GFP_ATOMIC may fail: once fail_after allocations have succeeded, the next
 * fail_next answer NULL (impl/world.py's InjectedCache).  Objects start
 * zeroed, as the port's PteChain() starts with NULL fields. */
void *kmem_cache_alloc(kmem_cache_t *cachep, int flags)
{
	void *obj;
	(void)flags;
	if (!cachep)
		shim_fault(SHIM_OOPS, SHIM_HERE, "kmem_cache_alloc before pte_chain_init");
	if (W.fail_after > 0) {
		W.fail_after--;
	} else if (W.fail_next > 0) {
		W.fail_next--;
		return NULL;
	}
	obj = xcalloc(1, cachep->size);
	obj_insert(obj);
	return obj;
}

/* A freed object stays readable (the port's freed PteChain keeps its
 * fields) unless the sanitizers are on: then it really is freed, and a use
 * after free is theirs to report. */
void kmem_cache_free(kmem_cache_t *cachep, void *objp)
{
	struct shim_obj *o;
	if (!cachep)
		shim_fault(SHIM_OOPS, SHIM_HERE, "kmem_cache_free before pte_chain_init");
	o = shim_obj_find(objp);
	if (!o || !o->live)
		shim_fault(SHIM_BUG, SHIM_HERE, "kmem_cache_free of an object not live in %s", cachep->name);
	o->live = 0;
#ifdef SHIM_SANITIZE
	free(objp);
#endif
}

/* ---------------------------------------------------------------- swap */

int shim_swap_slot(unsigned long entry)
{
	for (int i = 0; i < W.nswap; i++)
		if (W.swap_entry[i] == entry)
			return i;
	return -1;
}

void shim_set_swap(unsigned long entry, unsigned long count)
{
	int i = shim_swap_slot(entry);
	if (i < 0) {
		if (W.nswap == W.maxswap) {
			W.maxswap = W.maxswap ? 2 * W.maxswap : 8;
			W.swap_entry = xrealloc(W.swap_entry, (size_t)W.maxswap * sizeof(*W.swap_entry));
			W.swap_count = xrealloc(W.swap_count, (size_t)W.maxswap * sizeof(*W.swap_count));
		}
		i = W.nswap++;
		W.swap_entry[i] = entry;
	}
	W.swap_count[i] = count;
}

/* A slot that reaches SWAP_MAP_MAX stays there (2.5's overflow rule). */
int swap_duplicate(swp_entry_t entry)
{
	int i = shim_swap_slot(entry.val);
	if (i < 0 || W.swap_count[i] == 0)
		return 0;
	if (W.swap_count[i] < SWAP_MAP_MAX)
		W.swap_count[i]++;
	return 1;
}

void shim_swap_free(swp_entry_t entry, const char *func, const char *file, int line)
{
	int i = shim_swap_slot(entry.val);
	if (i < 0 || W.swap_count[i] == 0)
		shim_fault(SHIM_BUG, func, file, line, "swap_free of unused swap entry %lu", entry.val);
	if (W.swap_count[i] < SWAP_MAP_MAX)
		W.swap_count[i]--;
}

/* ---------------------------------------------------------------- reset */

/* Under the sanitizers only the objects still on a chain are freed: a live
 * object on no chain is a leak, left for LeakSanitizer to find at exit. */
static void release_objects(void)
{
#ifdef SHIM_SANITIZE
	for (int i = 0; i < W.npages; i++) {
		struct shim_obj *o = shim_obj_find(W.pages[i].pte.chain);
		while (o && o->live) {
			struct shim_chain_view *node = shim_obj_ptr(o);
			o->live = 0;
			o = shim_obj_find(node->next);
			free(node);
		}
	}
#else
	for (size_t i = 0; i < W.objs_cap; i++)
		if (W.objs[i].key)
			free(shim_obj_ptr(&W.objs[i]));
#endif
	free(W.objs);
}

void shim_reset(int maxpages, int maxmms, int maxptes)
{
	release_objects();
	for (int i = 0; i < W.nmms; i++)
		shim_set_vmas(i, 0, NULL, NULL, NULL);
	for (int i = 0; i < W.nspaces; i++)
		free(W.spaces[i]);
	for (int i = 0; i < W.ncaches; i++)
		free(W.caches[i]);
	free(W.pages), free(W.pfn), free(W.valid), free(W.mms), free(W.ptes), free(W.pte_mm);
	free(W.pte_address), free(W.swap_entry), free(W.swap_count), free(W.spaces), free(W.events);
	memset(&W, 0, sizeof(W));
	shim_page_state.nr_reverse_maps = 0;
	W.maxpages = maxpages, W.maxmms = maxmms, W.maxptes = maxptes;
	W.pages = xcalloc((size_t)maxpages, sizeof(*W.pages));
	W.pfn = xcalloc((size_t)maxpages, sizeof(*W.pfn));
	W.valid = xcalloc((size_t)maxpages, sizeof(*W.valid));
	W.mms = xcalloc((size_t)maxmms, sizeof(*W.mms));
	W.ptes = xcalloc((size_t)maxptes, sizeof(*W.ptes));
	W.pte_mm = xcalloc((size_t)maxptes, sizeof(*W.pte_mm));
	W.pte_address = xcalloc((size_t)maxptes, sizeof(*W.pte_address));
}
