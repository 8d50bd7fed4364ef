/*
 * The C oracle's one entry point, orc_batch(): lines of commands in, lines
 * of answers out.  The Python side (impl/c/native.py) sends it through
 * ctypes, or through driver.c's stdin for the sanitizer build.
 *
 * Commands set up a world, run one seed path (map, zap, referenced,
 * reclaim, or a raw seed function), or dump the whole state.  A seed path
 * runs under sigsetjmp: BUG, a deadlock or an oops in the shim, and a real
 * SIGSEGV/SIGBUS, all come back as one `fault` line, with the world left as
 * the fault left it.
 *
 * Every command is a name and unsigned numbers; pages, mms and ptes are
 * named by index (world order), mappings by id (0 is NULL), lock holders
 * by CPU number + 1.  Each answers one line (`ok [RESULT...]`, `pre CODE`
 * for a caller-side precondition, `fault ...`, `error ...`), except dump:
 *   reset NPAGES NMMS NPTES    page PFN VALID COUNT MAPPING INDEX FLAGS
 *   mm    pte MM ADDRESS       vmas MM N (START END FLAGS)*
 *   setpte I PRESENT PFN YOUNG DIRTY SWAPPED ENTRY
 *   setpage I FLAGS MAPPING INDEX    lock MM HOLDER    swap ENTRY COUNT
 *   failnext N AFTER    consts    init (the seed's pte_chain_init)
 *   map PTE PAGE DIRTY    zap PTE    referenced PAGE    reclaim PAGE
 *   add PAGE PTE    remove PAGE PTE    unmap PAGE    unmap_one PAGE PTE
 *   dump: lines page/obj/mm/vma/pte/swap/state/event, then `end`
 *   sync: answers `sync` (the driver's end of a batch)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <shim/harness.h>
#include <shim/world.h>

const char *orc_batch(const char *text, size_t *len);

/* ---------------------------------------------------------------- output */

static char *out;
static size_t out_len, out_cap;

static void __attribute__((format(printf, 1, 2))) emit(const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		int n;
		va_start(ap, fmt);
		n = vsnprintf(out + out_len, out_cap - out_len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < out_cap - out_len) {
			out_len += (size_t)n;
			return;
		}
		out_cap = 2 * out_cap + (size_t)(n > 0 ? n : 0) + 4096;
		out = realloc(out, out_cap);
		if (!out)
			abort();
	}
}

/* ---------------------------------------------------------------- faults */

static struct sigaction old_segv, old_bus;
static pthread_t runner;

static void on_signal(int sig, siginfo_t *info, void *context)
{
	struct shim_fault_info *f = &shim_last_fault;
	if (!shim_jump || !pthread_equal(pthread_self(), runner)) {
		/* Not ours: give the signal to whoever had it, and re-fault. */
		sigaction(sig, sig == SIGSEGV ? &old_segv : &old_bus, NULL);
		return;
	}
	f->kind = SHIM_OOPS;
	f->func[0] = f->file[0] = f->why[0] = '\0';
	f->line = 0;
	f->addr = (uintptr_t)info->si_addr;
	f->pc = 0;
	f->write = -1;
#if defined(__x86_64__)
	{
		ucontext_t *uc = context;
		f->pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
		f->write = (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
	}
#else
	(void)context;
#endif
	siglongjmp(*shim_jump, 1);
}

static void arm(int on)
{
	if (on) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_signal;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		runner = pthread_self();
		sigaction(SIGSEGV, &sa, &old_segv);
		sigaction(SIGBUS, &sa, &old_bus);
	} else {
		sigaction(SIGSEGV, &old_segv, NULL);
		sigaction(SIGBUS, &old_bus, NULL);
	}
}

/* fault KIND FUNC FILE LINE PC OURS ADDR WRITE WHY: PC is an offset into
 * this object when OURS is 1 (for addr2line), else an absolute address. */
