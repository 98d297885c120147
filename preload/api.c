/*
 * preload/api.c: the public functions of greenrun.h, over the runtime's own queries.
 */
#include "preload/greenrun.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/boot.h"
#include "runtime/dump.h"
#include "runtime/g.h"
#include "runtime/gc.h"

GREENRUN_API int
greenrun_thread_info(pthread_t thread, struct greenrun_thread_info *info, size_t size)
{
    static const int states[] = {
        [G_RUNNABLE] = GREENRUN_THREAD_RUNNABLE, [G_RUNNING] = GREENRUN_THREAD_RUNNING,
        [G_WAITING] = GREENRUN_THREAD_WAITING,   [G_SYSCALL] = GREENRUN_THREAD_SYSCALL,
        [G_DEAD] = GREENRUN_THREAD_EXITED,
    };
    struct gr_ginfo gi;

    if (size != sizeof(*info))
        return EINVAL;
    if (gr_native() || !gr_sched_booted() || gr_g_info(gr_g_from_thread(thread), &gi) != 0)
        return ESRCH;
    memset(info, 0, sizeof(*info));
    /* A G not yet started (G_IDLE) is about to be queued: runnable, as far as anyone sees. */
    info->state = gi.status < GR_ARRAY_LEN(states) && states[gi.status] != 0 ?
                      states[gi.status] :
                      GREENRUN_THREAD_RUNNABLE;
    info->wait_reason = gi.waitreason;
    info->os_tid = gi.mtid;
    info->os_asleep = gi.masleep;
    return 0;
}

GREENRUN_API int
greenrun_dump(int fd)
{
    if (gr_native() || !gr_sched_booted())
        return ESRCH;
    return -gr_dump_write(fd);
}

GREENRUN_API void *
greenrun_malloc_noscan(size_t size)
{
    void *p = malloc(size);

    gr_gc_set_noscan(p); /* nothing outside leak mode */
    return p;
}

GREENRUN_API int
greenrun_gc(void)
{
    if (gr_native() || !gr_sched_booted())
        return ESRCH;
    return -gr_gc_run();
}

GREENRUN_API int
greenrun_gc_stats(struct greenrun_gc_stats *stats, size_t size)
{
    struct gr_gc_stats st;

    if (size != sizeof(*stats))
        return EINVAL;
    if (gr_native() || !gr_sched_booted())
        return ESRCH;
    gr_gc_stats(&st);
    memset(stats, 0, sizeof(*stats));
    stats->mode = gr_gc_mode();
    stats->checks = st.checks;
    stats->live_objects = st.live_objects;
    stats->leaked_objects = st.leaked_objects;
    stats->leaked_bytes = st.leaked_bytes;
    stats->sites = st.sites;
    stats->last_pause_ns = (unsigned long long)st.last_pause_ns;
    return 0;
}
