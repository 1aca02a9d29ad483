/* 'diff' and 'leaks' on synthetic dumps of one application at three
 * moments: a list that only grows (the leak), per-request objects that are
 * replaced (churn), a cache at its bound, and weak references. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdump.h"

#define MOD 0x10000
#define NS 0x11000      /* the module's __dict__ */
#define PENDING 0x12000 /* list: Item k appended in dump k / 10 + 1 */
#define ACTIVE 0x13000  /* list of the requests in flight */
#define CACHE 0x14000   /* dict of 8 entries, half replaced each dump */
#define REFS 0x15000    /* list of weakrefs, one per Item */
#define ITEM 0x1000000
#define PAYLOAD 0x2000000
#define WREF 0x3000000
#define REQ 0x4000000
#define ENTRY 0x5000000
#define PER_DUMP 10

static void tracked(tdump *t, uint64_t addr, const char *type, uint64_t size, unsigned gen)
{
	hs_object o = {.addr = addr, .type = td_type(t, type), .size = size,
	               .flags = HS_OF_GC_TRACKED | (gen << HS_OF_GEN_SHIFT)};
	td_object(t, &o);
}

/* The heap at dump `dump` (1, 2, 3). Item 0 is in generation 2, or with
 * `reuse` in generation 0: a new object at an old one's address. */
static char *app_dump(const char *name, int dump, int reuse)
{
	char *path = td_path(name);
	tdump *t = td_open(path);
	int items = PER_DUMP * dump;
	hs_writer_meta_int(td_writer(t), "pid", 4242);
	hs_writer_meta_f64(td_writer(t), "time", 1000.0 + dump);
	hs_object mod = {.addr = MOD, .type = td_type(t, "module"), .size = 72,
	                 .flags = HS_OF_HAS_NAME, .name = td_str(t, "app")};
	td_object(t, &mod);
	td_ref(t, MOD, NS, HS_E_DICT_ATTR, NULL);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	tracked(t, NS, "dict", 640, 2);
	hs_edge ns[] = {{PENDING, HS_E_DICT_VALUE, td_str(t, "'_pending'")},
	                {ACTIVE, HS_E_DICT_VALUE, td_str(t, "'_active'")},
	                {CACHE, HS_E_DICT_VALUE, td_str(t, "'_cache'")},
	                {REFS, HS_E_DICT_VALUE, td_str(t, "'_refs'")}};
	td_refs(t, NS, ns, 4);

	tracked(t, PENDING, "list", 56 + 8 * (uint64_t)items, 2);
	hs_edge e[64];
	for (int k = 0; k < items; k++)
		e[k] = (hs_edge){ITEM + (uint64_t)k * 0x100, HS_E_INDEX, (uint64_t)k};
	td_refs(t, PENDING, e, (size_t)items);
	for (int k = 0; k < items; k++) {
		uint64_t a = ITEM + (uint64_t)k * 0x100;
		int born = k / PER_DUMP + 1;
		/* Item 0 is an old survivor, unless its address was reused */
		tracked(t, a, "app.Item", 64, !k ? (reuse ? 0 : 2) : born == dump ? 0 : 2);
		td_ref(t, a, PAYLOAD + (uint64_t)k * 0x100, HS_E_ATTR, "payload");
		td_obj(t, PAYLOAD + (uint64_t)k * 0x100, "bytes", 200);
	}

	tracked(t, ACTIVE, "list", 88, 2);
	for (int i = 0; i < 4; i++)
		e[i] = (hs_edge){REQ + (uint64_t)dump * 0x1000 + (uint64_t)i * 0x100, HS_E_INDEX,
		                 (uint64_t)i};
	td_refs(t, ACTIVE, e, 4);
	for (int i = 0; i < 4; i++)
		tracked(t, REQ + (uint64_t)dump * 0x1000 + (uint64_t)i * 0x100, "app.Request", 48, 0);

	/* Entries 0-3 stay, 4-7 are replaced by new ones at new addresses. */
	tracked(t, CACHE, "dict", 360, 2);
	for (int i = 0; i < 8; i++) {
		uint64_t a = ENTRY + (i < 4 ? 0 : (uint64_t)dump * 0x1000) + (uint64_t)i * 0x100;
		char key[16];
		snprintf(key, sizeof(key), "%d", i < 4 ? i : dump * 10 + i);
		e[i] = (hs_edge){a, HS_E_DICT_VALUE, td_str(t, key)};
	}
	td_refs(t, CACHE, e, 8);
	for (int i = 0; i < 8; i++)
		tracked(t, ENTRY + (i < 4 ? 0 : (uint64_t)dump * 0x1000) + (uint64_t)i * 0x100,
		        "app.Entry", 48, i < 4 ? 2 : 0);

	tracked(t, REFS, "list", 56 + 8 * (uint64_t)items, 2);
	for (int k = 0; k < items; k++)
		e[k] = (hs_edge){WREF + (uint64_t)k * 0x100, HS_E_INDEX, (uint64_t)k};
	td_refs(t, REFS, e, (size_t)items);
	for (int k = 0; k < items; k++) {
		tracked(t, WREF + (uint64_t)k * 0x100, "weakref.ReferenceType", 80,
		        k / PER_DUMP + 1 == dump ? 0 : 2);
		td_ref(t, WREF + (uint64_t)k * 0x100, ITEM + (uint64_t)k * 0x100, HS_E_WEAK, NULL);
	}
	td_close(t);
	return path;
}