static void emit_fault(void)
{
	static const char *kinds[] = { "?", "BUG", "Oops", "deadlock" };
	struct shim_fault_info *f = &shim_last_fault;
	Dl_info here, there;
	uintptr_t pc = f->pc;
	int ours = 0;
	if (pc && dladdr((void *)orc_batch, &here) && dladdr((void *)pc, &there) &&
	    here.dli_fbase == there.dli_fbase) {
		pc -= (uintptr_t)there.dli_fbase;
		ours = 1;
	}
	emit("fault %s %s %s %d %lx %d %lx %d %s\n", kinds[f->kind], f->func[0] ? f->func : "-",
	     f->file[0] ? f->file : "-", f->line, (unsigned long)pc, ours, (unsigned long)f->addr, f->write,
	     f->why);
}

/* ---------------------------------------------------------------- the dump */

static void word(char *buf, size_t size, const void *p)
{
	int i;
	struct shim_obj *o;
	if (!p)
		snprintf(buf, size, "0");
	else if ((i = shim_pte_index(p)) >= 0)
		snprintf(buf, size, "p%d", i);
	else if ((o = shim_obj_find(p)))
		snprintf(buf, size, "c%lu", o->serial);
	else
		snprintf(buf, size, "?%lx", (unsigned long)(uintptr_t)p);
}

static int readable(const struct shim_obj *o)
{
#ifdef SHIM_SANITIZE
	return o->live;
#else
	(void)o;
	return 1; /* freed objects are kept until the next world */
#endif
}

/* Every live object, and every freed one still linked from a page or a
 * node, once each. */
static void dump_objects(void)
{
	static unsigned long epoch;
	struct shim_obj **stack = malloc((2 * W.objs_cap + (size_t)W.npages + 1) * sizeof(*stack));
	size_t top = 0;
	if (!stack)
		abort();
	epoch++;
	for (size_t i = 0; i < W.objs_cap; i++)
		if (W.objs[i].key && W.objs[i].live)
			stack[top++] = &W.objs[i];
	for (int i = 0; i < W.npages; i++) {
		struct shim_obj *o = shim_obj_find(W.pages[i].pte.chain);
		if (o)
			stack[top++] = o;
	}
	while (top) {
		struct shim_obj *o = stack[--top], *next;
		struct shim_chain_view *node = shim_obj_ptr(o);
		char a[40], b[40];
		if (o->seen == epoch)
			continue;
		o->seen = epoch;
		if (!readable(o)) {
			emit("obj %lu 0 - -\n", o->serial);
			continue;
		}
		word(a, sizeof(a), node->next);
		word(b, sizeof(b), node->ptep);
		emit("obj %lu %d %s %s\n", o->serial, o->live, a, b);
		next = shim_obj_find(node->next);
		if (next && next->seen != epoch)
			stack[top++] = next; /* pushes: the roots, then at most one per object seen */
	}
	free(stack);
}

static void dump(void)
{
	char w[40];
	if (W.objs_used && W.obj_size != sizeof(struct shim_chain_view)) {
		emit("error struct pte_chain is %zu bytes, not 2.5.31's {next, ptep}\nend\n", W.obj_size);
		return;
	}
	for (int i = 0; i < W.npages; i++) {
		struct page *p = &W.pages[i];
		word(w, sizeof(w), p->pte.chain);
		emit("page %d %d %lu %d %lu %s\n", i, p->count.counter, p->flags, shim_space_id(p->mapping),
		     p->index, w);
	}
	dump_objects();
	for (int i = 0; i < W.nmms; i++) {
		emit("mm %d %lu %d\n", i, W.mms[i].rss, W.mms[i].page_table_lock.holder);
		for (struct vm_area_struct *v = W.mms[i].mmap; v; v = v->vm_next)
			emit("vma %d %lu %lu %lu\n", i, v->vm_start, v->vm_end, v->vm_flags);
	}
	for (int i = 0; i < W.nptes; i++) {
		pte_t pte = W.ptes[i];
		if (pte_present(pte) || pte_none(pte) || pte_is_swap(pte))
			emit("pte %d %d %lu %d %d %d %lu\n", i, pte_present(pte), pte_pfn(pte),
			     pte_present(pte) && pte_young(pte), pte_present(pte) && pte_dirty(pte),
			     pte_is_swap(pte), pte_is_swap(pte) ? pte_swap_entry(pte) : 0);
		else
			emit("pte %d raw %lx\n", i, pte.pte_low);
	}
	for (int i = 0; i < W.nswap; i++)
		emit("swap %lu %lu\n", W.swap_entry[i], W.swap_count[i]);
	emit("state %lu %d %d %d\n", shim_page_state.nr_reverse_maps, W.fail_next, W.pagemap_lru_lock.holder,
	     W.fail_after);
	for (int i = 0; i < W.nevents; i++)
		emit("event %d %d %lu %d\n", W.events[i].kind, W.events[i].mm, W.events[i].address,
		     W.events[i].present);
	W.nevents = 0;
	emit("end\n");
}

