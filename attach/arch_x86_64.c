/*
 * arch_x86_64.c - 'heapsnap attach' on x86_64 (arch.h): `syscall`, the
 * System V calling convention, and debug registers 0, 6 and 7.
 */
#include "arch.h"

#include <errno.h>
#include <stddef.h>
#include <sys/ptrace.h>

#ifndef __x86_64__
#error "arch_x86_64.c is for x86_64 only"
#endif

#define DR7_WRITE_4 (1u | (1u << 16) | (3u << 18)) /* L0, write, 4 bytes */

int hs_arch_get_regs(pid_t tid, hs_regs *r)
{
	return ptrace(PTRACE_GETREGS, tid, NULL, r) < 0 ? -1 : 0;
}

int hs_arch_set_regs(pid_t tid, const hs_regs *r)
{
	return ptrace(PTRACE_SETREGS, tid, NULL, r) < 0 ? -1 : 0;
}

void hs_arch_syscall(hs_regs *r, uint64_t insn, long nr, const unsigned long a[6])
{
	r->rax = (unsigned long long)nr;
	r->rdi = a[0];
	r->rsi = a[1];
	r->rdx = a[2];
	r->r10 = a[3];
	r->r8 = a[4];
	r->r9 = a[5];
	r->rip = insn;
	/* not in a system call: nothing for the kernel to restart */
	r->orig_rax = (unsigned long long)-1;
}

long hs_arch_syscall_result(const hs_regs *r, uint64_t insn)
{
	(void)insn;
	return (long)r->rax;
}

uint64_t hs_arch_call(hs_regs *r, uint64_t fn, uint64_t top, uint64_t a0, uint64_t a1)
{
	uint64_t sp = top & ~(uint64_t)15;
	sp -= 8; /* the return address: as after a call instruction */
	r->rip = fn;
	r->rsp = sp;
	r->rdi = a0;
	r->rsi = a1;
	r->rax = 0;
	r->orig_rax = (unsigned long long)-1;
	return sp;
}

uint64_t hs_arch_pc(const hs_regs *r)
{
	return r->rip;
}

uint64_t hs_arch_result(const hs_regs *r)
{
	return r->rax;
}

int64_t hs_arch_find_syscall(const unsigned char *p, uint64_t len)
{
	for (uint64_t i = 0; i + 1 < len; i++)
		if (p[i] == 0x0f && p[i + 1] == 0x05)
			return (int64_t)i;
	return -1;
}

static int debugreg(pid_t tid, int i, unsigned long v)
{
	return (int)ptrace(PTRACE_POKEUSER, tid,
	                   (void *)(offsetof(struct user, u_debugreg) + (size_t)i * 8),
	                   (void *)v);
}

static unsigned long debugreg_get(pid_t tid, int i)
{
	errno = 0;
	return (unsigned long)ptrace(PTRACE_PEEKUSER, tid,
	                             (void *)(offsetof(struct user, u_debugreg) + (size_t)i * 8),
	                             NULL);
}

int hs_arch_watch(pid_t tid, uint64_t addr)
{
	return debugreg(tid, 0, addr) == 0 && debugreg(tid, 7, DR7_WRITE_4) == 0 ? 0 : -1;
}

void hs_arch_unwatch(pid_t tid, uint64_t addr)
{
	(void)addr;
	debugreg(tid, 7, 0);
	debugreg(tid, 6, 0);
}

int hs_arch_watch_hit(pid_t tid)
{
	if (!(debugreg_get(tid, 6) & 1))
		return 0;
	debugreg(tid, 6, 0);
	return 1;
}
