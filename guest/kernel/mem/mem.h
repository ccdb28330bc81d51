/* Runs in the guest: the memory layout. One address space, virtual =
 * physical (boot.S maps the first 4 GiB):
 *
 *   1 MiB            the ELF image (code, data, bss)
 *   image end        heap (sbrk), growing up
 *   ...              stack guard: unmapped, so an overflow faults
 *   ...              the stack, growing down
 *   top of RAM       (of the RAM region that holds the image, below 4 GiB)
 */
#ifndef GUEST_MEM_H
#define GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

#define STACK_MIN_SIZE   (1u << 20)  /* at least 1 MiB of stack */
#define STACK_GUARD_SIZE (64u << 10) /* 64 KiB unmapped below it */

/* Lays out heap, guard and stack below ram_top. False (with a message on
 * the console) when the RAM is too small. */
bool mem_init(uint64_t ram_top);

/* Makes [base, base + size) fit for a device's registers (MMIO): boot.S
 * already maps it (identity, below 4 GiB); this turns caching off on the
 * 2 MiB pages that cover it. False when the range is not below 4 GiB, lies
 * in our RAM, or shares a page with the stack guard's 4 KiB pages. */
bool mem_map_device(uint64_t base, uint64_t size);

uint64_t mem_image_end(void);
uint64_t mem_heap_start(void);
uint64_t mem_heap_limit(void);
uint64_t mem_stack_top(void);
uint64_t mem_ram_top(void);
bool mem_is_stack_guard(uint64_t address);

#endif
