# Host-testable sources of hv/power (see the top Makefile).
UNIT_UNDER_TEST += hv/power/ledger.c hv/power/model.c hv/power/rapl_math.c hv/power/rules.c
