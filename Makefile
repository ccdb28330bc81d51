# Joulevisor: one entry point.
#   make            build hv (freestanding ELF), the guests and the bootable ISO
#   make run        boot hv with its VMs in the best emulator here (EMU=bochs|qemu|ovmf|kvm)
#   make test       install what is missing, then unit and system tests
#   make deps       install the Debian packages the project needs
#   make format     clang-format every C file
BUILD   ?= build
CC      := gcc
LD      := ld
PYTHON  ?= python3
EMU     ?=
# V=1 shows full commands.
Q       := $(if $(V),,@)

# hv: freestanding, no SSE in hv code (guest FPU state stays the guest's),
# frame pointers kept for the exception handler's stack trace.
HV_CFLAGS := -std=c11 -O2 -g -ffreestanding -fno-builtin -nostdlib -mno-red-zone \
	-fno-pic -fno-pie -mcmodel=small -mgeneral-regs-only -fno-stack-protector \
	-fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	-Wall -Wextra -Werror -Iinclude -Ihv -I. -MMD -MP
HV_LDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack \
	--no-warn-rwx-segments -T linker/hv.ld

# migrate/ is pure C shared with the host unit tests; hv links it in.
HV_SRCS := $(shell find hv migrate -name '*.c' -o -name '*.S' | sort)
HV_OBJS := $(patsubst %,$(BUILD)/%.o,$(HV_SRCS))

.PHONY: all hv iso guests deps run debug test unit systest format clean tiny-guests exp-overhead exp-energy exp-net exp-migrate policies soak
all: hv guests iso

hv: $(BUILD)/hv.elf
iso: $(BUILD)/joulevisor.iso

$(BUILD)/hv/%.c.o: hv/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(HV_CFLAGS) -c $< -o $@

$(BUILD)/migrate/%.c.o: migrate/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(HV_CFLAGS) -c $< -o $@

$(BUILD)/hv/%.S.o: hv/%.S
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(HV_CFLAGS) -c $< -o $@

$(BUILD)/hv.elf: $(HV_OBJS) linker/hv.ld
	@echo "  LD      $@"
	$(Q)$(LD) $(HV_LDFLAGS) -o $@ $(HV_OBJS)
	@grub-file --is-x86-multiboot2 $@ || { echo "error: $@ has no multiboot2 header in its first 32 KiB" >&2; exit 1; }
	@grub-file --is-x86-multiboot $@ || { echo "error: $@ has no multiboot1 header in its first 8 KiB" >&2; exit 1; }

# The demo ISO: hv with three VMs running at once (see tools/mkiso.sh).
DEMO_VMS := $(BUILD)/guest/hello.elf "name=hello mem=16M -- hello world" \
	$(BUILD)/guest/mvb.elf "name=mvb mem=32M -- mvb 256 10" \
	$(BUILD)/guest/dirty.elf "name=dirty mem=32M -- dirty --ws 4 --rate 1000 --seconds 2 --checksum"
$(BUILD)/joulevisor.iso: $(BUILD)/hv.elf tools/mkiso.sh Makefile $(BUILD)/guest/hello.elf $(BUILD)/guest/mvb.elf $(BUILD)/guest/dirty.elf
	@echo "  ISO     $@"
	$(Q)tools/mkiso.sh $@ $(BUILD)/hv.elf "" $(DEMO_VMS)

# Tiny assembly guests that exercise hv's exits and its error paths.
TINY_MODES := ok ept hostile triple hltcli netbad pae lmoff
TINY_ELFS := $(patsubst %,$(BUILD)/tests/tiny-%.elf,$(TINY_MODES))
tiny_mode_ok := 0
tiny_mode_ept := 1
tiny_mode_hostile := 2
tiny_mode_triple := 3
tiny_mode_hltcli := 4
tiny_mode_netbad := 5
tiny_mode_pae := 6
tiny_mode_lmoff := 7
$(BUILD)/tests/tiny-%.elf: tests/guests/tiny.S tests/guests/tiny.ld
	@mkdir -p $(dir $@)
	@echo "  AS      $@"
	$(Q)$(CC) -m32 -c -DMODE=$(tiny_mode_$*) tests/guests/tiny.S -o $(@:.elf=.o)
	$(Q)$(LD) -m elf_i386 -T tests/guests/tiny.ld -z noexecstack --no-warn-rwx-segments -o $(@:.elf=.32) $(@:.elf=.o)
	$(Q)objcopy -O elf64-x86-64 $(@:.elf=.32) $@
# A valid ELF that no protocol boots: tiny-ok without its PVH note.
$(BUILD)/tests/tiny-nonote.elf: $(BUILD)/tests/tiny-ok.elf
	$(Q)objcopy --remove-section .note.Xen $< $@
tiny-guests: $(TINY_ELFS) $(BUILD)/tests/tiny-nonote.elf

# Guest kernel and workloads (newlib built once into $(BUILD)/newlib).
include guest/guest.mk

