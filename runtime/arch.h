/*
 * runtime/arch.h: selects the architecture header; the only #if on the architecture.
 */
#ifndef GR_RUNTIME_ARCH_H
#define GR_RUNTIME_ARCH_H

#if defined(__x86_64__)
#include "runtime/arch_amd64.h"
#else
#error "greenrun: this architecture has no runtime/arch_<arch>.h yet"
#endif

#endif /* GR_RUNTIME_ARCH_H */
