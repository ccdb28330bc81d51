# Runs on the build host: builds the guest kernel and workloads, one ELF per
# workload, each the kernel + the workload's main + newlib. Included by the
# top-level Makefile, which sets BUILD, CC, LD and Q.
#   make guests    ->  $(BUILD)/guest/WORKLOAD.elf for each of GUEST_WORKLOADS

GUEST_WORKLOADS := hello mvb dirty energy netsrc netsink netping netrr
GUEST_DIR       := $(BUILD)/guest
NEWLIB_PREFIX   := $(BUILD)/newlib/x86_64-elf
NEWLIB_LIBC     := $(NEWLIB_PREFIX)/lib/libc.a

# Freestanding, no red zone (interrupts use the same stack), fixed address
# (no PIC/PIE), no canary (no TLS). SSE is allowed: newlib needs it and
# boot.S enables it. Headers: newlib's, then gcc's own (stdint, stdarg),
# never the host's /usr/include.
GUEST_CFLAGS := -std=c11 -O2 -g -ffreestanding -mno-red-zone -fno-pic -fno-pie \
	-fno-stack-protector -mcmodel=small -fno-asynchronous-unwind-tables \
	-ffunction-sections -fdata-sections -Wall -Wextra -Werror \
	-nostdinc -isystem $(NEWLIB_PREFIX)/include -isystem $(shell $(CC) -print-file-name=include) \
	-Iguest/kernel -Iinclude -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack \
	--no-warn-rwx-segments --gc-sections -T linker/guest.ld
GUEST_LIBS := -L$(NEWLIB_PREFIX)/lib --start-group -lc -lm $(shell $(CC) -print-libgcc-file-name) --end-group

GUEST_KERNEL_SRCS := $(sort $(wildcard guest/kernel/*/*.c guest/kernel/*/*.S))
GUEST_KERNEL_OBJS := $(patsubst %,$(BUILD)/%.o,$(GUEST_KERNEL_SRCS))
GUEST_ELFS        := $(patsubst %,$(GUEST_DIR)/%.elf,$(GUEST_WORKLOADS))

# Objects reached only through pattern rules would count as intermediate
# files, which make deletes after the link.
.SECONDARY: $(GUEST_KERNEL_OBJS) $(patsubst %,$(BUILD)/guest/workloads/%.c.o,$(GUEST_WORKLOADS))

.PHONY: guests newlib
guests: $(GUEST_ELFS)
newlib: $(NEWLIB_LIBC)

$(NEWLIB_LIBC):
	$(Q)tools/build-newlib.sh $(BUILD)

# Every guest object needs newlib's headers, hence the order-only
# dependency on libc.a (built once, never rebuilt for a script change).
$(BUILD)/guest/%.c.o: guest/%.c guest/guest.mk | $(NEWLIB_LIBC)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/guest/%.S.o: guest/%.S guest/guest.mk | $(NEWLIB_LIBC)
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_DIR)/%.elf: $(BUILD)/guest/workloads/%.c.o $(GUEST_KERNEL_OBJS) linker/guest.ld $(NEWLIB_LIBC)
	@echo "  LD      $@"
	$(Q)$(LD) $(GUEST_LDFLAGS) -Map $(GUEST_DIR)/$*.map -o $@ $(GUEST_KERNEL_OBJS) $< $(GUEST_LIBS)
	@grub-file --is-x86-multiboot $@ || { echo "error: $@ has no multiboot1 header in its first 8 KiB" >&2; rm -f $@; exit 1; }
