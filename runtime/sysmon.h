/*
 * runtime/sysmon.h: the monitor thread.
 */
#ifndef GR_RUNTIME_SYSMON_H
#define GR_RUNTIME_SYSMON_H

#include <stdint.h>

void gr_sysmon_config(int64_t schedtrace_ms);
void *gr_sysmon_main(void *arg);
/* Wake sysmon for a round now. Async-signal-safe. */
void gr_sysmon_kick(void);

#endif /* GR_RUNTIME_SYSMON_H */
