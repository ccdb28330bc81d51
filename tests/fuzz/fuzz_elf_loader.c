/* libFuzzer target: a guest image (elf_load_guest in hv/vm/elf_loader.c):
 * an ELF64 or ELF32 file booted by its PVH note or by a multiboot1 header
 * (with or without the a.out kludge's load addresses). The input is the
 * image. As vm.c does, it is first validated only, against the VM's
 * memory size, then loaded into guest memory: here a buffer of exactly
 * that size, so that a load the checks let through past the end is a heap
 * overflow for ASan, and the boot area below VM_BOOT_AREA_END is watched
 * for writes. Validation is also run against extreme memory sizes, where
 * the range checks could wrap. */
#include "fuzz_common.h"
#include "lib/lib.h"
#include "vm/vm.h"

#define GUEST_MEM VM_MEM_MIN /* the smallest VM: 2 MiB */

static uint8_t *guest;

static void check_info(const struct elf_image_info *info, uint64_t mem_size)
{
	FUZZ_ASSERT(info->protocol == GUEST_BOOT_PVH || info->protocol == GUEST_BOOT_MULTIBOOT1);
	FUZZ_ASSERT(info->segments >= 1);
	FUZZ_ASSERT(info->load_start >= VM_BOOT_AREA_END);
	FUZZ_ASSERT(info->load_start < info->load_end);
	FUZZ_ASSERT(info->load_end <= mem_size);
	FUZZ_ASSERT(info->pvh_entry >= info->load_start && info->pvh_entry < info->load_end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!guest) {
		guest = malloc(GUEST_MEM); /* kept across runs: 2 MiB each time is slow */
		if (!guest)
			abort();
	}
	/* An exact-size copy: a read past the image is an overflow too. */
	uint8_t *image = malloc(size ? size : 1);
	if (!image)
		abort();
	memcpy(image, data, size);

	char err[200]; /* vm.c's size */
	struct elf_image_info checked, loaded;
	int rc = elf_load_guest(image, size, NULL, GUEST_MEM, &checked, err, sizeof err);
	FUZZ_ASSERT(rc == 0 || rc == -1);
	if (rc) {
		FUZZ_ASSERT(fuzz_terminated(err, sizeof err) && err[0]);
		char esc[300];
		fmt_json_escape(esc, sizeof esc, err);
		FUZZ_ASSERT(fuzz_json_string_ok(esc));
	} else {
		check_info(&checked, GUEST_MEM);
		/* The boot area is hv's (start info, command line, memory map). */
		memset(guest, 0x5A, VM_BOOT_AREA_END);
		FUZZ_ASSERT(
		    elf_load_guest(image, size, guest, GUEST_MEM, &loaded, err, sizeof err) == 0);
		FUZZ_ASSERT(!memcmp(&checked, &loaded, sizeof loaded));
		for (size_t i = 0; i < VM_BOOT_AREA_END; i++)
			FUZZ_ASSERT(guest[i] == 0x5A);
	}

	/* Memory sizes near 2^64: validation only, no memory behind them. */
	static const uint64_t huge[] = {VM_MEM_MAX, 1ull << 63, UINT64_MAX - 0xfff, UINT64_MAX};
	for (size_t i = 0; i < ARRAY_SIZE(huge); i++) {
		struct elf_image_info info;
		if (elf_load_guest(image, size, NULL, huge[i], &info, err, sizeof err) == 0)
			check_info(&info, huge[i]);
		else
			FUZZ_ASSERT(fuzz_terminated(err, sizeof err));
	}
	free(image);
	return 0;
}
