/*
 * native.h - starting the native allocation tracker from the Python
 * binding (native.c; the tracker is native/preload.c).
 */
#ifndef HSD_NATIVE_H
#define HSD_NATIVE_H

#include <stddef.h>

/* 1 if libheapsnap-native.so is loaded (and of this dumper's ABI). */
int hsd_native_loaded(void);
/* Starts tracking, leaving Python's own allocators out; with the GIL.
 * Returns 0, or -1 with a message in err (no tracker). Idempotent. */
int hsd_native_start(char *err, size_t errlen);

#endif
