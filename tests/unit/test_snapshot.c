/* The snapshot blob (hv/snapshot): a save restores to the same devices, and
 * a blob from elsewhere with any value its device could not have reached
 * is refused whole, with its reason, before anything is restored. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "snapshot/snapshot.h"

static const struct snapshot_section *const device_sections[] = {
    &snapshot_lapic_section, &snapshot_uart_section, &snapshot_pic_section};
static const struct snapshot_table devices = {device_sections, 3};

/* The blob, 8-byte aligned as hv's buffers are. */
static _Alignas(64) uint8_t blob[4096];
static size_t blob_len;

static struct snapshot_host host(void)
{
	return (struct snapshot_host){.now_tsc = 1000000000ull,
	                              .tsc_khz = 2000000, /* 2 GHz */
	                              .phys_addr_reserved = ~0ull << 39,
	                              .timer_period_min_us = 200};
}

/* A VM in a state its guest could reach: a periodic 1 ms timer, a half
 * line on the UART, both PICs initialised. */
static struct vm *busy_vm(void)
{
	struct vm *vm = calloc(1, sizeof *vm);
	struct vlapic *l = &vm->vcpu.lapic;
	vm->vcpu.tsc_offset = 5000;
	l->apic_base = 0xFEE00000ull | VLAPIC_BASE_ENABLE | VLAPIC_BASE_X2APIC | VLAPIC_BASE_BSP;
	l->svr = 0x1FF;
	l->lvt_timer = 0xEC | (1u << 17); /* periodic, vector 0xEC */
	l->lvt_lint0 = 0x700;
	l->timer_deadline = 1000500000ull;
	l->timer_period = 2000000; /* 1 ms at 2 GHz */
	l->irr[3] = 1ull << 0x2C;  /* vector 0xEC requested */
	memcpy(vm->uart.line, "half a li", 9);
	vm->uart.line_len = 9;
	vm->uart.ier = 0x3;
	vm->uart.used = true;
	vm->pic.chip[0].vector_base = 0x20;
	vm->pic.chip[1].vector_base = 0x28;
	vm->pic.chip[0].need_icw4 = true;
	vm->pic.rtc_index = 0x0A;
	return vm;
}

static void save_busy(void)
{
	struct vm *vm = busy_vm();
	struct snapshot_host h = host();
	blob_len = snapshot_save(&devices, vm, &h, blob, sizeof blob);
	free(vm);
}

/* Offset of section i's bytes in the blob. */
static size_t section_at(unsigned i)
{
	size_t at = sizeof(struct snapshot_header);
	for (unsigned k = 0; k < i; k++)
		at += sizeof(struct snapshot_section_header) +
		      ((device_sections[k]->size() + 7) & ~(size_t)7);
	return at + sizeof(struct snapshot_section_header);
}

static bool refused_with(const char *expected)
{
	struct vm *vm = calloc(1, sizeof *vm);
	struct snapshot_host h = host();
	char why[SNAPSHOT_WHY_MAX] = "";
	bool restored = snapshot_restore(&devices, vm, &h, blob, blob_len, why, sizeof why);
	/* Refused whole: nothing of the blob reached the VM. */
	bool untouched = vm->uart.line_len == 0 && vm->vcpu.lapic.apic_base == 0 &&
	                 vm->pic.chip[0].vector_base == 0;
	free(vm);
	if (!restored && !strstr(why, expected))
		printf("  refused, but with '%s' (expected '%s')\n", why, expected);
	return !restored && untouched && strstr(why, expected);
}

TEST(snapshot_round_trip_restores_the_devices_on_another_host)
{
	save_busy();
	CHECK_EQ(blob_len, snapshot_size(&devices));
	struct vm *vm = calloc(1, sizeof *vm);
	struct snapshot_host h = host();
	h.now_tsc = 5000000000ull;
	h.tsc_khz = 3000000; /* a 3 GHz host */
	/* The clock section has set this host's offset: the guest's TSC goes
	 * on from its value at the save (1000005000). */
	vm->vcpu.tsc_offset = 1000005000ull - h.now_tsc;
	char why[SNAPSHOT_WHY_MAX] = "";
	CHECK(snapshot_restore(&devices, vm, &h, blob, blob_len, why, sizeof why));
	CHECK(memcmp(vm->uart.line, "half a li", 9) == 0);
	CHECK_EQ(vm->uart.line_len, 9);
	CHECK(vm->uart.used);
	CHECK_EQ(vm->pic.chip[1].vector_base, 0x28);
	CHECK_EQ(vm->pic.rtc_index, 0x0A);
	CHECK_EQ(vm->vcpu.lapic.lvt_timer, 0xEC | (1u << 17));
	CHECK_EQ(vm->vcpu.lapic.irr[3], 1ull << 0x2C);
	/* The period is 1 ms on the new host's clock, not 2M of its ticks. */
	CHECK_EQ(vm->vcpu.lapic.timer_period, 3000000);
	/* The deadline was 500000 ticks ahead of the guest's clock at the save:
	 * it still is, on this host's clock. */
	CHECK_EQ(vm->vcpu.lapic.timer_deadline, h.now_tsc + 500000);
	free(vm);
}

