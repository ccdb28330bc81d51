/* Pure (built on the host too): the snapshot blob's walker. Layout and
 * rules in snapshot.h. */
#include "snapshot/snapshot.h"

#include "lib/lib.h"

static size_t padded(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

size_t snapshot_size(const struct snapshot_table *t)
{
	size_t total = sizeof(struct snapshot_header);
	for (size_t i = 0; i < t->count; i++)
		total += sizeof(struct snapshot_section_header) + padded(t->sections[i]->size());
	return total;
}

size_t snapshot_save(const struct snapshot_table *t, struct vm *vm, struct snapshot_host *host,
                     uint8_t *out, size_t cap)
{
	size_t total = snapshot_size(t);
	if (total > cap || (uintptr_t)out & 7)
		return 0;
	memset(out, 0, total); /* padding and any field a section leaves: no stale bytes */
	struct snapshot_header *h = (struct snapshot_header *)out;
	h->magic = SNAPSHOT_MAGIC;
	h->sections = (uint32_t)t->count;
	h->len = total;
	size_t at = sizeof *h;
	for (size_t i = 0; i < t->count; i++) {
		const struct snapshot_section *s = t->sections[i];
		struct snapshot_section_header *sh = (struct snapshot_section_header *)(out + at);
		sh->tag = s->tag;
		sh->len = (uint32_t)s->size();
		at += sizeof *sh;
		if (!s->save(vm, host, out + at))
			return 0;
		at += padded(sh->len);
	}
	return total;
}

static void tag_text(uint32_t tag, char text[5])
{
	for (int i = 0; i < 4; i++) {
		char c = (char)(tag >> (8 * i));
		text[i] = c >= 0x21 && c < 0x7f ? c : '?';
	}
	text[4] = '\0';
}

bool snapshot_check(const struct snapshot_table *t, const struct vm *vm,
                    const struct snapshot_host *host, const uint8_t *blob, size_t len, char *why,
                    size_t why_len)
{
	const struct snapshot_header *h = (const struct snapshot_header *)blob;
	if ((uintptr_t)blob & 7) {
		fmt_snprintf(why, why_len, "the blob is not 8-byte aligned in memory");
		return false;
	}
	if (len < sizeof *h || h->magic != SNAPSHOT_MAGIC) {
		uint32_t magic = 0;
		memcpy(&magic, blob, MIN(len, sizeof magic));
		char text[5];
		tag_text(magic, text);
		fmt_snprintf(why, why_len,
		             "not a snapshot of this hv (magic '%s', this hv writes JSN1)", text);
		return false;
	}
	if (h->len != len || len != snapshot_size(t) || h->sections != t->count) {
		fmt_snprintf(why, why_len,
		             "%llu bytes in %u sections, this hv's snapshot is %llu bytes in %llu "
		             "(another build?)",
		             (unsigned long long)len, h->sections,
		             (unsigned long long)snapshot_size(t), (unsigned long long)t->count);
		return false;
	}
	size_t at = sizeof *h;
	for (size_t i = 0; i < t->count; i++) {
		const struct snapshot_section *s = t->sections[i];
		const struct snapshot_section_header *sh =
		    (const struct snapshot_section_header *)(blob + at);
		if (sh->tag != s->tag || sh->len != s->size()) {
			char got[5], want[5];
			tag_text(sh->tag, got);
			tag_text(s->tag, want);
			fmt_snprintf(why, why_len,
			             "section %llu is '%s' of %u bytes where this hv has %s ('%s', "
			             "%llu bytes)",
			             (unsigned long long)i, got, sh->len, s->name, want,
			             (unsigned long long)s->size());
			return false;
		}
		at += sizeof *sh;
		char reason[SNAPSHOT_WHY_MAX] = "";
		if (!s->check(vm, host, blob + at, reason, sizeof reason)) {
			fmt_snprintf(why, why_len, "%s: %s", s->name,
			             reason[0] ? reason : "refused");
			return false;
		}
		at += padded(sh->len);
	}
	return true;
}

bool snapshot_restore(const struct snapshot_table *t, struct vm *vm, struct snapshot_host *host,
                      const uint8_t *blob, size_t len, char *why, size_t why_len)
{
	if (!snapshot_check(t, vm, host, blob, len, why, why_len))
		return false;
	size_t at = sizeof(struct snapshot_header);
	for (size_t i = 0; i < t->count; i++) {
		const struct snapshot_section *s = t->sections[i];
		at += sizeof(struct snapshot_section_header);
		if (!s->restore(vm, host, blob + at)) {
			fmt_snprintf(why, why_len, "%s: could not be restored on this CPU",
			             s->name);
			return false;
		}
		at += padded(s->size());
	}
	return true;
}
