/* Unit tests of the firmware's processor tables (hv/smp/cpu_tables.c):
 * an ACPI MADT through the RSDT and the XSDT, the MP table where there is
 * no ACPI, and broken tables that must give a clear error, never a read
 * outside memory. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "smp/smp.h"

/* A fake first MiB of physical memory. */
static uint8_t mem[1 << 20];
static struct cpu_list list;
static char err[200];

static const void *fake_map(uint64_t phys, uint64_t len, void *ctx)
{
	(void)ctx;
	if (phys == 0 || len > sizeof mem || phys > sizeof mem - len)
		return NULL;
	return mem + phys;
}

static void put32(uint64_t at, uint32_t v)
{
	memcpy(mem + at, &v, 4);
}

static void put64(uint64_t at, uint64_t v)
{
	memcpy(mem + at, &v, 8);
}

static void fix_checksum(uint64_t at, uint32_t len, uint32_t sum_at)
{
	mem[sum_at] = 0;
	uint8_t s = 0;
	for (uint32_t i = 0; i < len; i++)
		s += mem[at + i];
	mem[sum_at] = (uint8_t)-s;
}

static void rsdp(uint64_t at, int revision, uint32_t rsdt, uint64_t xsdt)
{
	memcpy(mem + at, "RSD PTR ", 8);
	mem[at + 15] = (uint8_t)revision;
	put32(at + 16, rsdt);
	if (revision >= 2) {
		put32(at + 20, 36);
		put64(at + 24, xsdt);
		fix_checksum(at, 20, (uint32_t)at + 8);
		fix_checksum(at, 36, (uint32_t)at + 32);
	} else {
		fix_checksum(at, 20, (uint32_t)at + 8);
	}
}

static void sdt(uint64_t at, const char *sig, uint32_t len)
{
	memcpy(mem + at, sig, 4);
	put32(at + 4, len);
	fix_checksum(at, len, (uint32_t)at + 9);
}

/* A MADT at 0x81000: LAPIC 0 and 2 enabled, 5 disabled, x2APIC 9 and a
 * second entry for APIC 2. */
static uint32_t madt(void)
{
	uint64_t t = 0x81000, e = t + 44;
	uint8_t lapic[][8] = {{0, 8, 0, 0, 1}, {0, 8, 1, 2, 1}, {0, 8, 2, 5, 0}};
	for (unsigned i = 0; i < 3; i++, e += 8)
		memcpy(mem + e, lapic[i], 8);
	uint32_t x2[][4] = {{9, 1}, {2, 1}};
	for (unsigned i = 0; i < 2; i++, e += 16) {
		mem[e] = 9;
		mem[e + 1] = 16;
		put32(e + 4, x2[i][0]);
		put32(e + 8, x2[i][1]);
	}
	uint32_t len = (uint32_t)(e - t);
	sdt(t, "APIC", len);
	return len;
}

static void acpi_with_xsdt(void)
{
	memset(mem, 0, sizeof mem);
	madt();
	put64(0x80000 + 36, 0x81000);
	sdt(0x80000, "XSDT", 44);
	rsdp(0xE0010, 2, 0, 0x80000);
}

TEST(cpu_tables_madt_through_xsdt)
{
	acpi_with_xsdt();
	CHECK_EQ(cpu_tables_find(0, fake_map, NULL, &list, err, sizeof err), 0);
	CHECK_STR(list.source, "acpi-madt");
	CHECK_EQ(list.count, 3);
	CHECK_EQ(list.apic_id[0], 0);
	CHECK_EQ(list.apic_id[1], 2);
	CHECK_EQ(list.apic_id[2], 9);
	CHECK_EQ(list.disabled, 1);
}

TEST(cpu_tables_madt_through_rsdt_and_a_loader_hint)
{
	memset(mem, 0, sizeof mem);
	madt();
	put32(0x80000 + 36, 0x81000);
	sdt(0x80000, "RSDT", 40);
	rsdp(0x7000, 0, 0x80000, 0); /* not in a BIOS area: found only by the hint */
	CHECK_EQ(cpu_tables_find(0x7000, fake_map, NULL, &list, err, sizeof err), 0);
	CHECK_EQ(list.count, 3);
}