# The hostile-guest battery (tests/guests/hostile.c): the guest kernel with
# a test program in place of a workload.
HOSTILE_ELF := $(BUILD)/tests/hostile.elf
$(BUILD)/tests/guests/%.c.o: tests/guests/%.c guest/guest.mk | $(NEWLIB_LIBC)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@
$(HOSTILE_ELF): $(BUILD)/tests/guests/hostile.c.o $(GUEST_KERNEL_OBJS) linker/guest.ld $(NEWLIB_LIBC)
	@echo "  LD      $@"
	$(Q)$(LD) $(GUEST_LDFLAGS) -o $@ $(GUEST_KERNEL_OBJS) $< $(GUEST_LIBS)
tiny-guests: $(HOSTILE_ELF)

deps:
	@tools/deps.sh

# The platform is chosen (and a platform that cannot work here refused, with
# its reason) before anything is installed or built. V=1 shows the machine
# lines inline; the log in $(BUILD)/run/ always has them.
run:
	@emu=$$($(PYTHON) tools/run.py --platform-only $(if $(EMU),--emu $(EMU))) && \
	$(MAKE) --no-print-directory deps all && \
	$(PYTHON) tools/run.py --show $(if $(V),--show-events) --emu $$emu \
		--iso $(BUILD)/joulevisor.iso --workdir $(BUILD)/run

# gdb attached to QEMU's stub (TCG: boot path only).
debug: all
	$(PYTHON) tools/run.py --show --emu qemu --gdb --iso $(BUILD)/joulevisor.iso

# ---- policies: the tables hv is built with, listed on the host ----------
# `make policies` prints every batching and migration policy with its knobs
# (one JSON line each); the experiments read the same listing.
POLICY_LIST := $(BUILD)/tools/policies
$(POLICY_LIST): tools/policies.c hv/lib/knobs.c hv/lib/fmt.c hv/lib/cmdline.c hv/lib/lib.h \
		hv/net/net.h migrate/migrate.h $(wildcard hv/net/batch*.c migrate/policy*.c)
	@mkdir -p $(dir $@)
	@echo "  CC      $@ (host)"
	$(Q)$(CC) -std=c11 -O1 -Wall -Wextra -Werror -Iinclude -Ihv -I. -DHOSTED_TEST \
		-D_DEFAULT_SOURCE -o $@ tools/policies.c hv/lib/knobs.c hv/lib/fmt.c hv/lib/cmdline.c \
		$(wildcard hv/net/batch*.c migrate/policy*.c)
policies: $(POLICY_LIST)
	@$(POLICY_LIST)

# ---- trace replay: the edit-run loop in seconds ----------------------------
# hv records what the policies see with the boot option trace=batch,migrate;
# tools/trace_extract.py keeps those lines; make sim-batch / sim-migrate
# replay them through the same policy code built for the host.
# TRACE= (default: the shipped tests/traces/) and POLICIES= as exp-net and
# exp-migrate take them (docs/policies.md, "The edit-run loop").
SIM_BATCH := $(BUILD)/tools/sim_batch
SIM_MIGRATE := $(BUILD)/tools/sim_migrate
SIM_CFLAGS := -std=c11 -O2 -Wall -Wextra -Werror -Iinclude -Ihv -I. -DHOSTED_TEST -D_DEFAULT_SOURCE
$(SIM_BATCH): tools/sim_batch.c tools/sim_trace.h hv/lib/knobs.c hv/lib/fmt.c hv/lib/cmdline.c \
		hv/lib/lib.h hv/net/net.h hv/net/ring.c $(wildcard hv/net/batch*.c)
	@mkdir -p $(dir $@)
	@echo "  CC      $@ (host)"
	$(Q)$(CC) $(SIM_CFLAGS) -o $@ tools/sim_batch.c hv/lib/knobs.c hv/lib/fmt.c hv/lib/cmdline.c \
		hv/net/ring.c $(wildcard hv/net/batch*.c)
