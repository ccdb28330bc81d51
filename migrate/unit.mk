# Host-testable sources of migrate/ (see the top Makefile): all of it is
# pure, and every file is taken, so a new policy file needs no line here.
UNIT_UNDER_TEST += $(sort $(wildcard migrate/*.c))
# The tests include "migrate/migrate.h" from the repository root.
UNIT_CFLAGS += -I.
# Rebuild the tests when a header changes too.
$(BUILD)/tests/unit_tests: migrate/migrate.h tests/unit/test_migrate_sim.h
