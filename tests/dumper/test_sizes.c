/*
 * test_sizes.c - object sizes in a dump against the memory tracemalloc
 * traced for making them: instances count their attribute values, which
 * sys.getsizeof leaves out (3.11+), and a __dict__ object counts apart.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

/* "c TYPE COUNT BYTES": the dump has COUNT objects of TYPE whose sizes,
 * with those of the __dict__ objects they hold, are BYTES within 10 %. */
static void check_class(const struct t_dump *d, const char *line)
{
	char type[256];
	unsigned long long count, bytes;
	cr_assert(sscanf(line, "c %255s %llu %llu", type, &count, &bytes) == 3,
	          "bad view line: %s", line);
	uint64_t n = 0, total = 0, dicts = 0;
	for (size_t i = 0; i < d->nobjs; i++) {
		const struct t_obj *o = &d->objs[i];
		if (strcmp(t_type_name(d, o), type) != 0)
			continue;
		n++;
		total += o->size;
		for (size_t k = 0; k < o->nedges; k++) {
			const struct t_edge *e = &d->edges[o->edge0 + k];
			const struct t_obj *dict = e->kind == HS_E_DICT_ATTR ? t_find(d, e->dst) : NULL;
			if (dict) {
				total += dict->size;
				dicts++;
			}
		}
	}
	cr_expect_eq(n, count, "%s: %llu in the dump, %llu made", type,
	             (unsigned long long)n, count);
	double ratio = (double)total / (double)bytes;
	cr_expect(ratio > 0.9 && ratio < 1.1,
	          "%s: %llu instances (%llu dicts) sized %llu bytes in the dump "
	          "(%.1f each), tracemalloc traced %llu (%.1f each)", type,
	          (unsigned long long)n, (unsigned long long)dicts,
	          (unsigned long long)total, (double)total / (double)(n ? n : 1),
	          bytes, (double)bytes / (double)(count ? count : 1));
}

Test(sizes, instances_count_their_attribute_values)
{
	char *dir = t_mkdir();
	char dump[512], viewp[512], err[512];
	snprintf(dump, sizeof(dump), "%s/sizes.hsnap", dir);
	snprintf(viewp, sizeof(viewp), "%s/sizes.view", dir);
	cr_assert_eq(t_python(dir, "sizes.py", dump, viewp, NULL), 0);
	struct t_dump d;
	cr_assert_eq(t_load(&d, dump, err, sizeof(err)), 0, "%s", err);
	cr_assert(d.complete, "dump %s is not complete", dump);
	char *text = t_slurp(viewp, NULL);
	cr_assert(text, "no view file %s", viewp);
	size_t classes = 0;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		check_class(&d, l);
		classes++;
	}
	cr_expect_eq(classes, 5, "%zu classes in the view", classes);
	free(text);
	t_free(&d);
	t_rmdir(dir);
}
