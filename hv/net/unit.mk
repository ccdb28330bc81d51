# The pure network core, built into hv and into the host unit tests. Every
# batching policy file (hv/net/batch*.c) is taken: a new policy needs no
# line here.
UNIT_UNDER_TEST += hv/net/ether.c hv/net/ring.c hv/net/vswitch.c $(sort $(wildcard hv/net/batch*.c))
