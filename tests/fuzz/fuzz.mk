# libFuzzer targets for hv's pure parsers, built for the host with clang.
# Included by the top-level Makefile:
#   make fuzz       every target for FUZZ_SECONDS (default 60) each
#   make fuzz-ci    every target for FUZZ_CI_SECONDS (default 20) each
#   make fuzz-build just build them ($(BUILD)/fuzz/fuzz_NAME)
# A target is a file tests/fuzz/fuzz_NAME.c defining LLVMFuzzerTestOneInput,
# with its seeds in tests/fuzz/corpus/NAME/; nothing else needs listing.
# Reproduce a failure: $(BUILD)/fuzz/fuzz_NAME the-crash-file

# Keep the includer's default goal (this file may be included above it).
fuzz_saved_default_goal := $(.DEFAULT_GOAL)

BUILD           ?= build
FUZZ_CC         ?= clang
FUZZ_SECONDS    ?= 60
FUZZ_CI_SECONDS ?= 20

FUZZ_SANITIZERS := address,undefined
FUZZ_CFLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror \
	-Iinclude -Ihv -I. -Itests/fuzz -DHOSTED_TEST -D_DEFAULT_SOURCE \
	-fsanitize=fuzzer-no-link,$(FUZZ_SANITIZERS) -fno-sanitize-recover=all -MMD -MP
FUZZ_LDFLAGS := -fsanitize=fuzzer,$(FUZZ_SANITIZERS) -fno-sanitize-recover=all

# The pure hv code under test, found here rather than taken from
# UNIT_UNDER_TEST so that this file works wherever it is included. All of
# migrate/ is pure (migrate/unit.mk); so is every batching policy file.
FUZZ_LIB_SRCS := hv/boot/multiboot.c hv/lib/cmdline.c hv/lib/fmt.c hv/lib/knobs.c hv/vm/vm_config.c hv/vm/limits.c \
	hv/smp/cpu_tables.c hv/snapshot/snapshot.c hv/snapshot/device_state.c hv/vmx/vcpu_rules.c \
	hv/vm/elf_loader.c hv/net/ether.c hv/net/ring.c hv/net/vswitch.c \
	$(sort $(wildcard hv/net/batch*.c)) $(sort $(wildcard migrate/*.c))
FUZZ_LIB_OBJS := $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(FUZZ_LIB_SRCS))

FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES   := $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRCS))
FUZZ_TARGETS := $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_NAMES))

.PHONY: fuzz fuzz-ci fuzz-build
# Objects are made by one pattern rule and used by another: keep them.
.SECONDARY: $(FUZZ_LIB_OBJS) $(patsubst %,$(BUILD)/fuzz/obj/tests/fuzz/%.o,$(FUZZ_NAMES))

fuzz-build: $(FUZZ_TARGETS)

# hv code that only one target links, with that target's stubs of what it
# calls in the rest of hv: the console (fuzz_console.c stubs the VM table,
# the migration layer and the printers).
# Both sides see hv's own declarations (not the hosted subset), so that a
# stub whose signature drifts from hv's does not compile.
FUZZ_CONSOLE_OBJS := $(BUILD)/fuzz/obj/hv/console/console.o
.SECONDARY: $(FUZZ_CONSOLE_OBJS)
$(BUILD)/fuzz/fuzz_console: $(FUZZ_CONSOLE_OBJS)
$(FUZZ_CONSOLE_OBJS) $(BUILD)/fuzz/obj/tests/fuzz/fuzz_console.o: FUZZ_CFLAGS += -UHOSTED_TEST

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (fuzz)"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	@echo "  LD      $@ (libFuzzer, ASan+UBSan)"
	$(Q)$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^

# One target at a time, single process: the machine is shared.
fuzz: $(FUZZ_TARGETS)
	@tests/fuzz/run_fuzz.sh $(BUILD) $(FUZZ_SECONDS)

fuzz-ci: $(FUZZ_TARGETS)
	@tests/fuzz/run_fuzz.sh $(BUILD) $(FUZZ_CI_SECONDS)

-include $(wildcard $(BUILD)/fuzz/obj/*/*.d $(BUILD)/fuzz/obj/*/*/*.d)

.DEFAULT_GOAL := $(fuzz_saved_default_goal)