/* ---------------------------------------------------------------- commands */

struct cmd {
	char name[16];
	unsigned long *a;
	int n;
};

static int parse(const char *line, size_t len, struct cmd *c)
{
	char *copy = strndup(line, len), *save = NULL, *tok;
	int cap = 0;
	if (!copy)
		abort();
	c->n = 0;
	c->a = NULL;
	tok = strtok_r(copy, " \t\r", &save);
	if (!tok || strlen(tok) >= sizeof(c->name)) {
		free(copy);
		return 0;
	}
	strcpy(c->name, tok);
	while ((tok = strtok_r(NULL, " \t\r", &save))) {
		if (c->n == cap) {
			cap = cap ? 2 * cap : 8;
			c->a = realloc(c->a, (size_t)cap * sizeof(*c->a));
			if (!c->a)
				abort();
		}
		c->a[c->n++] = strtoul(tok, NULL, 10);
	}
	free(copy);
	return 1;
}

#define IS(s, nargs) (!strcmp(c->name, (s)) && c->n == (nargs))
#define IS_NAME(c, s) (!strcmp((c).name, (s)) && (c).n == 0)

static int in_range(unsigned long i, int n)
{
	return i < (unsigned long)n;
}

/* Runs one seed path; answers 0 when the command is not one. */
static int run_path(struct cmd *c)
{
	sigjmp_buf jump;
	unsigned long *a = c->a;
	int pages_ok = c->n > 0 && in_range(a[0], W.npages);
	int ptes_ok = c->n > 1 && in_range(a[1], W.nptes);
	int result, pre, referenced, swap_result, disposition;

	if (!(IS("init", 0) || (IS("map", 3) && in_range(a[0], W.nptes) && in_range(a[1], W.npages)) ||
	      (IS("zap", 1) && in_range(a[0], W.nptes)) || (IS("referenced", 1) && pages_ok) ||
	      (IS("reclaim", 1) && pages_ok) || (IS("add", 2) && pages_ok && ptes_ok) ||
	      (IS("remove", 2) && pages_ok && ptes_ok) || (IS("unmap", 1) && pages_ok) ||
	      (IS("unmap_one", 2) && pages_ok && ptes_ok)))
		return 0;
	arm(1);
	shim_jump = &jump;
	if (sigsetjmp(jump, 1)) {
		shim_jump = NULL;
		arm(0);
		emit_fault();
		return 1;
	}
	if (IS("init", 0)) {
		pte_chain_init();
		emit("ok\n");
	} else if (IS("map", 3)) {
		pre = map_pte(&W.ptes[a[0]], &W.pages[a[1]], (int)a[2]);
		pre ? emit("pre %d\n", pre) : emit("ok mapped\n");
	} else if (IS("zap", 1)) {
		pre = zap_pte(&W.ptes[a[0]]);
		pre ? emit("pre %d\n", pre) : emit("ok\n");
	} else if (IS("referenced", 1)) {
		emit("ok %d\n", referenced_under_lock(&W.pages[a[0]]));
	} else if (IS("reclaim", 1)) {
		pre = reclaim(&W.pages[a[0]], &referenced, &swap_result, &disposition);
		pre ? emit("pre %d\n", pre) : emit("ok %d %d %d\n", referenced, swap_result, disposition);
	} else if (IS("add", 2)) {
		page_add_rmap(&W.pages[a[0]], &W.ptes[a[1]]);
		emit("ok\n");
	} else if (IS("remove", 2)) {
		page_remove_rmap(&W.pages[a[0]], &W.ptes[a[1]]);
		emit("ok\n");
	} else if (IS("unmap", 1)) {
		result = try_to_unmap(&W.pages[a[0]]);
		emit("ok %d\n", result);
	} else {
		result = try_to_unmap_one(&W.pages[a[0]], &W.ptes[a[1]]);
		emit("ok %d\n", result);
	}
	shim_jump = NULL;
	arm(0);
	return 1;
}

