/*
 * arch_aarch64.c - 'heapsnap attach' on aarch64 (arch.h): `svc #0`, the
 * AAPCS64 calling convention, and a hardware watchpoint through the
 * NT_ARM_HW_WATCH register set. Compiled and checked against the kernel's
 * arm64 ptrace code; not yet run on aarch64 hardware.
 *
 * How this differs from x86_64:
 * - Registers go through PTRACE_GETREGSET/SETREGSET (NT_PRSTATUS); there
 *   is no orig_x0 among them. None is needed: the kernel decides on a
 *   restart before a ptrace stop (pc back onto the `svc`, x0 back to its
 *   first argument), and only acts on it afterwards if pc is still there.
 *   A thread given an injected pc therefore restarts nothing, and the
 *   registers put back after the injection restart the interrupted call
 *   itself. A call that would have gone on through restart_syscall (a
 *   relative sleep, poll with a timeout) starts over instead: which of the
 *   two the kernel chose is not visible to a tracer.
 * - A watchpoint stops the thread before the write: inject.c steps the
 *   thread over it (HS_WATCH_BEFORE_WRITE).
 */
#include "arch.h"

#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#ifndef __aarch64__
#error "arch_aarch64.c is for aarch64 only"
#endif

#define SVC_0 0xd4000001u      /* svc #0; instructions are little-endian */
#define SPSR_SS (1u << 21)     /* software step: run one instruction */
#ifndef PSR_BTYPE_MASK
#define PSR_BTYPE_MASK 0x00000c00u /* uapi headers before BTI */
#endif

/* A watchpoint's control word as the kernel's ptrace decodes it: enable
 * (bit 0), privilege (bits 1-2, EL0 = 2), type (bits 3-4, store = 2), and
 * the bytes watched (bits 5-12, one per byte from the 8-aligned address). */
#define WCR_STORE_EL0 (1u | (2u << 1) | (2u << 3))
#define WCR_BYTES_SHIFT 5

int hs_arch_get_regs(pid_t tid, hs_regs *r)
{
	struct iovec iov = { r, sizeof(*r) };
	return ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0 ? -1 : 0;
}

int hs_arch_set_regs(pid_t tid, const hs_regs *r)
{
	struct iovec iov = { (void *)r, sizeof(*r) };
	return ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0 ? -1 : 0;
}

/* pstate for a pc set by us: no branch-target check pending (BTYPE is
 * left by an indirect branch, which did not happen), and the step armed
 * for one instruction (newer kernels set SS on their own when registers
 * are written during a step; older ones keep what is written). */
static uint64_t redirected(uint64_t pstate, int stepping)
{
	pstate &= ~(uint64_t)PSR_BTYPE_MASK;
	return stepping ? pstate | SPSR_SS : pstate;
}

void hs_arch_syscall(hs_regs *r, uint64_t insn, long nr, const unsigned long a[6])
{
	for (int i = 0; i < 6; i++)
		r->regs[i] = a[i];
	r->regs[8] = (uint64_t)nr;
	r->pc = insn;
	r->pstate = redirected(r->pstate, 1);
}

long hs_arch_syscall_result(const hs_regs *r, uint64_t insn)
{
	/* pc back on the `svc`: the call was interrupted and the kernel set
	 * it up to restart (x0 is its first argument again, not a result) */
	if (r->pc != insn + 4)
		return -EINTR;
	return (long)r->regs[0];
}

uint64_t hs_arch_call(hs_regs *r, uint64_t fn, uint64_t top, uint64_t a0, uint64_t a1)
{
	r->sp = top & ~(uint64_t)15;
	r->pc = fn;
	r->regs[0] = a0;
	r->regs[1] = a1;
	r->regs[30] = 0; /* the link register: the return address */
	r->pstate = redirected(r->pstate, 0);
	return 0;
}

uint64_t hs_arch_pc(const hs_regs *r)
{
	return r->pc;
}

uint64_t hs_arch_result(const hs_regs *r)
{
	return r->regs[0];
}

int64_t hs_arch_find_syscall(const unsigned char *p, uint64_t len)
{
	for (uint64_t i = 0; i + 3 < len; i += 4)
		if (p[i] == (SVC_0 & 0xff) && p[i + 1] == ((SVC_0 >> 8) & 0xff) &&
		    p[i + 2] == ((SVC_0 >> 16) & 0xff) && p[i + 3] == SVC_0 >> 24)
			return (int64_t)i;
	return -1;
}

/* Writes watchpoint 0 of the thread: the kernel reads the address and
 * control word of each slot given, skipping the header. */
static int set_watch(pid_t tid, uint64_t addr, uint32_t ctrl)
{
	struct user_hwdebug_state st;
	memset(&st, 0, sizeof(st));
	st.dbg_regs[0].addr = addr & ~(uint64_t)7;
	st.dbg_regs[0].ctrl = ctrl;
	struct iovec iov = { &st, offsetof(struct user_hwdebug_state, dbg_regs) +
	                          sizeof(st.dbg_regs[0]) };
	return ptrace(PTRACE_SETREGSET, tid, (void *)NT_ARM_HW_WATCH, &iov) < 0 ? -1 : 0;
}

int hs_arch_watch(pid_t tid, uint64_t addr)
{
	uint32_t bytes = 0xfu << (addr & 7);
	return set_watch(tid, addr, WCR_STORE_EL0 | bytes << WCR_BYTES_SHIFT);
}

void hs_arch_unwatch(pid_t tid, uint64_t addr)
{
	set_watch(tid, addr, 0);
}

int hs_arch_watch_hit(pid_t tid)
{
	siginfo_t si;
	return ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) == 0 && si.si_code == TRAP_HWBKPT;
}
