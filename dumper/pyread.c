/*
 * pyread.c - reading dicts, attributes and ints without running Python
 * code, allocating, or touching reference counts: lookups compare str keys
 * with C strings instead of hashing a new str object.
 */
#include "internal.h"

#include <string.h>

int hsd_str_eq(PyObject *s, const char *ascii)
{
	if (!PyUnicode_Check(s) || !hsd_str_ready(s) || !PyUnicode_IS_ASCII(s))
		return 0;
	size_t n = strlen(ascii);
	return (size_t)PyUnicode_GET_LENGTH(s) == n &&
	       memcmp(PyUnicode_DATA(s), ascii, n) == 0;
}

PyObject *hsd_dict_get(PyObject *dict, const char *name)
{
	if (!dict || !PyDict_Check(dict))
		return NULL;
	Py_ssize_t pos = 0;
	PyObject *k, *v;
	while (PyDict_Next(dict, &pos, &k, &v)) {
		if (hsd_str_eq(k, name))
			return v;
	}
	return NULL;
}

PyObject *hsd_module_get(PyInterpreterState *interp, const char *module,
                         const char *name)
{
	PyObject *m = hsd_dict_get(hsd_interp_modules(interp), module);
	if (!m || !PyModule_Check(m))
		return NULL;
	return hsd_dict_get(((PyModuleObject *)m)->md_dict, name);
}

PyObject *hsd_attr(PyObject *o, const char *name)
{
	PyDictValues *values = hsd_inline_values(o);
	if (values) {
		PyDictKeysObject *keys = ((PyHeapTypeObject *)Py_TYPE(o))->ht_cached_keys;
		PyDictUnicodeEntry *e = DK_UNICODE_ENTRIES(keys);
		for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
			if (e[i].me_key && hsd_str_eq(e[i].me_key, name))
				return values->values[i];
		}
		return NULL;
	}
	return hsd_dict_get(hsd_instance_dict(o), name);
}

int hsd_long_u64(PyObject *o, uint64_t *v, int *neg)
{
	if (!PyLong_Check(o))
		return -1;
	size_t n;
	const digit *d = hsd_long_digits(o, &n, neg);
	if (n > 3 || (n == 3 && d[2] >> (64 - 2 * PyLong_SHIFT)))
		return -1;
	uint64_t x = 0;
	for (size_t i = n; i-- > 0;)
		x = (x << PyLong_SHIFT) | d[i];
	*v = x;
	return 0;
}
