/* elfsym.c - ELF symbol lookup over a mapped file (elfsym.h). */
#include "elfsym.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int hs_elf_open(struct hs_elf *e, const char *path, char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	void *m = st.st_size > 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ,
	                                MAP_PRIVATE, fd, 0)
	                         : MAP_FAILED;
	int code = errno;
	close(fd);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "cannot map '%s': %s", path,
		         st.st_size > 0 ? strerror(code) : "empty file");
		return -1;
	}
	e->map = m;
	e->size = (size_t)st.st_size;
	const Elf64_Ehdr *eh = m;
	if (e->size < sizeof(*eh) || memcmp(e->map, ELFMAG, SELFMAG) != 0 ||
	    e->map[EI_CLASS] != ELFCLASS64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > e->size ||
	    (e->size - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum ||
	    (eh->e_shnum && (eh->e_shentsize != sizeof(Elf64_Shdr) ||
	                     eh->e_shoff > e->size ||
	                     (e->size - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum))) {
		snprintf(err, errlen, "'%s' is not a 64-bit ELF file", path);
		hs_elf_close(e);
		return -1;
	}
	e->shared = eh->e_type == ET_DYN;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(e->map + eh->e_phoff);
	for (size_t i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD) {
			e->first_vaddr = ph[i].p_vaddr & ~(uint64_t)0xfff;
			break;
		}
	}
	return 0;
}

void hs_elf_close(struct hs_elf *e)
{
	if (e->map)
		munmap((void *)e->map, e->size);
	memset(e, 0, sizeof(*e));
}

/* Finds name in the symbol table section of type want. */
static int find(const struct hs_elf *e, uint32_t want, const char *name,
                uint64_t *value, int *type)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)e->map;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(e->map + eh->e_shoff);
	size_t len = strlen(name);
	for (size_t i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum)
			continue;
		const Elf64_Shdr *ss = &sh[sh[i].sh_link];
		if (sh[i].sh_offset > e->size || e->size - sh[i].sh_offset < sh[i].sh_size ||
		    ss->sh_offset > e->size || e->size - ss->sh_offset < ss->sh_size)
			continue;
		const char *str = (const char *)e->map + ss->sh_offset;
		const Elf64_Sym *sym = (const Elf64_Sym *)(e->map + sh[i].sh_offset);
		size_t nsym = sh[i].sh_size / sizeof(Elf64_Sym);
		for (size_t k = 0; k < nsym; k++) {
			if (sym[k].st_name >= ss->sh_size ||
			    ss->sh_size - sym[k].st_name <= len ||
			    sym[k].st_shndx == SHN_UNDEF ||
			    memcmp(str + sym[k].st_name, name, len + 1) != 0)
				continue;
			*value = sym[k].st_value;
			if (type)
				*type = ELF64_ST_TYPE(sym[k].st_info);
			return 1;
		}
	}
	return 0;
}

int hs_elf_sym(const struct hs_elf *e, const char *name, uint64_t *value, int *type)
{
	return find(e, SHT_DYNSYM, name, value, type) ||
	       find(e, SHT_SYMTAB, name, value, type);
}

int hs_elf_read(const struct hs_elf *e, uint64_t vaddr, void *buf, size_t len)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)e->map;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(e->map + eh->e_phoff);
	for (size_t i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || vaddr < ph[i].p_vaddr ||
		    vaddr - ph[i].p_vaddr > ph[i].p_filesz ||
		    ph[i].p_filesz - (vaddr - ph[i].p_vaddr) < len)
			continue;
		uint64_t off = ph[i].p_offset + (vaddr - ph[i].p_vaddr);
		if (off > e->size || e->size - off < len)
			return -1;
		memcpy(buf, e->map + off, len);
		return 0;
	}
	return -1;
}