TEST(snapshot_refuses_a_uart_line_longer_than_its_buffer)
{
	/* Restored as it came, line_len 100000 made the UART's next flush
	 * write its NUL 99 KiB past the buffer, in hv's memory. */
	save_busy();
	unsigned huge = 100000;
	memcpy(blob + section_at(1) + offsetof(struct vuart, line_len), &huge, sizeof huge);
	CHECK(refused_with("uart: a line of 100000 bytes, its buffer holds 511"));
	unsigned full = 512;
	memcpy(blob + section_at(1) + offsetof(struct vuart, line_len), &full, sizeof full);
	CHECK(refused_with("a line of 512 bytes"));
}

TEST(snapshot_refuses_each_device_value_no_guest_could_reach)
{
	static const struct {
		unsigned section;
		size_t offset;
		uint8_t byte;
		const char *why;
	} cases[] = {
	    {1, offsetof(struct vuart, used), 2, "uart: used is neither 0 nor 1"},
	    {1, offsetof(struct vuart, thre_pending), 0xFF, "thre_pending is neither 0 nor 1"},
	    {1, offsetof(struct vuart, line) + 3, 0x1B, "byte 3 of the pending line is 0x1b"},
	    {1, offsetof(struct vuart, ier), 0x10, "IER 0x10"},
	    {1, offsetof(struct vuart, mcr), 0x20, "MCR 0x20"},
	    {2, offsetof(struct vpic, chip[1].auto_eoi), 7, "pic: chip 1: auto_eoi is neither"},
	    {2, offsetof(struct vpic, chip[0].icw_step), 1,
	     "chip 0: vector base 0x20 or ICW step 1"},
	    {2, offsetof(struct vpic, chip[1].icw_step), 5, "ICW step 5"},
	    {2, offsetof(struct vpic, chip[0].vector_base), 0x23, "vector base 0x23"},
	    {2, offsetof(struct vpic, rtc_index), 0x80, "RTC index 0x80"},
	    {0, offsetof(struct vlapic, apic_base), 0x01, "reserved bits"},
	    {0, offsetof(struct vlapic, apic_base) + 1, 0x04, "x2APIC mode without the APIC"},
	    {0, offsetof(struct vlapic, svr) + 1, 0x10, "SVR or TPR"},
	    {0, offsetof(struct vlapic, lvt_timer) + 2, 0x06, "mode 3"},
	    {0, offsetof(struct vlapic, lvt_lint0) + 3, 0x01, "LINT0 has reserved bits"},
	    {0, offsetof(struct vlapic, divide_config), 0x04, "divide configuration"},
	    {0, offsetof(struct vlapic, isr), 0x20, "a vector below 16 in service"},
	    {0, offsetof(struct vlapic, timer_period), 0x01, "a period in host ticks"},
	    {0, sizeof(struct vlapic), 2, "timer_armed is neither 0 nor 1"},
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		save_busy();
		blob[section_at(cases[i].section) + cases[i].offset] = cases[i].byte;
		if (!refused_with(cases[i].why))
			printf("  case %u (%s) taken\n", i, cases[i].why);
		CHECK(refused_with(cases[i].why));
	}
}

TEST(snapshot_refuses_a_timer_period_below_the_vms_bound)
{
	/* A period of one tick would keep the VMX-preemption timer at zero and
	 * the vCPU from ever running an instruction (issue 11's livelock):
	 * the write is bounded by timer_period_us, the restore must be too. */
	save_busy();
	uint64_t ns = 1;
	size_t at = section_at(0) + sizeof(struct vlapic) + sizeof(uint64_t);
	memcpy(blob + at, &ns, sizeof ns);
	CHECK(refused_with("x2apic: a timer period of 1 ns, 2 ticks here (mode 1; only periodic "
	                   "mode has one, of 400000 to"));
	ns = 199999;
	memcpy(blob + at, &ns, sizeof ns);
	CHECK(refused_with("a timer period of 199999 ns, 399998 ticks here"));
	ns = 200000; /* at the bound: taken */
	memcpy(blob + at, &ns, sizeof ns);
	struct vm *vm = calloc(1, sizeof *vm);
	struct snapshot_host h = host();
	char why[SNAPSHOT_WHY_MAX];
	CHECK(snapshot_restore(&devices, vm, &h, blob, blob_len, why, sizeof why));
	CHECK_EQ(vm->vcpu.lapic.timer_period, 400000); /* 200 us at 2 GHz */
	free(vm);
	/* A period in one-shot mode (the timer would be periodic after all). */
	save_busy();
	blob[section_at(0) + offsetof(struct vlapic, lvt_timer) + 2] = 0;
	CHECK(refused_with("(mode 0;"));
}

