/*
 * elfsym.h - symbols and bytes of a 64-bit ELF file, read without loading it:
 * the target's interpreter and C library, and the attach payloads.
 */
#ifndef HS_ELFSYM_H
#define HS_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

struct hs_elf {
	const unsigned char *map;  /* the whole file, read-only */
	size_t size;
	int shared;                /* ET_DYN: addresses are relative to a base */
	uint64_t first_vaddr;      /* page-aligned p_vaddr of the first PT_LOAD */
};

/* Maps path. Returns 0, or -1 with "'path': problem" in err. */
int hs_elf_open(struct hs_elf *e, const char *path, char *err, size_t errlen);
/* Unmaps; accepts a zeroed or closed e. */
void hs_elf_close(struct hs_elf *e);
/* Looks name up in .dynsym, then .symtab (absent from stripped files).
 * Returns 1 and its st_value (and ELF type STT_*, if type is not NULL),
 * or 0 when absent. */
int hs_elf_sym(const struct hs_elf *e, const char *name, uint64_t *value,
               int *type);
/* Copies len bytes of the file image at virtual address vaddr (inside a
 * PT_LOAD's file part). Returns 0, or -1 when they are not all there. */
int hs_elf_read(const struct hs_elf *e, uint64_t vaddr, void *buf, size_t len);

#endif
