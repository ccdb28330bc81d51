# Runs on the build host: Linux guest images from Debian's archive (the
# kernel linux-image-amd64 depends on, and busybox-static; apt-get download,
# nothing installed, nothing of Debian's in the tree).
#   make linux-images      $(BUILD)/linux/{vmlinux,bzImage,initrd.cpio.gz}
#   make linux-bare-check  boots them bare in QEMU (KVM, else TCG) and checks
#                          /init's command, its output and exit status;
#                          LINUX_RUN="false" LINUX_EXPECT_STATUS=3
#                          LINUX_EXPECT_TEXT="exit status 1" checks another;
#                          LINUX_ACCEL=kvm|tcg picks the accelerator (unset:
#                          KVM, then TCG if KVM gives no end within
#                          LINUX_KVM_TIMEOUT=30 s; see bare-check.sh)
# Included by the top-level Makefile (which sets BUILD, CC, Q, PYTHON), or
# standalone from the repository's root:
#   make -f tools/linux/linux.mk BUILD=build-linux linux-images linux-bare-check
# The .debs are cached in $(BUILD)/linux/debs: downloaded once.

LINUX_TOOLS := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
LINUX_ROOT := $(patsubst %/,%,$(dir $(LINUX_TOOLS:/=)))
LINUX_ROOT := $(patsubst %/,%,$(dir $(LINUX_ROOT)))
LINUX_STANDALONE := $(if $(filter $(lastword $(MAKEFILE_LIST)),$(firstword $(MAKEFILE_LIST))),yes)
LINUX_SAVED_GOAL := $(.DEFAULT_GOAL)

BUILD ?= build
PYTHON ?= python3
Q ?= $(if $(V),,@)
ifeq ($(origin CC),default)
CC := gcc
endif

LINUX_OUT := $(BUILD)/linux
# Workloads that are plain C over newlib: they build for Linux against the
# small shim in tools/linux/shim. The network tools drive hv's NICs
# themselves (the guest kernel's pvnet/e1000 drivers) and do not.
LINUX_WORKLOADS := hello mvb dirty energy
LINUX_WORKLOAD_BINS := $(patsubst %,$(LINUX_OUT)/bin/%,$(LINUX_WORKLOADS))
LINUX_SHIM := $(LINUX_TOOLS)/shim/shim.c $(wildcard $(LINUX_TOOLS)/shim/*/*.h)
LINUX_HOSTED_CFLAGS := -static -O2 -std=gnu11 -Wall -Wextra -Werror

# What fetch.sh makes, all in one run.
LINUX_FETCHED := $(LINUX_OUT)/bzImage $(LINUX_OUT)/vmlinux \
	$(LINUX_OUT)/root-busybox/bin/busybox $(LINUX_OUT)/modules/modules.dep

.PHONY: linux-images linux-bare-check
linux-images: $(LINUX_OUT)/vmlinux $(LINUX_OUT)/bzImage $(LINUX_OUT)/initrd.cpio.gz

$(LINUX_FETCHED) &: $(LINUX_TOOLS)/fetch.sh
	@echo "  FETCH   Debian's kernel and busybox-static -> $(LINUX_OUT)"
	$(Q)$(LINUX_TOOLS)/fetch.sh $(BUILD)

$(LINUX_OUT)/jv-exit: $(LINUX_TOOLS)/jv-exit.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@ (static Linux)"
	$(Q)$(CC) $(LINUX_HOSTED_CFLAGS) -o $@ $<

$(LINUX_OUT)/bin/%: $(LINUX_ROOT)/guest/workloads/%.c $(LINUX_SHIM)
	@mkdir -p $(dir $@)
	@echo "  CC      $@ (static Linux)"
	$(Q)$(CC) $(LINUX_HOSTED_CFLAGS) -I$(LINUX_TOOLS)/shim -I$(LINUX_ROOT)/include \
		-o $@ $< $(LINUX_TOOLS)/shim/shim.c -lm

$(LINUX_OUT)/initrd.cpio.gz: $(LINUX_TOOLS)/mkinitramfs.sh $(LINUX_TOOLS)/newc.py \
		$(LINUX_TOOLS)/init $(LINUX_TOOLS)/jv-counter $(LINUX_OUT)/jv-exit $(LINUX_WORKLOAD_BINS) \
		$(LINUX_OUT)/root-busybox/bin/busybox $(LINUX_OUT)/modules/modules.dep
	@echo "  CPIO    $@"
	$(Q)PYTHON=$(PYTHON) $(LINUX_TOOLS)/mkinitramfs.sh $(BUILD) $@

# LINUX_RUN, LINUX_EXPECT_STATUS, LINUX_EXPECT_TEXT reach the script through
# the environment (make exports what is set on its command line).
linux-bare-check: linux-images
	$(Q)$(LINUX_TOOLS)/bare-check.sh $(BUILD)

# Included: leave the including Makefile's default goal alone.
ifeq ($(LINUX_STANDALONE),)
.DEFAULT_GOAL := $(LINUX_SAVED_GOAL)
endif
