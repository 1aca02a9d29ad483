#include "hsnap.h"

static const char *pick(const char *const *names, unsigned n, unsigned v)
{
	return v < n && names[v] ? names[v] : "unknown";
}

#define PICK(arr, v) pick(arr, sizeof(arr) / sizeof(arr[0]), v)

const char *hs_kind_name(unsigned kind)
{
	static const char *const names[] = {
		[HS_K_META] = "meta", [HS_K_STRINGS] = "strings", [HS_K_TYPES] = "types",
		[HS_K_OBJECTS] = "objects", [HS_K_REFS] = "refs", [HS_K_ROOTS] = "roots",
		[HS_K_FRAMES] = "frames", [HS_K_TRACEBACKS] = "tracebacks",
		[HS_K_SITES] = "sites", [HS_K_THREADS] = "threads", [HS_K_TASKS] = "tasks",
		[HS_K_INDEX] = "index", [HS_K_NATIVE_MODULES] = "native-modules",
		[HS_K_NATIVE_SITES] = "native-sites",
	};
	return PICK(names, kind);
}

const char *hs_edge_kind_name(unsigned kind)
{
	static const char *const names[] = {
		[HS_E_OTHER] = "other", [HS_E_DICT_KEY] = "dict-key",
		[HS_E_DICT_VALUE] = "dict-value", [HS_E_ATTR] = "attr",
		[HS_E_INDEX] = "index", [HS_E_LOCAL] = "local", [HS_E_CELL] = "cell",
		[HS_E_DICT_ATTR] = "__dict__", [HS_E_CLASS] = "__class__",
		[HS_E_SELF] = "__self__", [HS_E_FUNC] = "__func__", [HS_E_WEAK] = "weak",
		[HS_E_NAMED] = "named",
	};
	return PICK(names, kind);
}

const char *hs_root_kind_name(unsigned kind)
{
	static const char *const names[] = {
		[HS_R_OTHER] = "other", [HS_R_MODULES] = "modules",
		[HS_R_BUILTINS] = "builtins", [HS_R_SYSDICT] = "sys",
		[HS_R_THREAD_FRAME] = "thread-frame", [HS_R_HELD_FROM_C] = "held-from-c",
		[HS_R_ASYNC_TASK] = "asyncio-task", [HS_R_STATIC] = "static",
	};
	return PICK(names, kind);
}

const char *hs_task_state_name(unsigned state)
{
	static const char *const names[] = {
		[HS_T_PENDING] = "pending", [HS_T_CANCELLED] = "cancelled",
		[HS_T_FINISHED] = "finished",
	};
	return PICK(names, state);
}
