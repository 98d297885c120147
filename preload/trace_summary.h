/*
 * preload/trace_summary.h: `greenrun trace summarize FILE`, part of the launcher (not of the
 * preloaded library): the top facts of a GREENRUN_TRACE file.
 */
#ifndef GR_PRELOAD_TRACE_SUMMARY_H
#define GR_PRELOAD_TRACE_SUMMARY_H

#include <stdio.h>

/* Read the trace at path and print the summary to out. Returns 0, or 1 after printing why
 * to stderr (the file cannot be read or holds no events). */
int gr_trace_summarize(const char *path, FILE *out);

#endif /* GR_PRELOAD_TRACE_SUMMARY_H */
