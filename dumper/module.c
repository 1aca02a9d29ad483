/*
 * module.c - the Python binding: heapsnap._dumper.dump(path, values), and
 * _install, _uninstall and _after_fork behind heapsnap.install().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump.h"
#include "native.h"
#include "triggers.h"

/* True if o is the str s. */
static int is_str(PyObject *o, const char *s)
{
	return PyUnicode_Check(o) && PyUnicode_CompareWithASCIIString(o, s) == 0;
}

/* The enum hs_values for 'preview' or 'none'; -1 with ValueError. */
static int values_of(PyObject *o)
{
	if (is_str(o, "preview"))
		return HS_VALUES_PREVIEW;
	if (is_str(o, "none"))
		return HS_VALUES_NONE;
	PyErr_Format(PyExc_ValueError, "values must be 'preview' or 'none', not %R", o);
	return -1;
}

PyDoc_STRVAR(dump_doc,
"dump(path, values, /)\n--\n\n"
"Write a heap snapshot of this interpreter to path, atomically.\n"
"values is 'preview' (bounded previews of str, bytes, int and float) or\n"
"'none' (no contents, no names that may be data). Returns (objects, refs, bytes, seconds). Raises\n"
"OSError naming path when the dump fails; nothing is then left at path.");

/* Positional (path, values): the call needs no argument tuple, and the
 * encoded path is copied to libc memory and released before the walk, so
 * the dump holds no Python object the call made. */
static PyObject *dump(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	if (nargs != 2) {
		PyErr_Format(PyExc_TypeError, "dump() takes 2 arguments (%zd given)",
		             nargs);
		return NULL;
	}
	struct hs_dump_opts opts = { 0 };
	static const char *const meta[] = { "trigger", "api", NULL };
	opts.meta = meta;
	if ((opts.values = values_of(args[1])) < 0)
		return NULL;
	PyObject *encoded = NULL;
	if (!PyUnicode_FSConverter(args[0], &encoded))
		return NULL;
	char *path = strdup(PyBytes_AS_STRING(encoded));
	Py_DECREF(encoded);
	if (!path)
		return PyErr_NoMemory();
	char err[1024];
	struct hs_dump_result res;
	int code = hs_dump_path(path, &opts, &res, err, sizeof(err));
	PyObject *ret = NULL;
	if (code) {
		char msg[1100];
		snprintf(msg, sizeof(msg), "dump failed: %s", err);
		PyObject *name = PyUnicode_DecodeFSDefault(path);
		PyObject *exc = name ? Py_BuildValue("(isO)", code, msg, name) : NULL;
		if (exc)
			PyErr_SetObject(PyExc_OSError, exc);
		Py_XDECREF(exc);
		Py_XDECREF(name);
	} else {
		ret = Py_BuildValue("(KKKd)", (unsigned long long)res.objects,
		                    (unsigned long long)res.refs,
		                    (unsigned long long)res.bytes, res.seconds);
	}
	free(path);
	return ret;
}

PyDoc_STRVAR(install_doc,
"_install(dir, program, signum, signame, fork, keep, values, rss_limit,\n"
"         interval, /)\n--\n\n"
"Start dumping to dir on signal signum (0: none), when the RSS reaches\n"
"rss_limit bytes and steps of 1.5 above it (0: never), every interval\n"
"seconds (0: never); heapsnap.install() checks the arguments.");

static PyObject *install(PyObject *self, PyObject *args)
{
	PyObject *dir = NULL, *values;
	struct hsd_trig_config cfg = { 0 };
	unsigned long long rss;
	if (!PyArg_ParseTuple(args, "O&sizpiOKd:_install", PyUnicode_FSConverter,
	                      &dir, &cfg.program, &cfg.signum, &cfg.signame,
	                      &cfg.fork, &cfg.keep, &values, &rss, &cfg.interval))
		return NULL;
	cfg.dir = PyBytes_AS_STRING(dir);
	cfg.rss_limit = rss;
	char err[HSD_MSG];
	int code = (cfg.values = values_of(values)) < 0 ? -1
	           : hsd_trig_install(&cfg, err, sizeof(err));
	Py_DECREF(dir);
	if (code > 0)
		PyErr_Format(PyExc_OSError, "cannot install the dump handler: %s", err);
	if (code)
		return NULL;
	Py_RETURN_NONE;
}

PyDoc_STRVAR(uninstall_doc,
"_uninstall()\n--\n\n"
"Stop dumping: waits for a dump in progress, restores the signal's\n"
"earlier handler and removes the state file.");

static PyObject *uninstall(PyObject *self, PyObject *unused)
{
	hsd_trig_uninstall();
	Py_RETURN_NONE;
}

PyDoc_STRVAR(after_fork_doc,
"_after_fork()\n--\n\n"
"In the child of os.fork(): its own watcher, files and state file.");

static PyObject *after_fork(PyObject *self, PyObject *unused)
{
	char err[HSD_MSG];
	/* an at-fork hook cannot fail the fork: say it instead */
	if (hsd_trig_after_fork(err, sizeof(err)))
		hsd_log("no dumps in process %ld: %s", (long)getpid(), err);
	Py_RETURN_NONE;
}

PyDoc_STRVAR(native_start_doc,
"_native_start()\n--\n\n"
"Start tracking native allocations (libheapsnap-native.so must be\n"
"preloaded); RuntimeError otherwise. Idempotent.");

static PyObject *native_start(PyObject *self, PyObject *unused)
{
	char err[HSD_MSG];
	if (hsd_native_start(err, sizeof(err)) < 0)
		return PyErr_Format(PyExc_RuntimeError, "%s", err);
	Py_RETURN_NONE;
}

PyDoc_STRVAR(native_loaded_doc,
"_native_loaded()\n--\n\n"
"Whether the native tracker libheapsnap-native.so is loaded.");

static PyObject *native_loaded(PyObject *self, PyObject *unused)
{
	return PyBool_FromLong(hsd_native_loaded());
}

static PyMethodDef methods[] = {
	{ "dump", (PyCFunction)(void (*)(void))dump, METH_FASTCALL, dump_doc },
	{ "_install", install, METH_VARARGS, install_doc },
	{ "_uninstall", uninstall, METH_NOARGS, uninstall_doc },
	{ "_after_fork", after_fork, METH_NOARGS, after_fork_doc },
	{ "_native_start", native_start, METH_NOARGS, native_start_doc },
	{ "_native_loaded", native_loaded, METH_NOARGS, native_loaded_doc },
	{ NULL, NULL, 0, NULL },
};

static int exec_module(PyObject *m)
{
	if (hs_dump_init() < 0)
		return -1;
	return PyModule_AddStringConstant(m, "__version__", HEAPSNAP_VERSION);
}

static PyModuleDef_Slot slots[] = {
	{ Py_mod_exec, (void *)exec_module },
	{ 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "heapsnap._dumper",
	.m_doc = "The C core of heapsnap: heap walk and .hsnap writer.",
	.m_size = 0,
	.m_methods = methods,
	.m_slots = slots,
};

PyMODINIT_FUNC PyInit__dumper(void)
{
	return PyModuleDef_Init(&module);
}
