/*
 * payload.c - the code 'heapsnap attach' loads into a throwaway fork()ed
 * copy of a Python process that never imported heapsnap, one build per
 * Python version (heapsnap-attach-3.X.so).
 *
 * The copy has one thread, the one the fork was injected into, and its
 * heap as it was when no thread was mutating Python objects. The entry
 * makes a thread state current for that thread without taking the GIL
 * (nothing else runs here), leaves the service's descriptors and signal
 * handlers behind, and writes the dump with the dumper's own hs_dump_fd()
 * to the descriptor the attacher reads. It never returns into the
 * service's code: the attacher put a zero return address on the stack and
 * catches the fault, then kills the copy.
 */
#include <link.h> /* before Python's headers, which hide its ELF types */

#include "compat.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "attach.h"
#include "child.h"
#include "dump.h"

#define EXPORT __attribute__((visibility("default")))

#define OFF(type, field) ((uint64_t)offsetof(type, field))

EXPORT const struct hs_attach_layout hs_attach_layout = {
	.abi = HS_ATTACH_ABI,
	.hexversion = PY_VERSION_HEX,
	.interp_main = OFF(_PyRuntimeState, interpreters.main),
	.gil_locked = OFF(struct _gil_runtime_state, locked),
	.gil_last_holder = OFF(struct _gil_runtime_state, last_holder),
	.gc_collecting = OFF(PyInterpreterState, gc.collecting),
#if PY_VERSION_HEX >= 0x030D0000
	.gil_in_interp = 1,
	.gil = OFF(PyInterpreterState, ceval.gil),
	.drop = HS_DROP_TSTATE,
	.eval_breaker = OFF(PyThreadState, eval_breaker),
#else
	.drop = HS_DROP_INTERP,
	.eval_breaker = OFF(PyInterpreterState, ceval.eval_breaker),
	.drop_request = OFF(PyInterpreterState, ceval.gil_drop_request),
	.calls_to_do = OFF(PyInterpreterState, ceval.pending.calls_to_do),
	.async_exc = OFF(PyInterpreterState, ceval.pending.async_exc),
	.signals_pending = OFF(_PyRuntimeState, ceval.signals_pending),
#if PY_VERSION_HEX >= 0x030C0000
	.gil_in_interp = 1,
	.gil = OFF(PyInterpreterState, ceval.gil),
	.gc_scheduled = OFF(PyInterpreterState, ceval.gc_scheduled),
	.calls_to_do_main = OFF(_PyRuntimeState, ceval.pending_mainthread.calls_to_do),
#else
	.gil = OFF(_PyRuntimeState, ceval.gil),
#endif
#endif
};

static struct hs_attach_report report;

/* The thread state of this thread (the one fork() was injected into),
 * else the main thread's: a current thread state is what the API calls of
 * the dump (the interpreter of the GC switch, type dicts) look up. */
static PyThreadState *pick_tstate(PyInterpreterState *interp)
{
	unsigned long me = PyThread_get_thread_ident();
	PyThreadState *main = NULL, *last = NULL;
	for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts;
	     ts = PyThreadState_Next(ts)) {
		if (ts->thread_id == me)
			return ts;
		if (ts->thread_id == _PyRuntime.main_thread)
			main = ts;
		last = ts;
	}
	return main ? main : last;
}

#if PY_VERSION_HEX >= 0x030C0000
struct tls_find {
	uintptr_t addr;
	void *tls;
};

static int tls_of(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct tls_find *f = arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && f->addr >= lo &&
		    f->addr - lo < ph->p_memsz) {
			f->tls = info->dlpi_tls_data;
			return 1;
		}
	}
	return 0;
}
#endif

/* Makes ts current for this thread, GIL untouched. Returns 0 or -1. */
static int make_current(PyThreadState *ts, int64_t tss_offset)
{
#if PY_VERSION_HEX >= 0x030C0000
	if (tss_offset >= 0) {
		/* _Py_tss_tstate is a thread-local of the object that defines
		 * _PyRuntime (libpython or the executable) */
		struct tls_find f = { (uintptr_t)&_PyRuntime, NULL };
		dl_iterate_phdr(tls_of, &f);
		if (!f.tls)
			return -1;
		*(PyThreadState **)((char *)f.tls + tss_offset) = ts;
		return 0;
	}
#if PY_VERSION_HEX >= 0x030D0000
	return -1; /* PyThreadState_Swap would take the GIL */
#else
	PyThreadState_Swap(ts);
	return 0;
#endif
#else
	(void)tss_offset;
	_Py_atomic_store_relaxed(&_PyRuntime.gilstate.tstate_current, (uintptr_t)ts);
	return 0;
#endif
}

EXPORT const struct hs_attach_report *hs_attach_main(const struct hs_attach_args *a)
{
	char err[HS_ATTACH_MSG];
	memset(&report, 0, sizeof(report));
	if (a->abi != HS_ATTACH_ABI) {
		report.code = EINVAL;
		snprintf(report.msg, sizeof(report.msg), "payload of another heapsnap build");
		goto done;
	}
	int out = hsd_leave_service(a->fd, 0);
	PyInterpreterState *interp = _PyRuntime.interpreters.main;
	PyThreadState *ts = interp ? pick_tstate(interp) : NULL;
	if (!ts || make_current(ts, a->tss_offset) < 0) {
		report.code = ESRCH;
		snprintf(report.msg, sizeof(report.msg), "%s",
		         ts ? "cannot make a thread state current (no _Py_tss_tstate)"
		            : "the interpreter has no thread state");
		goto done;
	}
	if (hs_dump_init() < 0) {
		report.code = ENOENT;
		snprintf(report.msg, sizeof(report.msg),
		         "the interpreter has no _frozen_importlib.ModuleSpec class");
		goto done;
	}
	struct hs_dump_opts opts = { 0 };
	opts.values = a->values;
	opts.meta = a->meta;
	opts.pid = a->pid;
	opts.ppid = a->ppid;
	struct hs_dump_result res;
	report.code = hs_dump_fd(out, &opts, &res, err, sizeof(err));
	if (report.code) {
		snprintf(report.msg, sizeof(report.msg), "%s", err);
		goto done;
	}
	report.objects = res.objects;
	report.refs = res.refs;
	report.roots = res.roots;
	report.bytes = res.bytes;
	report.seconds = res.seconds;
done:
	report.done = 1;
	return &report;
}
