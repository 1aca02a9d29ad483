/*
 * module.c - the Python binding: heapsnap._dumper.dump(path, values).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"

/* True if o is the str s. */
static int is_str(PyObject *o, const char *s)
{
	return PyUnicode_Check(o) && PyUnicode_CompareWithASCIIString(o, s) == 0;
}

PyDoc_STRVAR(dump_doc,
"dump(path, values, /)\n--\n\n"
"Write a heap snapshot of this interpreter to path, atomically.\n"
"values is 'preview' (bounded previews of str, bytes, int and float) or\n"
"'none' (no contents). Returns (objects, refs, bytes, seconds). Raises\n"
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
	if (is_str(args[1], "preview")) {
		opts.values = HS_VALUES_PREVIEW;
	} else if (is_str(args[1], "none")) {
		opts.values = HS_VALUES_NONE;
	} else {
		PyErr_Format(PyExc_ValueError,
		             "values must be 'preview' or 'none', not %R", args[1]);
		return NULL;
	}
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

static PyMethodDef methods[] = {
	{ "dump", (PyCFunction)(void (*)(void))dump, METH_FASTCALL, dump_doc },
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
