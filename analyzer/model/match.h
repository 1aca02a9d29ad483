/*
 * match.h - which object of one dump is which of the next. The dumps
 * themselves, read into arrays, are snap.h's; it is included here.
 *
 * Identity across dumps. CPython never moves an object, so an object alive
 * in two dumps has the same address in both; but a freed object's address
 * is soon reused, so the same address alone proves little. An object of
 * the newer dump is taken to be the object at its address in the older
 * dump when
 *   - both have the same type (by name),
 *   - when both are tracked by the GC, its generation is not younger
 *     (collections only promote: a gen-2 object followed by a gen-0 one
 *     at the same address is a new object),
 *   - when both dumps were taken with tracemalloc tracing, both have the
 *     same allocation traceback (or neither has one),
 *   - when both hold scalar values (their own value preview, or str, int,
 *     float, bytes... objects they refer to, keyed by the reference's kind
 *     and label), at least one is the same in both: a survivor may change
 *     some attributes, a reallocated timer differs in all (`_when`). The
 *     values are compared through a 64-bit sketch per object (one bit per
 *     value), so two different objects pass with odds of about k*k/64 for
 *     k values each; singletons (None, True, small ints) do not count.
 *   - otherwise, when its shortest-path parent sits at the address where
 *     the older object's parent sat, that parent is the same object too:
 *     what a new object holds alone on its path is new with it.
 * Limits: an object freed and replaced by one of the same type, from the
 * same line, holding the same values (or none) under a surviving parent,
 * passes for the old one; a survivor that replaced every scalar it holds
 * passes for a new one; the generation test means nothing for untracked
 * objects (str, int, atomic dicts and tuples), and on CPython 3.14's
 * incremental collector, whose old generation alternates between two
 * spaces. Group counts (leaks.h) do not depend on identity, so such a
 * guess can add a candidate but cannot make a steady group look like it
 * grows.
 */
#ifndef HSA_MATCH_H
#define HSA_MATCH_H

#include <stdint.h>

#include "snap.h"

/* For every object of newer, the same object in older by the rule above,
 * or HSA_NONE: m[v] for v < newer->n. Returns the number matched, or -1
 * when out of memory. */
int64_t hsa_match(const hsa_snap *older, const hsa_snap *newer, hsa_node *m);

#endif
