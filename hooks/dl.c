/*
 * hooks/dl.c: dlopen.
 *
 * A module that uses the initial-exec TLS model (DF_STATIC_TLS) and is loaded after threads
 * exist gets a slot in the static TLS area of every thread. glibc fills that slot only in the
 * threads it lists (the Ms), so after the real dlopen the runtime copies the module's TLS
 * image into every live G's block (glibc-2.36-facts.md, 1(b)). Gs created later get it from
 * glibc, whose block set-up copies every static module. The module's own constructors ran
 * in the dlopening G before the copy and saw zeros there; that much is documented.
 */
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "hooks/hook.h"
#include "runtime/tls.h"

struct tls_image {
    uintptr_t addr;                  /* load address of the module, to match link_map.l_addr */
    const void *init;
    size_t filesz;
    size_t memsz;
    bool found;
};

static int
find_image(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct tls_image *img = arg;

    (void)size;
    if (info->dlpi_addr != img->addr)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_TLS) {
            img->init = (const void *)(info->dlpi_addr + ph->p_vaddr);
            img->filesz = ph->p_filesz;
            img->memsz = ph->p_memsz;
            img->found = true;
            return 1;
        }
    }
    return 0;
}

/* Copy the static TLS image of every module of handle's chain that has one into all Gs. */
static void
spread_static_tls(void *handle)
{
    struct link_map *lm = NULL;

    if (gr_tls.off_l_tls_offset == 0 || dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0)
        return;
    for (; lm != NULL; lm = lm->l_next) {
        ptrdiff_t off = *(ptrdiff_t *)((char *)lm + gr_tls.off_l_tls_offset);
        struct tls_image img = { .addr = lm->l_addr };

        /* 0: no static TLS (yet); -1: forced dynamic. Anything else is a static slot. */
        if (off == 0 || off == -1)
            continue;
        if (!gr_tls_note_static_module((uintptr_t)lm))
            continue;                        /* already spread (or there before boot) */
        dl_iterate_phdr(find_image, &img);
        if (img.found)
            gr_tls_copy_static_image((size_t)off, img.init, img.filesz, img.memsz);
    }
}

GR_EXPORT void *
dlopen(const char *file, int mode)
{
    void *h = gr_real.dlopen(file, mode);

    if (h != NULL && gr_sched_booted() && !gr_hook_native())
        spread_static_tls(h);
    return h;
}