TEST(snapshot_refuses_a_timer_period_no_guest_can_program)
{
	/* Saturated to UINT64_MAX ticks, deadline + period would wrap to
	 * just before the deadline: due at every pass, the vCPU never runs. */
	save_busy();
	uint64_t ns = UINT64_MAX / 2;
	memcpy(blob + section_at(0) + sizeof(struct vlapic) + sizeof(uint64_t), &ns, sizeof ns);
	CHECK(refused_with("ticks here (mode 1; only periodic mode has one, of 400000 to "
	                   "8796093020160 ticks)"));
}

TEST(snapshot_takes_a_period_at_the_bound_where_the_tsc_rate_is_not_round)
{
	/* 49996 kHz (bochs' calibrated TSC): the bound is 9999 ticks, which
	 * saves as 199996 ns; the restore here must take its own bound back. */
	struct vm *vm = busy_vm();
	struct snapshot_host h = host();
	h.tsc_khz = 49996;
	vm->vcpu.lapic.timer_period = h.tsc_khz * h.timer_period_min_us / 1000;
	blob_len = snapshot_save(&devices, vm, &h, blob, sizeof blob);
	CHECK(blob_len);
	memset(vm, 0, sizeof *vm);
	char why[SNAPSHOT_WHY_MAX] = "";
	bool ok = snapshot_restore(&devices, vm, &h, blob, blob_len, why, sizeof why);
	if (!ok)
		printf("  refused: %s\n", why);
	CHECK(ok);
	CHECK_EQ(vm->vcpu.lapic.timer_period, 9999);
	free(vm);
}

TEST(snapshot_refuses_blobs_of_another_layout)
{
	save_busy();
	CHECK(!refused_with("x")); /* sanity: the saved blob itself is taken */
	struct vm *vm = calloc(1, sizeof *vm);
	struct snapshot_host h = host();
	char why[SNAPSHOT_WHY_MAX];
	/* Short, empty, another magic. */
	CHECK(!snapshot_check(&devices, vm, &h, blob, 3, why, sizeof why));
	CHECK(strstr(why, "not a snapshot of this hv"));
	CHECK(!snapshot_check(&devices, vm, &h, blob, 0, why, sizeof why));
	CHECK(!snapshot_check(&devices, vm, &h, blob, blob_len - 8, why, sizeof why));
	CHECK(strstr(why, "another build?"));
	/* Misaligned in memory. */
	static _Alignas(64) uint8_t shifted[4096 + 8];
	memcpy(shifted + 1, blob, blob_len);
	CHECK(!snapshot_check(&devices, vm, &h, shifted + 1, blob_len, why, sizeof why));
	CHECK(strstr(why, "aligned"));
	free(vm);
	/* The header's count and length, a section's tag and its size. */
	save_busy();
	((struct snapshot_header *)blob)->sections = 2;
	CHECK(refused_with("in 2 sections"));
	save_busy();
	((struct snapshot_header *)blob)->len += 8;
	CHECK(refused_with("another build?"));
	save_busy();
	blob[section_at(1) - sizeof(struct snapshot_section_header) + 3] = '2';
	CHECK(refused_with("section 1 is 'UAR2' of 524 bytes where this hv has uart"));
	save_busy();
	((struct snapshot_section_header *)(blob + section_at(2) -
	                                    sizeof(struct snapshot_section_header)))
	    ->len = 24;
	CHECK(refused_with("section 2 is 'PIC1' of 24 bytes"));
	/* A tag of control bytes is shown as '?', never raw. */
	save_busy();
	memset(blob + section_at(0) - sizeof(struct snapshot_section_header), '\n', 4);
	CHECK(refused_with("section 0 is '?"
	                   "?"
	                   "?"
	                   "?'"));
}

TEST(snapshot_save_refuses_a_buffer_too_small_or_misaligned)
{
	struct vm *vm = busy_vm();
	struct snapshot_host h = host();
	CHECK_EQ(snapshot_save(&devices, vm, &h, blob, snapshot_size(&devices) - 1), 0);
	CHECK_EQ(snapshot_save(&devices, vm, &h, blob + 4, sizeof blob - 4), 0);
	CHECK_EQ(snapshot_save(&devices, vm, &h, blob, sizeof blob), snapshot_size(&devices));
	free(vm);
}
