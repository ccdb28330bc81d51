/* Runs at boot (and on the host in unit tests): the processors the
 * firmware lists. The ACPI MADT first (ACPI 6.5 5.2.5 RSDP, 5.2.7 RSDT,
 * 5.2.8 XSDT, 5.2.12 MADT: processor local APIC entries, type 0, and
 * x2APIC entries, type 9), else the MP table (MultiProcessor Specification
 * 1.4, 4.1 floating pointer, 4.2 configuration table header, 4.3.1
 * processor entries). Firmware tables are outside input: every address is
 * mapped through the caller, every length bounded, every checksum checked. */
#include "lib/lib.h"
#include "smp/smp.h"

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fmt_snprintf(err, err_len, __VA_ARGS__);                                           \
		return -1;                                                                         \
	} while (0)

/* At most this much of one ACPI table is read: a MADT of 64 x2APIC entries
 * is ~1.1 KiB, real ones stay far below 64 KiB. */
#define ACPI_TABLE_MAX (64u << 10)
#define ACPI_HEADER    36

static uint8_t sum_bytes(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s += p[i];
	return s;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void add_cpu(struct cpu_list *out, uint32_t apic_id, bool usable)
{
	if (!usable) {
		out->disabled++;
		return;
	}
	for (unsigned i = 0; i < out->count; i++)
		if (out->apic_id[i] == apic_id)
			return; /* listed twice (a type 0 and a type 9 entry): once */
	if (out->count == SMP_MAX_CPUS) {
		out->beyond++;
		return;
	}
	out->apic_id[out->count++] = apic_id;
}

/* A valid RSDP at phys: its 20-byte checksum, and the 36-byte one when
 * its revision says it has the extended part. */
static const uint8_t *rsdp_at(uint64_t phys, boot_phys_map_fn map, void *ctx)
{
	const uint8_t *p = map(phys, 20, ctx);
	if (!p || memcmp(p, "RSD PTR ", 8) || sum_bytes(p, 20))
		return NULL;
	if (p[15] >= 2) {
		const uint8_t *x = map(phys, 36, ctx);
		if (!x || le32(x + 20) < 36 || sum_bytes(x, 36))
			return NULL;
		return x;
	}
	return p;
}

/* The ACPI table at phys, checked: its header, its length and checksum. */
static const uint8_t *acpi_table(uint64_t phys, boot_phys_map_fn map, void *ctx, uint32_t *len)
{
	const uint8_t *h = map(phys, ACPI_HEADER, ctx);
	if (!h)
		return NULL;
	uint32_t n = le32(h + 4);
	if (n < ACPI_HEADER || n > ACPI_TABLE_MAX)
		return NULL;
	const uint8_t *t = map(phys, n, ctx);
	if (!t || sum_bytes(t, n))
		return NULL;
	*len = n;
	return t;
}

static int parse_madt(const uint8_t *t, uint32_t len, struct cpu_list *out, char *err,
                      size_t err_len)
{
	if (len < 44)
		FAIL("ACPI MADT is %u bytes, below its 44-byte header", len);
	for (uint32_t off = 44; off < len;) {
		if (len - off < 2)
			FAIL("ACPI MADT entry at offset %u is truncated", off);
		uint8_t type = t[off], elen = t[off + 1];
		if (elen < 2 || elen > len - off)
			FAIL("ACPI MADT entry %u at offset %u has bad length %u", type, off, elen);
		const uint8_t *e = t + off;
		uint32_t flags;
		if (type == 0) { /* processor local APIC */
			if (elen < 8)
				FAIL("ACPI MADT local APIC entry at offset %u has length %u, not 8",
				     off, elen);
			flags = le32(e + 4);
			add_cpu(out, e[3], flags & 3); /* enabled or online-capable */
		} else if (type == 9) {                /* processor local x2APIC */
			if (elen < 16)
				FAIL("ACPI MADT x2APIC entry at offset %u has length %u, not 16",
				     off, elen);
			flags = le32(e + 8);
			add_cpu(out, le32(e + 4), flags & 3);
		}
		off += elen;
	}
	out->source = "acpi-madt";
	return 0;
}

/* The MADT through the RSDP at rsdp: XSDT where there is one, else RSDT.
 * 1: no MADT in the tables; 0: found; -1: a broken table. */
static int madt_from(const uint8_t *rsdp, boot_phys_map_fn map, void *ctx, struct cpu_list *out,
                     char *err, size_t err_len)
{
	uint64_t xsdt = rsdp[15] >= 2 ? le64(rsdp + 24) : 0;
	uint32_t len;
	const uint8_t *root = xsdt ? acpi_table(xsdt, map, ctx, &len) : NULL;
	unsigned entry = 8;
	if (!root) {
		root = acpi_table(le32(rsdp + 16), map, ctx, &len);
		entry = 4;
		if (!root)
			FAIL("the ACPI RSDT at 0x%x is missing or fails its checksum",
			     le32(rsdp + 16));
	}
	if (memcmp(root, entry == 8 ? "XSDT" : "RSDT", 4))
		FAIL("the ACPI root table is not an %s", entry == 8 ? "XSDT" : "RSDT");
	for (uint32_t off = ACPI_HEADER; off + entry <= len; off += entry) {
		uint64_t phys = entry == 8 ? le64(root + off) : le32(root + off);
		uint32_t tlen;
		const uint8_t *h = map(phys, 4, ctx);
		if (!h || memcmp(h, "APIC", 4))
			continue;
		const uint8_t *t = acpi_table(phys, map, ctx, &tlen);
		if (!t)
			FAIL("the ACPI MADT at 0x%llx fails its length or checksum",
			     (unsigned long long)phys);
		return parse_madt(t, tlen, out, err, err_len);
	}
	return 1;
}

static int parse_mp(uint64_t config_phys, boot_phys_map_fn map, void *ctx, struct cpu_list *out,
                    char *err, size_t err_len)
{
	const uint8_t *h = map(config_phys, 44, ctx);
	if (!h || memcmp(h, "PCMP", 4))
		FAIL("the MP configuration table at 0x%llx has no PCMP signature",
		     (unsigned long long)config_phys);
	uint16_t len = (uint16_t)(h[4] | h[5] << 8), count = (uint16_t)(h[34] | h[35] << 8);
	if (len < 44)
		FAIL("the MP configuration table is %u bytes, below its 44-byte header", len);
	const uint8_t *t = map(config_phys, len, ctx);
	if (!t || sum_bytes(t, len))
		FAIL("the MP configuration table fails its checksum");
	uint32_t off = 44;
	for (unsigned i = 0; i < count; i++) {
		if (off >= len)
			FAIL("the MP table lists %u entries but ends after %u", count, i);
		unsigned elen = t[off] == 0 ? 20 : 8; /* processor entries are 20 bytes */
		if (t[off] > 4)
			FAIL("MP table entry %u has unknown type %u", i, t[off]);
		if (elen > len - off)
			FAIL("MP table entry %u is truncated", i);
		if (t[off] == 0)
			add_cpu(out, t[off + 1], t[off + 3] & 1); /* CPU flags: EN */
		off += elen;
	}
	out->source = "mp-table";
	return 0;
}

/* The first 16-byte-aligned signature in [base, base+len) whose structure
 * checks; 0 if none. */
static uint64_t scan(uint64_t base, uint64_t len, bool rsdp, boot_phys_map_fn map, void *ctx)
{
	for (uint64_t a = base; a + 16 <= base + len; a += 16) {
		if (rsdp) {
			if (rsdp_at(a, map, ctx))
				return a;
			continue;
		}
		const uint8_t *p = map(a, 16, ctx);
		if (p && !memcmp(p, "_MP_", 4) && p[8] == 1 && !sum_bytes(p, 16))
			return a;
	}
	return 0;
}

static uint64_t scan_bios_areas(bool rsdp, boot_phys_map_fn map, void *ctx)
{
	const uint8_t *bda = map(0x40E, 2, ctx);
	uint64_t ebda = bda ? (uint64_t)(bda[0] | bda[1] << 8) << 4 : 0;
	uint64_t found = 0;
	if (ebda >= 0x80000 && ebda < 0xA0000)
		found = scan(ebda, 1024, rsdp, map, ctx);
	if (!found && !rsdp)
		found = scan(0x9FC00, 1024, rsdp, map, ctx);
	if (!found)
		found = rsdp ? scan(0xE0000, 0x20000, true, map, ctx)
		             : scan(0xF0000, 0x10000, false, map, ctx);
	return found;
}

int cpu_tables_find(uint64_t rsdp_hint, boot_phys_map_fn map, void *ctx, struct cpu_list *out,
                    char *err, size_t err_len)
{
	memset(out, 0, sizeof *out);
	const uint8_t *rsdp = rsdp_hint ? rsdp_at(rsdp_hint, map, ctx) : NULL;
	if (rsdp_hint && !rsdp)
		FAIL("the RSDP the loader gave at 0x%llx fails its signature or checksum",
		     (unsigned long long)rsdp_hint);
	if (!rsdp) {
		uint64_t at = scan_bios_areas(true, map, ctx);
		rsdp = at ? rsdp_at(at, map, ctx) : NULL;
	}
	if (rsdp) {
		int r = madt_from(rsdp, map, ctx, out, err, err_len);
		if (r <= 0)
			return r;
	}
	uint64_t mp = scan_bios_areas(false, map, ctx);
	if (!mp)
		FAIL("no ACPI MADT and no MP table: the firmware lists no processors");
	const uint8_t *fp = map(mp, 16, ctx);
	if (fp[11] != 0)
		FAIL("the MP floating pointer names default configuration %u, not a table", fp[11]);
	return parse_mp(le32(fp + 4), map, ctx, out, err, err_len);
}

bool smp_parse_cpus(const char *value, unsigned *n)
{
	uint64_t v;
	size_t len = strlen(value);
	if (len == 0 || parse_decimal(value, len, &v) != len || v < 1 || v > SMP_MAX_CPUS)
		return false;
	*n = (unsigned)v;
	return true;
}