Test(diff, groups_with_deltas)
{
	char *d1 = app_dump("g1.hsnap", 1, 0), *d3 = app_dump("g3.hsnap", 3, 0), *out;
	cr_assert_eq(td_run(&out, "diff %s %s --json", d1, d3), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	/* 20 more payloads of 200 bytes: the largest size growth */
	cr_assert(strstr(out, "\"rows\":[{\"type\":\"bytes\",\"count\":[10,30],\"count_delta\":20,"
	                      "\"size\":[2000,6000],\"size_delta\":4000"),
	          "%s", out);
	cr_assert(strstr(out, "{\"type\":\"app.Item\",\"count\":[10,30],\"count_delta\":20,"), "%s",
	          out);
	/* the churn and the cache do not change in number */
	cr_assert_null(strstr(out, "app.Request"), "%s", out);
	cr_assert_null(strstr(out, "app.Entry"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "diff %s %s --by module --sort count", d1, d3), 0, "%s", out);
	cr_assert(strstr(out, "by module, largest count growth first"), "%s", out);
	cr_assert(strstr(out, "  app "), "%s", out);
	free(out);
	free(d1);
	free(d3);
}

Test(diff, new_objects_and_reused_addresses)
{
	char *d1 = app_dump("n1.hsnap", 1, 0), *d2 = app_dump("n2.hsnap", 2, 0);
	char *r2 = app_dump("r2.hsnap", 2, 1), *out;
	/* 10 Items, their payloads and weakrefs, 4 requests, 4 cache entries */
	cr_assert_eq(td_run(&out, "diff %s %s --new --json", d1, d2), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"new_objects\":38,"), "%s", out);
	free(out);
	/* Item 0 went from generation 2 to 0: a new object at a reused
	 * address, and so is the payload it holds there */
	cr_assert_eq(td_run(&out, "diff %s %s --new --json", d1, r2), 0, "%s", out);
	cr_assert(strstr(out, "\"new_objects\":40,"), "%s", out);
	cr_assert(strstr(out, "{\"type\":\"bytes\",\"count\":11,"), "%s", out);
	cr_assert(strstr(out, "{\"type\":\"app.Item\",\"count\":11,"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "diff %s %s --new -n 3", d1, d2), 0, "%s", out);
	cr_assert(strstr(out, "38 objects (3.7 KiB) of"), "%s", out);
	cr_assert(strstr(out, "the largest of them by retained size:"), "%s", out);
	free(out);
	free(d1);
	free(d2);
	free(r2);
}

