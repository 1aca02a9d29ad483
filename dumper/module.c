/*
 * module.c - the Python binding: heapsnap._dumper.dump(path, values).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <string.h>

#include "dump.h"

PyDoc_STRVAR(dump_doc,
"dump(path, values='preview')\n--\n\n"
"Write a heap snapshot of this interpreter to path, atomically.\n"
"values is 'preview' (bounded previews of str, bytes, int and float) or\n"
"'none' (no contents). Returns (objects, refs, bytes, seconds). Raises\n"
"OSError naming path when the dump fails; nothing is then left at path.");

static PyObject *dump(PyObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "path", "values", NULL };
	PyObject *path = NULL;
	const char *values = "preview";
	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|s:dump", kwlist,
	                                 PyUnicode_FSConverter, &path, &values))
		return NULL;
	PyObject *ret = NULL;
	static const char *const meta[] = { "trigger", "api", NULL };
	struct hs_dump_opts opts = { 0 };
	opts.meta = meta;
	if (strcmp(values, "preview") == 0) {
		opts.values = HS_VALUES_PREVIEW;
	} else if (strcmp(values, "none") == 0) {
		opts.values = HS_VALUES_NONE;
	} else {
		PyErr_Format(PyExc_ValueError,
		             "values must be 'preview' or 'none', not '%s'", values);
		goto cleanup;
	}
	char err[1024];
	struct hs_dump_result res;
	int code = hs_dump_path(PyBytes_AS_STRING(path), &opts, &res, err,
	                        sizeof(err));
	if (code) {
		char msg[1100];
		snprintf(msg, sizeof(msg), "dump failed: %s", err);
		PyObject *name = PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(path));
		PyObject *exc = name ? Py_BuildValue("(isO)", code, msg, name) : NULL;
		if (exc)
			PyErr_SetObject(PyExc_OSError, exc);
		Py_XDECREF(exc);
		Py_XDECREF(name);
		goto cleanup;
	}
	ret = Py_BuildValue("(KKKd)", (unsigned long long)res.objects,
	                    (unsigned long long)res.refs,
	                    (unsigned long long)res.bytes, res.seconds);
cleanup:
	Py_DECREF(path);
	return ret;
}

static PyMethodDef methods[] = {
	{ "dump", (PyCFunction)(void (*)(void))dump, METH_VARARGS | METH_KEYWORDS,
	  dump_doc },
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
