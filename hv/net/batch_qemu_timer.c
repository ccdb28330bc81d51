/* Runs in VM-exit context (and on the host in unit tests): the behaviour of
 * QEMU's virtio-net "tx=timer" mode, for comparison. The first packet arms a
 * 150 us timer and the batch goes out when it fires, or at once when 256
 * packets are waiting (QEMU's tx burst). These are QEMU's constants, not
 * knobs: the policy reproduces QEMU, it has nothing to tune. On a 256-entry ring the half-full rule
 * of the mechanism comes before the burst limit. */
#include "net/net.h"

#define QEMU_TX_TIMER_NS 150000u
#define QEMU_TX_BURST    256u

static bool qemu_timer_on_packet(struct batch_state *s, enum net_dir dir, uint64_t now_ns)
{
	(void)now_ns;
	return s->dir[dir].pending >= QEMU_TX_BURST;
}

static uint64_t qemu_timer_deadline(const struct batch_state *s, enum net_dir dir)
{
	return s->dir[dir].oldest_ns + QEMU_TX_TIMER_NS;
}

const struct batch_policy batch_qemu_timer = {
    .name = "qemu-timer",
    .summary = "QEMU virtio-net tx=timer: 150 us after the first packet, or 256 packets",
    .uses_event_index = true,
    .on_packet = qemu_timer_on_packet,
    .deadline = qemu_timer_deadline,
};
