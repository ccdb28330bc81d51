# The pure network core, built into hv and into the host unit tests.
UNIT_UNDER_TEST += hv/net/ring.c hv/net/batch.c hv/net/batch_none.c hv/net/batch_napi.c \
	hv/net/batch_fixed_time.c hv/net/batch_fixed_count.c hv/net/batch_qemu_timer.c \
	hv/net/batch_adaptive.c hv/net/vswitch.c