Test(leaks, growing_list_not_churn_cache_or_weakrefs)
{
	char *d[3], *out;
	for (int k = 0; k < 3; k++) {
		char name[16];
		snprintf(name, sizeof(name), "l%d.hsnap", k + 1);
		d[k] = app_dump(name, k + 1, 0);
	}
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 %s %s %s --json", d[0], d[1], d[2]), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"weak\":false,\"candidates\":"), "%s", out);
	cr_assert(strstr(out, "\"groups\":[{\"rank\":1,\"sentence\":\"list `_pending` in module"
	                      " `app` grew from 10 to 30 items"),
	          "%s", out);
	cr_assert(strstr(out, "\"type\":\"app.Item\""), "%s", out);
	cr_assert(strstr(out, "\"signature\":\"module app → __dict__['_pending'] → list[*] → Item\""),
	          "%s", out);
	cr_assert(strstr(out, "\"count\":[10,20,30]"), "%s", out);
	cr_assert(strstr(out, "\"survivors\":10,"), "%s", out);
	cr_assert(strstr(out, "\"also\":\"bytes ×30\""), "%s", out);
	cr_assert_null(strstr(out, "\"rank\":2"), "one group only: %s", out);
	free(out);
	/* for people: the sentence, the path and where to look next */
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 %s %s %s", d[0], d[1], d[2]), 0, "%s", out);
	cr_assert(strstr(out, "#1 list `_pending` in module `app` grew from 10 to 30 items"), "%s",
	          out);
	cr_assert(strstr(out, "   count     10 → 20 → 30 (20 new since dump 1, 10 of them alive in"
	                      " every later dump)"), "%s", out);
	cr_assert(strstr(out, "   see       heapsnap show "), "%s", out);
	free(out);
	/* the default floor (16 KiB: these dumps have no RSS) hides 5 KiB */
	cr_assert_eq(td_run(&out, "leaks %s %s %s --json", d[0], d[1], d[2]), 0, "%s", out);
	cr_assert(strstr(out, "\"min_growth\":16384,\"below_floor\":1,"), "%s", out);
	cr_assert(strstr(out, "\"groups\":[]"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "leaks %s %s %s --min-growth 5K", d[0], d[1], d[2]), 0, "%s", out);
	cr_assert(strstr(out, "#1 list `_pending`"), "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "leaks %s %s %s --min-growth 6K", d[0], d[1], d[2]), 0, "%s", out);
	cr_assert(strstr(out, "1 growing group under 6.0 KiB of retained growth not shown"), "%s",
	          out);
	free(out);
	cr_assert_eq(td_run(&out, "leaks %s %s --min-growth 6Q 2>&1", d[0], d[1]), 2, "%s", out);
	cr_assert(strstr(out, "needs a size in bytes"), "%s", out);
	free(out);
	/* two dumps: weaker, and it says so */
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 %s %s --json", d[0], d[1]), 0, "%s", out);
	cr_assert(strstr(out, "\"weak\":true,\"caveat\":\"only two dumps"), "%s", out);
	cr_assert(strstr(out, "grew from 10 to 20 items"), "%s", out);
	free(out);
	/* newest first: put in the order they were taken, the same leak */
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 %s %s %s 2>&1", d[2], d[1], d[0]), 0, "%s", out);
	cr_assert(strstr(out, "#1 list `_pending` in module `app` grew from 10 to 30 items"), "%s",
	          out);
	cr_assert_null(strstr(out, "give the dumps oldest first"), "%s", out);
	free(out);
	/* the same dump three times: nothing grows */
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 %s %s %s", d[2], d[2], d[2]), 0, "%s", out);
	cr_assert(strstr(out, "no leak found"), "%s", out);
	free(out);
	for (int k = 0; k < 3; k++)
		free(d[k]);
}

Test(leaks, bad_input)
{
	char *d1 = app_dump("b1.hsnap", 1, 0), *junk = td_path("junk.hsnap"), *out;
	FILE *f = fopen(junk, "w");
	cr_assert(f);
	fputs("not a dump\n", f);
	fclose(f);
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 %s 2>&1", d1), 2, "%s", out);
	free(out);
	cr_assert_eq(td_run(&out, "leaks --min-growth 0 %s %s 2>&1", d1, junk), 1, "%s", out);
	cr_assert(strstr(out, "junk.hsnap': not a heapsnap dump"), "%s", out);
	cr_assert_eq(strchr(out, '\n') - out + 1, (long)strlen(out), "one line: %s", out);
	free(out);
	cr_assert_eq(td_run(&out, "diff %s /nonexistent.hsnap 2>&1", d1), 1, "%s", out);
	cr_assert(strstr(out, "'/nonexistent.hsnap'"), "%s", out);
	free(out);
	free(d1);
	free(junk);
}