/* Sets up or changes the world; answers 0 when the command is not one. */
static int run_setup(struct cmd *c)
{
	unsigned long *a = c->a;
	if (IS("reset", 3)) {
		shim_reset((int)a[0], (int)a[1], (int)a[2]);
	} else if (IS("page", 6) && W.npages < W.maxpages) {
		int i = W.npages++;
		W.pfn[i] = a[0];
		W.valid[i] = (int)a[1];
		W.pages[i].count.counter = (int)a[2];
		W.pages[i].mapping = shim_space((int)a[3]);
		W.pages[i].index = a[4];
		W.pages[i].flags = a[5];
	} else if (IS("mm", 0) && W.nmms < W.maxmms) {
		W.nmms++;
	} else if (IS("pte", 2) && W.nptes < W.maxptes && in_range(a[0], W.nmms)) {
		W.pte_mm[W.nptes] = (int)a[0];
		W.pte_address[W.nptes++] = a[1];
	} else if (!strcmp(c->name, "vmas") && c->n >= 2 && in_range(a[0], W.nmms) &&
		   (unsigned long)c->n == 2 + 3 * a[1]) {
		int n = (int)a[1];
		unsigned long *v = malloc(3 * (size_t)(n ? n : 1) * sizeof(*v));
		if (!v)
			abort();
		for (int i = 0; i < n; i++)
			v[i] = a[2 + 3 * i], v[n + i] = a[3 + 3 * i], v[2 * n + i] = a[4 + 3 * i];
		shim_set_vmas((int)a[0], n, v, v + n, v + 2 * n);
		free(v);
	} else if (IS("setpte", 7) && in_range(a[0], W.nptes)) {
		swp_entry_t entry = { a[6] };
		W.ptes[a[0]] = a[1] ? mk_pte_pfn(a[2], (int)a[3], (int)a[4])
				   : a[5] ? swp_entry_to_pte(entry) : (pte_t){ 0 };
	} else if (IS("setpage", 4) && in_range(a[0], W.npages)) {
		W.pages[a[0]].flags = a[1];
		W.pages[a[0]].mapping = shim_space((int)a[2]);
		W.pages[a[0]].index = a[3];
	} else if (IS("lock", 2) && in_range(a[0], W.nmms) && a[1] <= SHIM_OTHER_CPU) {
		W.mms[a[0]].page_table_lock.holder = (int)a[1];
	} else if (IS("swap", 2)) {
		shim_set_swap(a[0], a[1]);
	} else if (IS("failnext", 2)) {
		W.fail_next = (int)a[0];
		W.fail_after = (int)a[1];
	} else if (IS("consts", 0)) {
		emit("consts %d %d %d %d %d %d %d %lu %d\n", PG_locked, PG_referenced, PG_dirty, PG_reserved,
		     PG_chainlock, PG_direct, PG_swapcache, VM_LOCKED, SWAP_MAP_MAX);
		return 1;
	} else {
		return 0;
	}
	emit("ok\n");
	return 1;
}

static void run(const char *line, size_t len)
{
	struct cmd c;
	if (!parse(line, len, &c))
		return; /* a blank line */
	if (IS_NAME(c, "dump"))
		dump();
	else if (IS_NAME(c, "sync"))
		emit("sync\n");
	else if (!run_path(&c) && !run_setup(&c))
		emit("error bad command %s (%d arguments)\n", c.name, c.n);
	free(c.a);
}

const char *orc_batch(const char *text, size_t *len)
{
	out_len = 0;
	if (!out_cap)
		emit("%s", "");
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t n = nl ? (size_t)(nl - text) : strlen(text);
		run(text, n);
		text += n + (nl != NULL);
	}
	*len = out_len;
	return out;
}
