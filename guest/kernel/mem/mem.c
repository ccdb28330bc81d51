/* Runs in the guest, at boot: places heap, stack guard and stack, and
 * unmaps the guard by splitting one 2 MiB page of boot.S's identity map
 * into 4 KiB pages (SDM Vol. 3A 5.5 "4-Level Paging"). */
#include "mem/mem.h"

#include "console/console.h"

#define PAGE_SIZE    0x1000u
#define LARGE_PAGE   0x200000u
#define PTE_PRESENT  0x1u
#define PTE_WRITABLE 0x2u
#define PTE_PWT      0x8u  /* write-through */
#define PTE_PCD      0x10u /* cache disable */
#define PTE_LARGE    0x80u /* a 2 MiB page in a page directory */
#define FOUR_GIB     0x100000000ull
#define RAM_START    0x100000u /* linker/guest.ld loads the image, our RAM, here */

extern char __image_end[];                      /* linker/guest.ld */
extern uint64_t boot_page_directories[4 * 512]; /* boot.S: 2 MiB entries */

static uint64_t guard_page_table[512] __attribute__((aligned(PAGE_SIZE)));

static uint64_t ram_top, heap_start, heap_limit, stack_top, guard_start;

static uint64_t align_down(uint64_t value, uint64_t alignment)
{
	return value & ~(alignment - 1);
}

/* Reloading CR3 flushes every translation we changed (no global pages). */
static void flush_tlb(void)
{
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

/* Maps the 2 MiB around the guard with 4 KiB pages, all present except
 * the guard pages. */
static void unmap_stack_guard(void)
{
	uint64_t large_page = align_down(guard_start, LARGE_PAGE);
	for (unsigned i = 0; i < 512; i++) {
		uint64_t address = large_page + (uint64_t)i * PAGE_SIZE;
		bool is_guard = address >= guard_start && address < guard_start + STACK_GUARD_SIZE;
		guard_page_table[i] = is_guard ? 0 : address | PTE_PRESENT | PTE_WRITABLE;
	}
	boot_page_directories[large_page / LARGE_PAGE] =
	    (uint64_t)guard_page_table | PTE_PRESENT | PTE_WRITABLE;
	flush_tlb();
}

bool mem_init(uint64_t top)
{
	ram_top = top;
	heap_start = align_down((uint64_t)__image_end + PAGE_SIZE - 1, PAGE_SIZE);
	stack_top = align_down(top, PAGE_SIZE);
	/* The stack's bottom sits on a 2 MiB boundary so the guard just below
	 * it lies inside a single large page. */
	uint64_t stack_bottom =
	    stack_top > STACK_MIN_SIZE ? align_down(stack_top - STACK_MIN_SIZE, LARGE_PAGE) : 0;
	if (stack_bottom < heap_start + STACK_GUARD_SIZE) {
		console_print("guest: not enough RAM: top of RAM ");
		console_print_hex(top);
		console_print(", image ends at ");
		console_print_hex(heap_start);
		console_print("; need about 4 MiB more than the image\n");
		return false;
	}
	guard_start = stack_bottom - STACK_GUARD_SIZE;
	heap_limit = guard_start;
	unmap_stack_guard();
	return true;
}

/* PCD and PWT both set select PAT entry 3, uncacheable with the power-on
 * PAT (SDM Vol. 3A, "Page Attribute Table (PAT)", the table of PAT entries
 * selected by PAT, PCD and PWT): device registers must not be cached or
 * have their writes combined, whatever the firmware's MTRRs say. */
bool mem_map_device(uint64_t base, uint64_t size)
{
	uint64_t end = base + size;
	if (size == 0 || end < base || end > FOUR_GIB || (base < ram_top && end > RAM_START))
		return false;
	for (uint64_t page = align_down(base, LARGE_PAGE); page < end; page += LARGE_PAGE) {
		uint64_t *entry = &boot_page_directories[page / LARGE_PAGE];
		if (!(*entry & PTE_LARGE))
			return false; /* split into 4 KiB pages: the stack guard, RAM */
		*entry |= PTE_PCD | PTE_PWT;
	}
	flush_tlb();
	return true;
}

uint64_t mem_image_end(void)
{
	return (uint64_t)__image_end;
}

uint64_t mem_heap_start(void)
{
	return heap_start;
}

uint64_t mem_heap_limit(void)
{
	return heap_limit;
}

uint64_t mem_stack_top(void)
{
	return stack_top;
}

uint64_t mem_ram_top(void)
{
	return ram_top;
}

bool mem_is_stack_guard(uint64_t address)
{
	return guard_start != 0 && address >= guard_start &&
	       address < guard_start + STACK_GUARD_SIZE;
}