TEST(cpu_tables_broken_acpi_is_refused)
{
	acpi_with_xsdt();
	mem[0x81000 + 50] ^= 1; /* MADT checksum */
	CHECK_EQ(cpu_tables_find(0, fake_map, NULL, &list, err, sizeof err), -1);
	CHECK(strstr(err, "MADT") != NULL);

	acpi_with_xsdt();
	mem[0x81000 + 44 + 1] = 0; /* an entry of length 0 would loop forever */
	fix_checksum(0x81000, 44 + 3 * 8 + 2 * 16, 0x81000 + 9);
	CHECK_EQ(cpu_tables_find(0, fake_map, NULL, &list, err, sizeof err), -1);
	CHECK(strstr(err, "bad length") != NULL);

	acpi_with_xsdt();
	put32(0x81000 + 4, 0x100000); /* longer than memory */
	fix_checksum(0x81000, 44, 0x81000 + 9);
	CHECK_EQ(cpu_tables_find(0, fake_map, NULL, &list, err, sizeof err), -1);

	acpi_with_xsdt();
	CHECK_EQ(cpu_tables_find(0x7000, fake_map, NULL, &list, err, sizeof err), -1);
	CHECK(strstr(err, "RSDP the loader gave") != NULL);
}

/* An MP table: floating pointer at 0xF0100, table at 0xF1000 with a
 * processor (APIC 0), a bus, a disabled processor (APIC 1), a processor
 * (APIC 3). */
static void mp_table(uint16_t count)
{
	memset(mem, 0, sizeof mem);
	uint64_t fp = 0xF0100, t = 0xF1000, e = t + 44;
	memcpy(mem + fp, "_MP_", 4);
	put32(fp + 4, (uint32_t)t);
	mem[fp + 8] = 1;
	fix_checksum(fp, 16, (uint32_t)fp + 10);
	uint8_t cpu_ids[] = {0, 1, 3}, en[] = {1, 0, 1};
	for (unsigned i = 0; i < 3; i++) {
		mem[e] = 0;
		mem[e + 1] = cpu_ids[i];
		mem[e + 3] = en[i];
		e += 20;
		if (i == 0) {
			mem[e] = 1; /* bus */
			e += 8;
		}
	}
	memcpy(mem + t, "PCMP", 4);
	uint16_t len = (uint16_t)(e - t);
	memcpy(mem + t + 4, &len, 2);
	memcpy(mem + t + 34, &count, 2);
	fix_checksum(t, len, (uint32_t)t + 7);
}

TEST(cpu_tables_mp_table_without_acpi)
{
	mp_table(4);
	CHECK_EQ(cpu_tables_find(0, fake_map, NULL, &list, err, sizeof err), 0);
	CHECK_STR(list.source, "mp-table");
	CHECK_EQ(list.count, 2);
	CHECK_EQ(list.apic_id[1], 3);
	CHECK_EQ(list.disabled, 1);
}

TEST(cpu_tables_broken_mp_table_is_refused)
{
	mp_table(9); /* more entries than the table holds */
	CHECK_EQ(cpu_tables_find(0, fake_map, NULL, &list, err, sizeof err), -1);
	CHECK(strstr(err, "entries") != NULL);
	mp_table(4);
	mem[0xF1000 + 44 + 20] = 7; /* unknown entry type */
	fix_checksum(0xF1000, 44 + 3 * 20 + 8, 0xF1000 + 7);
	CHECK_EQ(cpu_tables_find(0, fake_map, NULL, &list, err, sizeof err), -1);
	CHECK(strstr(err, "unknown type") != NULL);
	memset(mem, 0, sizeof mem);
	CHECK_EQ(cpu_tables_find(0, fake_map, NULL, &list, err, sizeof err), -1);
	CHECK(strstr(err, "no ACPI MADT and no MP table") != NULL);
}

TEST(cpu_tables_more_cpus_than_hv_keeps)
{
	memset(mem, 0, sizeof mem);
	uint64_t t = 0x81000, e = t + 44;
	for (unsigned i = 0; i < SMP_MAX_CPUS + 6; i++, e += 16) {
		mem[e] = 9;
		mem[e + 1] = 16;
		put32(e + 4, 100 + i);
		put32(e + 8, 1);
	}
	sdt(t, "APIC", (uint32_t)(e - t));
	put64(0x80000 + 36, t);
	sdt(0x80000, "XSDT", 44);
	rsdp(0xE0010, 2, 0, 0x80000);
	CHECK_EQ(cpu_tables_find(0, fake_map, NULL, &list, err, sizeof err), 0);
	CHECK_EQ(list.count, SMP_MAX_CPUS);
	CHECK_EQ(list.beyond, 6);
}

TEST(cpus_option_is_a_number_from_1_to_the_maximum)
{
	unsigned n = 0;
	CHECK(smp_parse_cpus("1", &n) && n == 1);
	CHECK(smp_parse_cpus("64", &n) && n == 64);
	CHECK(!smp_parse_cpus("0", &n));
	CHECK(!smp_parse_cpus("65", &n));
	CHECK(!smp_parse_cpus("2x", &n));
	CHECK(!smp_parse_cpus("", &n));
	CHECK(!smp_parse_cpus("-1", &n));
}
