/*
 * runtime/leaf.c: libc's leaf functions, where a G may be preempted.
 *
 * The preemption signal leaves libc alone: its functions take libc's own locks, which the
 * runtime cannot see, and a G parked holding one would stop every G that next takes it. But
 * a G that computes in memcpy or strlen called from its own code holds none, and a program
 * whose threads live in those functions was never preempted at all (64 threads copying
 * buffers kept a sleeping main thread waiting for ever). So the handler also preempts a G in
 * one of the functions below, when the function was called by the program itself.
 *
 * At boot, for each name, the implementation the program's calls reach (dlsym past the
 * runtime, which resolves the IFUNC as the program's PLT does; an address outside libc, a
 * definition of the program's own, is left out) is looked up in libc's unwind table
 * (.eh_frame_hdr's binary search table, then the FDE): the FDE gives the function's extent,
 * and its call frame instructions say whether the stack pointer stays where the call left
 * it. Only functions whose FDE has no instruction at all qualify (glibc's x86_64 string
 * functions, written in assembly, push nothing): anywhere in them the return address is the
 * word at the stack pointer, and the handler preempts only when that address lies in the
 * program's code. Called from inside libc (fwrite copying into a locked FILE), the function
 * runs on. Any encoding this parser does not expect leaves the table empty: preemption is
 * then as before.
 *
 * The table is written once, before the preemption handler is installed, and read-only
 * after; the handler only compares addresses.
 */
#include "runtime/leaf.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "runtime/base.h"
#include "runtime/libc.h"

#define MAX_LEAVES 48

/* DWARF pointer encodings used by glibc's unwind tables on x86_64. */
#define DW_EH_PE_udata4  0x03
#define DW_EH_PE_sdata4  0x0b
#define DW_EH_PE_pcrel   0x10
#define DW_EH_PE_datarel 0x30

struct leaf {
    uintptr_t lo;
    uintptr_t hi;
};

static struct leaf leaves[MAX_LEAVES]; /* immutable after gr_leaf_init */
static int nleaves;

/* The functions, by the names the program calls. Several resolve to one implementation. */
static const char *const names[] = {
    "memcpy",    "memmove", "mempcpy", "memset",  "memcmp",  "bcmp",    "memchr",    "memrchr",
    "rawmemchr", "strlen",  "strnlen", "strcmp",  "strncmp", "strchr",  "strchrnul", "strrchr",
    "strcpy",    "stpcpy",  "strncpy", "stpncpy", "strcat",  "strncat", "wmemset",   "wmemcmp",
    "wmemchr",   "wcslen",  "wcsnlen", "wcschr",  "wcscmp",  "wcsncmp", "wcscpy",
};

struct ehdr {
    const uint8_t *hdr; /* .eh_frame_hdr of libc, or NULL */
    uintptr_t lo, hi;   /* libc's loaded extent, to keep every read inside it */
};

static struct ehdr libc_eh; /* immutable after gr_leaf_init */

static int
find_libc(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct ehdr *e = arg;

    (void)size;
    if (info->dlpi_name == NULL || strstr(info->dlpi_name, "/libc.so.6") == NULL)
        return 0;
    e->lo = UINTPTR_MAX;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_GNU_EH_FRAME)
            e->hdr = (const uint8_t *)a;
        if (ph->p_type == PT_LOAD) {
            if (a < e->lo)
                e->lo = a;
            if (a + ph->p_memsz > e->hi)
                e->hi = a + ph->p_memsz;
        }
    }
    return 1;
}

