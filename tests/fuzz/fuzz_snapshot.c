/* libFuzzer target: the snapshot blob's check and restore (hv/snapshot:
 * the walker and the sections of the x2APIC, the UART and the PIC), as an
 * incoming migration's state blob reaches them from the wire.
 *
 * Input: byte 0 picks the blob. Odd: the rest of the input is the blob,
 * as it came. Even: a valid blob saved from a busy VM, then the rest of
 * the input as patches {u16 offset, u8 xor}, so that most runs get past
 * the walker into the sections. Byte 1 is the host's shortest timer
 * period (us), byte 2 its TSC rate (GHz, 1-4).
 *
 * Asserted besides the sanitizers: check and restore agree; a refusal
 * says why, in printable text; a refused blob leaves the VM untouched; a
 * restored VM is in a state its devices could reach (a UART line inside
 * its buffer, bools 0 or 1, a periodic timer no shorter than the bound,
 * the PIC in an ICW step that exists); and a restored VM saves to a blob
 * that checks again, with the same UART and PIC sections. */
#include "fuzz_common.h"
#include "lib/lib.h"
#include "snapshot/snapshot.h"

static const struct snapshot_section *const sections[] = {
    &snapshot_lapic_section, &snapshot_uart_section, &snapshot_pic_section};
static const struct snapshot_table table = {sections, 3};

static _Alignas(64) uint8_t blob[4096];
static _Alignas(64) uint8_t again[4096];
static struct vm vm, empty_vm;

static void busy(struct vm *v)
{
	memset(v, 0, sizeof *v);
	struct vlapic *l = &v->vcpu.lapic;
	l->apic_base = 0xFEE00000ull | VLAPIC_BASE_ENABLE | VLAPIC_BASE_X2APIC | VLAPIC_BASE_BSP;
	l->svr = 0x1FF;
	l->lvt_timer = 0xEC | (1u << 17);
	l->lvt_lint0 = 0x700;
	l->timer_deadline = 1000500000ull;
	l->timer_period = 4000000;
	l->irr[3] = 1ull << 0x2C;
	memcpy(v->uart.line, "a line", 6);
	v->uart.line_len = 6;
	v->uart.used = true;
	v->pic.chip[0].vector_base = 0x20;
	v->pic.chip[1].vector_base = 0x28;
	v->pic.chip[1].icw_step = 3;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s >= 0x7f)
			return false;
	return true;
}

static size_t section_at(unsigned i)
{
	size_t at = sizeof(struct snapshot_header);
	for (unsigned k = 0; k < i; k++)
		at += sizeof(struct snapshot_section_header) +
		      ((sections[k]->size() + 7) & ~(size_t)7);
	return at + sizeof(struct snapshot_section_header);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	uint8_t mode = fuzz_u8(&in);
	struct snapshot_host host = {
	    .now_tsc = 1000000000ull,
	    .tsc_khz = 1000000ull * (1 + fuzz_u8(&in) % 4),
	    .phys_addr_reserved = ~0ull << 39,
	    .timer_period_min_us = fuzz_u8(&in),
	};
	size_t len;
	if (mode & 1) {
		len = fuzz_bytes(&in, blob, sizeof blob);
	} else {
		busy(&vm);
		len = snapshot_save(&table, &vm, &host, blob, sizeof blob);
		FUZZ_ASSERT(len == snapshot_size(&table));
		while (!fuzz_empty(&in)) {
			uint16_t at = fuzz_u16(&in);
			blob[at % len] ^= fuzz_u8(&in);
		}
	}
	char why_check[SNAPSHOT_WHY_MAX] = "", why[SNAPSHOT_WHY_MAX] = "";
	memset(&vm, 0, sizeof vm);
	vm.vcpu.tsc_offset = 12345;
	bool checked = snapshot_check(&table, &vm, &host, blob, len, why_check, sizeof why_check);
	bool restored = snapshot_restore(&table, &vm, &host, blob, len, why, sizeof why);
	FUZZ_ASSERT(checked == restored);
	if (!restored) {
		FUZZ_ASSERT(why[0] && fuzz_terminated(why, sizeof why) && printable(why));
		FUZZ_ASSERT(strcmp(why, why_check) == 0);
		empty_vm.vcpu.tsc_offset = 12345;
		FUZZ_ASSERT(memcmp(&vm, &empty_vm, sizeof vm) == 0);
		return 0;
	}
	/* What the devices' own code relies on. */
	const uint8_t *uart = (const uint8_t *)&vm.uart;
	FUZZ_ASSERT(vm.uart.line_len < sizeof vm.uart.line);
	FUZZ_ASSERT(uart[offsetof(struct vuart, used)] <= 1 &&
	            uart[offsetof(struct vuart, thre_pending)] <= 1);
	for (unsigned c = 0; c < 2; c++) {
		const uint8_t *chip = (const uint8_t *)&vm.pic.chip[c];
		FUZZ_ASSERT(chip[offsetof(struct vpic_chip, need_icw4)] <= 1 &&
		            chip[offsetof(struct vpic_chip, single)] <= 1 &&
		            chip[offsetof(struct vpic_chip, auto_eoi)] <= 1 &&
		            chip[offsetof(struct vpic_chip, read_isr)] <= 1);
		FUZZ_ASSERT(vm.pic.chip[c].icw_step != 1 && vm.pic.chip[c].icw_step <= 4);
	}
	const struct vlapic *l = &vm.vcpu.lapic;
	uint64_t min_ticks = host.tsc_khz * host.timer_period_min_us / 1000;
	FUZZ_ASSERT(!l->timer_period ||
	            (VLAPIC_LVT_MODE(l->lvt_timer) == 1 && l->timer_period >= min_ticks &&
	             l->timer_period <= (uint64_t)UINT32_MAX << 11));
	/* Saved again, it checks again, the same. */
	size_t len2 = snapshot_save(&table, &vm, &host, again, sizeof again);
	FUZZ_ASSERT(len2 == len);
	FUZZ_ASSERT(snapshot_check(&table, &vm, &host, again, len2, why, sizeof why));
	FUZZ_ASSERT(memcmp(blob + section_at(1), again + section_at(1), sizeof(struct vuart)) == 0);
	FUZZ_ASSERT(memcmp(blob + section_at(2), again + section_at(2), sizeof(struct vpic)) == 0);
	return 0;
}
