/* libFuzzer target: a multiboot2 information table (hv/boot/multiboot.c),
 * the input being physical memory with the table at its start; see
 * fuzz_boot.h for how the memory is mapped and what is checked. */
#include "fuzz_boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_boot_run(MB2_BOOTLOADER_MAGIC, 2, data, size);
	return 0;
}
