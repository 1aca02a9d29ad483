/*
 * oddext.c - a test extension with the objects the dumper must survive:
 * a traverse that visits one field twice and stops before another, a non-GC
 * object holding a reference the collector never sees, and a GC object
 * without a traverse function.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
	PyObject_HEAD
	PyObject *a;
	PyObject *b;
} Odd;

/* a twice, then "stop" without visiting b */
static int stopper_traverse(PyObject *self, visitproc visit, void *arg)
{
	Odd *o = (Odd *)self;
	Py_VISIT(o->a);
	Py_VISIT(o->a);
	return o->b ? 7 : 0;
}

static int odd_clear(PyObject *self)
{
	Odd *o = (Odd *)self;
	Py_CLEAR(o->a);
	Py_CLEAR(o->b);
	return 0;
}

static void odd_dealloc(PyObject *self)
{
	if (PyType_IS_GC(Py_TYPE(self)))
		PyObject_GC_UnTrack(self);
	odd_clear(self);
	Py_TYPE(self)->tp_free(self);
}

static int odd_init(PyObject *self, PyObject *args, PyObject *kw)
{
	Odd *o = (Odd *)self;
	PyObject *a = NULL, *b = NULL;
	if (!PyArg_ParseTuple(args, "|OO", &a, &b))
		return -1;
	Py_XINCREF(a);
	Py_XINCREF(b);
	Py_XSETREF(o->a, a);
	Py_XSETREF(o->b, b);
	return 0;
}

static PyMemberDef members[] = {
	{ "a", T_OBJECT, offsetof(Odd, a), READONLY, NULL },
	{ "b", T_OBJECT, offsetof(Odd, b), READONLY, NULL },
	{ NULL, 0, 0, 0, NULL },
};

static PyTypeObject Stopper = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "oddext.Stopper",
	.tp_basicsize = sizeof(Odd),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_traverse = stopper_traverse,
	.tp_clear = odd_clear,
	.tp_dealloc = odd_dealloc,
	.tp_init = odd_init,
	.tp_members = members,
	.tp_new = PyType_GenericNew,
};

static PyTypeObject Hidden = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "oddext.Hidden",
	.tp_basicsize = sizeof(Odd),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = odd_dealloc,
	.tp_init = odd_init,
	.tp_members = members,
	.tp_new = PyType_GenericNew,
};

static PyTypeObject NoTraverse = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "oddext.NoTraverse",
	.tp_basicsize = sizeof(Odd),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_traverse = stopper_traverse,
	.tp_clear = odd_clear,
	.tp_dealloc = odd_dealloc,
	.tp_init = odd_init,
	.tp_members = members,
	.tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, .m_name = "oddext", .m_size = -1,
};

PyMODINIT_FUNC PyInit_oddext(void)
{
	if (PyType_Ready(&Stopper) < 0 || PyType_Ready(&Hidden) < 0 ||
	    PyType_Ready(&NoTraverse) < 0)
		return NULL;
	/* ready with a traverse (PyType_Ready insists), then none: the
	 * collector itself would crash on these, so scripts keep it off */
	NoTraverse.tp_traverse = NULL;
	PyObject *m = PyModule_Create(&module);
	if (!m)
		return NULL;
	if (PyModule_AddObjectRef(m, "Stopper", (PyObject *)&Stopper) < 0 ||
	    PyModule_AddObjectRef(m, "Hidden", (PyObject *)&Hidden) < 0 ||
	    PyModule_AddObjectRef(m, "NoTraverse", (PyObject *)&NoTraverse) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