$(SIM_MIGRATE): tools/sim_migrate.c tools/sim_trace.h hv/lib/knobs.c hv/lib/fmt.c hv/lib/cmdline.c \
		hv/lib/lib.h migrate/migrate.h $(wildcard migrate/*.c)
	@mkdir -p $(dir $@)
	@echo "  CC      $@ (host)"
	$(Q)$(CC) $(SIM_CFLAGS) -o $@ tools/sim_migrate.c hv/lib/knobs.c hv/lib/fmt.c hv/lib/cmdline.c \
		$(wildcard migrate/*.c)
SIM_POLICIES = $(foreach p,$(POLICIES),-p $(p))
.PHONY: sim-batch sim-migrate
sim-batch: $(SIM_BATCH)
	@$(SIM_BATCH) $(SIM_POLICIES) $(or $(TRACE),$(wildcard tests/traces/batch-*.jsonl))
sim-migrate: $(SIM_MIGRATE)
	@$(SIM_MIGRATE) $(SIM_POLICIES) $(or $(TRACE),$(wildcard tests/traces/migrate-*.jsonl))

# ---- experiments (figures, not tests) ----
# POLICIES="none fixed-time:tbuf=1ms" (exp-net) or "default qemu shrink:ratio=25"
# (exp-migrate) runs those instead of the default sweep; QUICK=1 a short run.
EXP_ENV = $(if $(POLICIES),POLICIES="$(POLICIES)") $(if $(QUICK),QUICK=$(QUICK)) \
	$(if $(WORKLOADS),WORKLOADS="$(WORKLOADS)") $(if $(TRACKERS),TRACKERS="$(TRACKERS)") \
	POLICY_LIST=$(POLICY_LIST)
exp-overhead: deps all linux-images
	$(PYTHON) tools/exp_overhead.py

exp-energy: deps all
	$(PYTHON) tools/exp_energy.py

exp-net: deps all $(POLICY_LIST)
	$(EXP_ENV) $(PYTHON) tools/exp_net.py

exp-migrate: deps all $(POLICY_LIST)
	$(EXP_ENV) $(PYTHON) tools/exp_migrate.py

# ---- tests ----------------------------------------------------------------
UNIT_CFLAGS := -std=c11 -O1 -g -Wall -Wextra -Werror -Iinclude -Ihv -Itests/unit \
	-fsanitize=address,undefined -fno-sanitize-recover=all -DHOSTED_TEST -D_DEFAULT_SOURCE
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
# Pure hv code that the unit tests exercise on the host.
UNIT_UNDER_TEST := hv/boot/multiboot.c hv/mm/frames.c hv/lib/cmdline.c hv/lib/fmt.c hv/lib/knobs.c \
	hv/vm/vm_config.c hv/vm/limits.c hv/lib/limit.c hv/vm/elf_loader.c hv/vmx/ept.c \
	hv/smp/cpu_tables.c hv/dev/linkfault.c hv/vmx/vcpu_rules.c
# Subsystems list their own pure (host-testable) sources here.
-include hv/net/unit.mk migrate/unit.mk hv/power/unit.mk hv/snapshot/unit.mk
# libFuzzer targets (make fuzz, make fuzz-ci): tests/fuzz/fuzz.mk
-include tests/fuzz/fuzz.mk

$(BUILD)/tests/unit_tests: $(UNIT_SRCS) tests/unit/main.c tests/unit/check.h $(UNIT_UNDER_TEST)
	@mkdir -p $(dir $@)
	@echo "  CC      $@ (host, ASan+UBSan)"
	$(Q)$(CC) $(UNIT_CFLAGS) -o $@ tests/unit/main.c $(UNIT_SRCS) $(UNIT_UNDER_TEST)

unit: $(BUILD)/tests/unit_tests
	$(BUILD)/tests/unit_tests

test: deps all $(BUILD)/tests/unit_tests tiny-guests linux-images fuzz-build
	@tests/run-all.sh $(BUILD)

# The soak runs at full length (issue 11): 20 round trips between two bochs
# hosts, eight VMs for three emulated minutes, migrations at 1%, 5% and 10%
# frame loss, duplication and reordering; each prints a `soak:` line of
# figures. make test runs the short versions.
soak: deps all tiny-guests
	SOAK=long BUILD=$(BUILD) python3 tests/system/soak_tests.py $(SOAK_FILTER)

format:
	clang-format -i $$(find hv guest migrate tools tests include -name '*.[ch]')

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)

# ---- Linux guests (Debian's kernel and busybox; downloaded once) ----------
# tools/linux/linux.mk: linux-images (kernel, initramfs with busybox, the
# workloads built for Linux and the virtio/RAPL modules), linux-bare-check.
include tools/linux/linux.mk
LINUX_IMAGES := $(BUILD)/linux/vmlinux $(BUILD)/linux/initrd.cpio.gz
.PHONY: linux-images run-linux
# The demo: a Linux VM beside mvb and dirty, its console up to a command's
# output and its end. (GRUB reads the module lines: no $ or parentheses.)
run-linux: deps all $(LINUX_IMAGES)
	$(PYTHON) tools/run.py --show --emu bochs --hv $(BUILD)/hv.elf --mem 512 --timeout 600 --workdir $(BUILD)/run-linux \
		--module $(BUILD)/linux/vmlinux 'name=lx mem=160M initrd=lxinit -- console=ttyS0 reboot=t panic=-1 cryptomgr.notests pci=off acpi=off quiet jv.modules=intel_rapl_msr jv.run="uname -a; head -1 /proc/meminfo; mvb 128 5; echo energy_uj; cat /sys/class/powercap/intel-rapl:0/energy_uj"' \
		--module $(BUILD)/linux/initrd.cpio.gz data=lxinit \
		--module $(BUILD)/guest/mvb.elf "name=mvb mem=32M -- mvb 256 10" \
		--module $(BUILD)/guest/dirty.elf "name=dirty mem=32M -- dirty --ws 4 --rate 1000 --seconds 2 --checksum"
