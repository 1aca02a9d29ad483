/*
 * arch.h - the architecture-specific part of 'heapsnap attach' (inject.c):
 * registers, the system call instruction and convention, calls made in
 * the copy, and the write watchpoint on the GIL's `locked` field. One
 * implementation per architecture: arch_x86_64.c, arch_aarch64.c.
 *
 * Functions taking a tid act on a thread stopped by this process's ptrace.
 */
#ifndef HS_ARCH_H
#define HS_ARCH_H

#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>

#if defined(__x86_64__)
#include <sys/user.h>
typedef struct user_regs_struct hs_regs;
#define HS_SYS_FORK SYS_fork
#define HS_FORK_FLAGS 0
/* a data breakpoint traps after the write */
#define HS_WATCH_BEFORE_WRITE 0
#elif defined(__aarch64__)
#include <asm/ptrace.h>
typedef struct user_pt_regs hs_regs;
/* no fork system call: clone with SIGCHLD and nothing shared is one */
#define HS_SYS_FORK SYS_clone
#define HS_FORK_FLAGS SIGCHLD
/* a watchpoint stops the thread before the write is done */
#define HS_WATCH_BEFORE_WRITE 1
#else
#error "heapsnap attach: only x86_64 and aarch64 are implemented"
#endif

/* Reads or writes the thread's general registers. Return 0, or -1 with
 * errno. */
int hs_arch_get_regs(pid_t tid, hs_regs *r);
int hs_arch_set_regs(pid_t tid, const hs_regs *r);

/* Sets r up to run system call nr with arguments a at insn, a system call
 * instruction, when single-stepped. */
void hs_arch_syscall(hs_regs *r, uint64_t insn, long nr, const unsigned long a[6]);
/* The result of the system call stepped from insn, as the registers after
 * the step say: a value, or -errno. */
long hs_arch_syscall_result(const hs_regs *r, uint64_t insn);

/* Sets r up to call fn(a0, a1) on a stack ending at top and to return to
 * address 0, where the fault is the return. Returns the address of an
 * 8-byte return address the caller must write as 0 in the thread's
 * memory, or 0 when the return address is a register. */
uint64_t hs_arch_call(hs_regs *r, uint64_t fn, uint64_t top, uint64_t a0, uint64_t a1);
/* The program counter, and the register a function returns its value in. */
uint64_t hs_arch_pc(const hs_regs *r);
uint64_t hs_arch_result(const hs_regs *r);

/* The offset of the first system call instruction in len bytes of code
 * at p (whose address is page-aligned in the process), or -1. */
int64_t hs_arch_find_syscall(const unsigned char *p, uint64_t len);

/* Stops the thread at its next write to the 4 bytes at addr (4-aligned):
 * returns 0, or -1 with errno. */
int hs_arch_watch(pid_t tid, uint64_t addr);
/* Removes that watchpoint. */
void hs_arch_unwatch(pid_t tid, uint64_t addr);
/* 1 when the thread's SIGTRAP stop is that watchpoint's (on x86_64 its
 * status is then cleared), else 0. */
int hs_arch_watch_hit(pid_t tid);

#endif
