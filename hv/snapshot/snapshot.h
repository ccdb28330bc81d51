/* snapshot: a paused VM's vCPU and device state as one blob of tagged
 * sections, one per device, for live migration (and any later save and
 * restore). Each device owns one entry, struct snapshot_section: how big
 * its section is, how to save it, how to check one that came from
 * elsewhere and how to restore it. The blob's check ("will this restore
 * here?", asked before the destination lets the source go) is derived
 * from the same entries as the restore, so the two cannot disagree, and
 * adding a device is one entry in hv's table (sections.c).
 *
 * A blob crosses a wire from another host: every value in it is checked
 * against what the device itself could have reached (a UART line no
 * longer than its buffer, a timer period no shorter than the VM's limit, a
 * PIC in an initialisation step that exists, bools that are 0 or 1), so a
 * restore never puts a device in a state the guest could not have put it
 * in. The walker and the emulated devices' sections (device_state.c) are
 * pure and built on the host too (unit tests, tests/fuzz/fuzz_snapshot.c).
 *
 * Layout: struct snapshot_header, then per section a struct
 * snapshot_section_header and its bytes, each section starting 8-byte
 * aligned, in the table's order and all of them: a blob with a section
 * missing, unknown, out of order or of another size is refused whole. A
 * section's tag carries its version in its last character: change what a
 * section holds and change its tag. */
#ifndef HV_SNAPSHOT_H
#define HV_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm/vm.h"

#define SNAPSHOT_MAGIC 0x314E534Au /* "JSN1" */
#define SNAPSHOT_TAG(a, b, c, d)                                                                   \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define SNAPSHOT_WHY_MAX 160

struct snapshot_header {
	uint32_t magic;
	uint32_t sections;
	uint64_t len; /* the whole blob, this header included */
};

struct snapshot_section_header {
	uint32_t tag;
	uint32_t len; /* the section's bytes, without this header or padding */
};

/* What a section needs of the host it is saved on or restored to. */
struct snapshot_host {
	uint64_t now_tsc;             /* this host's TSC at the save or the restore */
	uint64_t tsc_khz;             /* its rate */
	uint64_t phys_addr_reserved;  /* physical-address bits above its MAXPHYADDR */
	uint64_t timer_period_min_us; /* the VM's shortest periodic APIC timer here */
	/* save: the vCPU's state at the pause; restore: the state it resumes
	 * in (a section may set it: the vNIC makes it runnable to take the
	 * interrupt the restore raises). */
	enum vcpu_state vcpu_state;
};

struct snapshot_section {
	const char *name; /* in refusals: "uart: ..." */
	uint32_t tag;
	size_t (*size)(void); /* every section has one size per build */
	/* With the VM paused; out holds size() bytes, 8-byte aligned. */
	bool (*save)(struct vm *vm, struct snapshot_host *host, void *out);
	/* Whether restore would take in (size() bytes, 8-byte aligned) for vm
	 * on this host; false with the reason in why. Reads in, nothing else. */
	bool (*check)(const struct vm *vm, const struct snapshot_host *host, const void *in,
	              char *why, size_t why_len);
	/* Only after check said yes, in the table's order (the clock before
	 * the x2APIC, whose timer runs on the guest's clock; the vNIC last, it
	 * raises an interrupt). False only where hardware refuses (a VMCS that
	 * cannot be loaded). */
	bool (*restore)(struct vm *vm, struct snapshot_host *host, const void *in);
};

struct snapshot_table {
	const struct snapshot_section *const *sections;
	size_t count;
};

/* hv's table (sections.c): vCPU, clock, x2APIC, UART, PIC, vNIC. */
extern const struct snapshot_table hv_snapshot_table;

/* The blob's size for table t, its header included. */
size_t snapshot_size(const struct snapshot_table *t);
/* Saves vm's state into out (cap bytes, 8-byte aligned); returns the
 * blob's length, or 0 (it does not fit, or a section could not save). */
size_t snapshot_save(const struct snapshot_table *t, struct vm *vm, struct snapshot_host *host,
                     uint8_t *out, size_t cap);
/* Whether snapshot_restore would take blob (len bytes) for vm here; false
 * with the reason in why ("uart: line of 4096 bytes, its buffer holds
 * 511"). */
bool snapshot_check(const struct snapshot_table *t, const struct vm *vm,
                    const struct snapshot_host *host, const uint8_t *blob, size_t len, char *why,
                    size_t why_len);
/* Checks the blob whole, then restores every section in order. */
bool snapshot_restore(const struct snapshot_table *t, struct vm *vm, struct snapshot_host *host,
                      const uint8_t *blob, size_t len, char *why, size_t why_len);

/* The emulated devices' sections (device_state.c, pure). */
extern const struct snapshot_section snapshot_lapic_section;
extern const struct snapshot_section snapshot_uart_section;
extern const struct snapshot_section snapshot_pic_section;
/* hv's others, each beside the state it saves: the vCPU (vmx/vcpu_state.c),
 * the guest's clocks (sections.c), the vNIC (net/backend.c). */
extern const struct snapshot_section snapshot_vcpu_section;
extern const struct snapshot_section snapshot_clock_section;
extern const struct snapshot_section snapshot_vnic_section;

#endif