/* An event loop's timers at one moment: LIVE handles, each with its own
 * `_when` float and an `_args` tuple holding a Future, in the loop's
 * `_scheduled` list. Handle 0 is a survivor (the same `_when` in every
 * dump); the others are freed between dumps and new timers take their
 * addresses (their `_when` differs: `when` is the dump's time). Handle 1
 * is cancelled, waiting in the heap (`_cancelled` is True). */
#define LOOP 0x20000
#define SCHED 0x21000
#define HANDLE 0x6000000
#define LIVE 4

static char *timers_dump(const char *name, int dump)
{
	char *path = td_path(name);
	tdump *t = td_open(path);
	hs_writer_meta_int(td_writer(t), "pid", 4242);
	hs_writer_meta_f64(td_writer(t), "time", 1000.0 + dump);
	hs_object mod = {.addr = MOD, .type = td_type(t, "module"), .size = 72,
	                 .flags = HS_OF_HAS_NAME, .name = td_str(t, "app")};
	td_object(t, &mod);
	td_ref(t, MOD, NS, HS_E_DICT_ATTR, NULL);
	td_root(t, MOD, HS_R_MODULES, "app", 0);
	tracked(t, NS, "dict", 640, 2);
	td_ref(t, NS, LOOP, HS_E_DICT_VALUE, "'loop'");
	tracked(t, LOOP, "asyncio.unix_events._UnixSelectorEventLoop", 48, 2);
	td_ref(t, LOOP, SCHED, HS_E_ATTR, "_scheduled");
	tracked(t, SCHED, "list", 56 + 8 * LIVE, 2);
	hs_edge e[LIVE];
	for (int k = 0; k < LIVE; k++)
		e[k] = (hs_edge){HANDLE + (uint64_t)k * 0x100, HS_E_INDEX, (uint64_t)k};
	td_refs(t, SCHED, e, LIVE);
	hs_object yes = {.addr = 0x900, .type = td_type(t, "bool"), .size = 28,
	                 .flags = HS_OF_HAS_VALUE | HS_OF_STATIC, .value = (const uint8_t *)"True",
	                 .value_len = 4};
	td_object(t, &yes);
	for (int k = 0; k < LIVE; k++) {
		uint64_t h = HANDLE + (uint64_t)k * 0x100, when = h + 0x10, args = h + 0x20,
			 fut = h + 0x40;
		/* all young: the generations tell nothing here */
		tracked(t, h, "asyncio.events.TimerHandle", 96, 0);
		char v[32];
		snprintf(v, sizeof(v), "%d.25", k ? 5000 + dump * 100 + k : 4000);
		hs_object f = {.addr = when, .type = td_type(t, "float"), .size = 24,
		               .flags = HS_OF_HAS_VALUE, .value = (const uint8_t *)v,
		               .value_len = strlen(v)};
		td_object(t, &f);
		hs_edge he[] = {{when, HS_E_ATTR, td_str(t, "_when")},
		                {args, HS_E_ATTR, td_str(t, "_args")},
		                {0x900, HS_E_ATTR, td_str(t, k == 1 ? "_cancelled" : "_scheduled")}};
		td_refs(t, h, he, 3);
		tracked(t, args, "tuple", 48, 0);
		td_ref(t, args, fut, HS_E_INDEX, NULL);
		tracked(t, fut, "_asyncio.Future", 120, 0);
	}
	td_close(t);
	return path;
}

Test(diff, reallocated_timers_are_new)
{
	char *d1 = timers_dump("t1.hsnap", 1), *d2 = timers_dump("t2.hsnap", 2), *out;
	/* handles 1-3 are new timers at old addresses: each with its float,
	 * tuple and Future; handle 0 and what it holds are not new */
	cr_assert_eq(td_run(&out, "diff %s %s --new --json", d1, d2), 0, "%s", out);
	cr_assert(td_json_ok(out), "%s", out);
	cr_assert(strstr(out, "\"new_objects\":12,"), "%s", out);
	cr_assert(strstr(out, "{\"type\":\"_asyncio.Future\",\"count\":3,"), "%s", out);
	cr_assert(strstr(out, "{\"type\":\"asyncio.events.TimerHandle\",\"count\":3,"), "%s", out);
	free(out);
	/* the same dump twice: nothing is new */
	cr_assert_eq(td_run(&out, "diff %s %s --new --json", d2, d2), 0, "%s", out);
	cr_assert(strstr(out, "\"new_objects\":0,"), "%s", out);
	free(out);
	free(d1);
	free(d2);
}
