/*
 * preload/api.c: the public functions of greenrun.h, over the runtime's own queries.
 */
#include "preload/greenrun.h"

#include <errno.h>
#include <string.h>

#include "runtime/boot.h"
#include "runtime/dump.h"
#include "runtime/g.h"

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
