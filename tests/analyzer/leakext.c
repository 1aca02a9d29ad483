/*
 * leakext.c - a C extension that leaks (leaks/native_ext.py): leak(n)
 * mallocs n bytes, fills them and keeps them only in a C list no Python
 * object refers to, as a library caching per call without a bound would.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

/* the blocks, each linked to the one before (also keeps the compiler from
 * dropping the allocations) */
static void *blocks;

static PyObject *leak(PyObject *self, PyObject *arg)
{
	Py_ssize_t n = PyLong_AsSsize_t(arg);
	if (n < 0)
		return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "negative size");
	if ((size_t)n < sizeof(void *))
		n = sizeof(void *);
	void *p = malloc((size_t)n);
	if (!p)
		return PyErr_NoMemory();
	/* written, so the pages are resident */
	memset(p, 0xa5, (size_t)n);
	*(void **)p = blocks;
	blocks = p;
	Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
	{"leak", leak, METH_O, "malloc n bytes and never free them"},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, .m_name = "leakext", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit_leakext(void)
{
	return PyModule_Create(&module);
}