static int32_t
rd_s32(const uint8_t *p)
{
    int32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t
rd_u32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* An unsigned LEB128 at *pp, advancing it; false past end. */
static bool
uleb(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    unsigned shift = 0;

    while (*pp < end && shift < 64) {
        uint8_t b = *(*pp)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The CIE at cie: true when it is x86_64's usual one (augmentation "zR" with pc-relative
 * 4-byte pointers, CFA = rsp + 8, return address at CFA - 8), so that an FDE with no
 * instructions of its own describes a function that never moves its stack pointer. */
static bool
plain_cie(const uint8_t *cie, const struct ehdr *e)
{
    static const uint8_t initial[] = { 0x0c, 0x07, 0x08, 0x90, 0x01 }; /* def_cfa rsp+8; ra */
    uint32_t len = rd_u32(cie);
    const uint8_t *p = cie + 8, *end = cie + 4 + len;
    uint64_t v;

    if (len == 0xffffffffu || (uintptr_t)end > e->hi || rd_u32(cie + 4) != 0 || *p++ != 1)
        return false;
    if (strcmp((const char *)p, "zR") != 0)
        return false;
    p += 3;
    if (!uleb(&p, end, &v) || v != 1) /* code alignment */
        return false;
    if (p >= end || *p++ != 0x78) /* data alignment -8 (SLEB128) */
        return false;
    if (p >= end || *p++ != 16) /* return address column: rip */
        return false;
    if (!uleb(&p, end, &v) || v != 1 || p >= end || *p++ != (DW_EH_PE_pcrel | DW_EH_PE_sdata4))
        return false;
    if ((size_t)(end - p) < sizeof(initial) || memcmp(p, initial, sizeof(initial)) != 0)
        return false;
    for (p += sizeof(initial); p < end; p++)
        if (*p != 0) /* DW_CFA_nop only */
            return false;
    return true;
}

/* The binary search table's entry for the function at or below addr: its start, and its FDE
 * into *fde; 0 when the table is not the expected kind or addr is below its first entry. */
static uintptr_t
table_lookup(const struct ehdr *e, uintptr_t addr, const uint8_t **fde)
{
    const uint8_t *h = e->hdr, *table;
    uint32_t count, lo = 0, hi;
    uintptr_t start;

    if (h == NULL || h[0] != 1 || h[1] != (DW_EH_PE_pcrel | DW_EH_PE_sdata4) ||
        h[2] != DW_EH_PE_udata4 || h[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
        return 0;
    count = rd_u32(h + 8);
    table = h + 12;
    if (count == 0 || (uintptr_t)(table + (size_t)count * 8) > e->hi)
        return 0;
    hi = count;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)(h + rd_s32(table + (size_t)mid * 8)) <= addr)
            lo = mid;
        else
            hi = mid;
    }
    start = (uintptr_t)(h + rd_s32(table + (size_t)lo * 8));
    *fde = h + rd_s32(table + (size_t)lo * 8 + 4);
    if (start > addr || (uintptr_t)*fde < e->lo || (uintptr_t)*fde + 16 > e->hi)
        return 0;
    return start;
}

/* The extent of the frameless function whose FDE covers addr, into *lf; false if none. */
static bool
frameless_extent(const struct ehdr *e, uintptr_t addr, struct leaf *lf)
{
    const uint8_t *fde, *p, *end;
    uintptr_t start = table_lookup(e, addr, &fde);

    if (start == 0)
        return false;
    end = fde + 4 + rd_u32(fde);
    if (rd_u32(fde) == 0xffffffffu || (uintptr_t)end > e->hi ||
        !plain_cie(fde + 4 - rd_u32(fde + 4), e))
        return false;
    p = fde + 8;
    if ((uintptr_t)(p + rd_s32(p)) != start)
        return false;
    lf->lo = start;
    lf->hi = start + rd_u32(p + 4);
    p += 8;
    uint64_t auglen;
    if (!uleb(&p, end, &auglen) || auglen > (uint64_t)(end - p))
        return false;
    for (p += auglen; p < end; p++)
        if (*p != 0) /* any instruction: the function moves its stack pointer */
            return false;
    return addr < lf->hi;
}

void
gr_leaf_init(void)
{
    struct ehdr e = { 0 };

    gr_real.dl_iterate_phdr(find_libc, &e);
    if (e.hdr == NULL)
        return;
    libc_eh = e;
    for (size_t i = 0; i < GR_ARRAY_LEN(names) && nleaves < MAX_LEAVES; i++) {
        uintptr_t f = (uintptr_t)dlsym(RTLD_NEXT, names[i]);
        struct leaf lf;
        bool dup = false;

        if (f < e.lo || f >= e.hi || !frameless_extent(&e, f, &lf))
            continue;
        for (int k = 0; k < nleaves; k++)
            dup |= leaves[k].lo == lf.lo;
        if (!dup)
            leaves[nleaves++] = lf;
    }
}

bool
gr_leaf_pc(uintptr_t pc)
{
    for (int i = 0; i < nleaves; i++)
        if (pc >= leaves[i].lo && pc < leaves[i].hi)
            return true;
    return false;
}

uintptr_t
gr_leaf_libc_function(uintptr_t pc)
{
    const uint8_t *fde;

    if (pc < libc_eh.lo || pc >= libc_eh.hi)
        return 0;
    return table_lookup(&libc_eh, pc, &fde);
}
