# Host-testable sources of hv/snapshot (see the top Makefile): the blob's
# walker and the emulated devices' sections; sections.c is hv's own.
UNIT_UNDER_TEST += hv/snapshot/snapshot.c hv/snapshot/device_state.c
