# Host-testable sources of migrate/ (see the top Makefile): all of it is pure.
UNIT_UNDER_TEST += migrate/wire.c migrate/transport.c migrate/engine.c migrate/policy.c \
	migrate/policy_default.c migrate/policy_xen_legacy.c migrate/policy_xen_v2.c \
	migrate/policy_qemu.c
# The tests include "migrate/migrate.h" from the repository root.
UNIT_CFLAGS += -I.
# Rebuild the tests when a header changes too.
$(BUILD)/tests/unit_tests: migrate/migrate.h tests/unit/test_migrate_sim.h
