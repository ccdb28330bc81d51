/* Unit tests of the pvnet ring ABI and its checks (include/joulevisor/pvnet.h,
 * hv/net/ring.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "net/net.h"

TEST(net_ring_abi_layout)
{
	CHECK_EQ(offsetof(struct pvnet_header, tx), 64);
	CHECK_EQ(offsetof(struct pvnet_header, rx), 192);
	/* Producer and consumer fields in separate cache lines. */
	CHECK_EQ(offsetof(struct pvnet_ring_indices, prod), 0);
	CHECK_EQ(offsetof(struct pvnet_ring_indices, cons), 64);
	CHECK_EQ(offsetof(struct pvnet_desc, len), 8);
	CHECK_EQ(offsetof(struct pvnet_desc, id), 14);
	CHECK_EQ(PVNET_TX_OFFSET + PVNET_RING_SIZE * sizeof(struct pvnet_desc), PVNET_RX_OFFSET);
}

TEST(net_ring_empty_and_full)
{
	CHECK_EQ(ring_used(0, 0), 0);
	CHECK_EQ(ring_space(0, 0), PVNET_RING_SIZE);
	CHECK_EQ(ring_check_indices(0, 0), NET_OK);
	CHECK_EQ(ring_used(PVNET_RING_SIZE, 0), PVNET_RING_SIZE);
	CHECK_EQ(ring_space(PVNET_RING_SIZE, 0), 0);
	CHECK_EQ(ring_check_indices(PVNET_RING_SIZE, 0), NET_OK);
	/* Full and empty also across the 2^32 wrap. */
	CHECK_EQ(ring_used(0x7f, 0xffffff7fu), PVNET_RING_SIZE);
	CHECK_EQ(ring_check_indices(0x7f, 0xffffff7fu), NET_OK);
	CHECK_EQ(ring_used(0xffffffffu, 0xffffffffu), 0);
}

TEST(net_ring_corrupt_index_pairs_are_refused)
{
	CHECK_EQ(ring_check_indices(PVNET_RING_SIZE + 1, 0), NET_ERR_RING_CORRUPT);
	CHECK_EQ(ring_check_indices(5, 6), NET_ERR_RING_CORRUPT); /* cons ahead of prod */
	CHECK_EQ(ring_check_indices(0, 0x80000000u), NET_ERR_RING_CORRUPT);
	CHECK_EQ(ring_check_indices(0x80, 0xffffff7fu),
	         NET_ERR_RING_CORRUPT); /* 257 across the wrap */
	CHECK_EQ(ring_check_indices(0xffffffffu, 0), NET_ERR_RING_CORRUPT);
	CHECK_STR(net_error_name(NET_ERR_RING_CORRUPT), "ring_corrupt");
	CHECK_STR(net_error_name(NET_ERR_COUNT), "unknown");
}

/* A whole ring in host memory: producer and consumer run past 2^32 and every
 * entry comes out in order from the right slot. */
TEST(net_ring_wraps_past_2_32)
{
	static struct pvnet_desc desc[PVNET_RING_SIZE];
	struct pvnet_ring_indices ring;
	memset(&ring, 0, sizeof ring);
	uint32_t start = 0xffffffffu - 300;
	ring.prod = ring.cons = start;
	uint32_t produced = 0, consumed = 0;
	while (consumed < 1000) {
		/* Produce up to 7 at a time, consume up to 5: the ring fills up. */
		for (int i = 0; i < 7 && ring_space(ring.prod, ring.cons) > 0; i++) {
			desc[ring_slot(ring.prod)].id = (uint16_t)produced;
			desc[ring_slot(ring.prod)].len = 60 + produced % 1000;
			ring.prod++;
			produced++;
		}
		CHECK_EQ(ring_check_indices(ring.prod, ring.cons), NET_OK);
		CHECK(ring_used(ring.prod, ring.cons) <= PVNET_RING_SIZE);
		for (int i = 0; i < 5 && ring_used(ring.prod, ring.cons) > 0; i++) {
			const struct pvnet_desc *d = &desc[ring_slot(ring.cons)];
			CHECK_EQ(d->id, (uint16_t)consumed);
			CHECK_EQ(d->len, 60 + consumed % 1000);
			ring.cons++;
			consumed++;
		}
	}
	CHECK(ring.cons < start); /* it did wrap */
	CHECK_EQ(ring.cons, start + 1000);
}

TEST(net_ring_need_event)
{
	/* Notify iff event is in [old, new). */
	CHECK(pvnet_need_event(10, 11, 10));
	CHECK(pvnet_need_event(12, 15, 10));
	CHECK(!pvnet_need_event(15, 15, 10)); /* event == new: not passed yet */
	CHECK(!pvnet_need_event(9, 15, 10));  /* already told before old */
	CHECK(!pvnet_need_event(10, 10, 10)); /* nothing published */
	/* Across the wrap. */
	CHECK(pvnet_need_event(0xffffffffu, 1, 0xfffffffeu));
	CHECK(pvnet_need_event(0, 1, 0xfffffff0u));
	CHECK(!pvnet_need_event(1, 1, 0xfffffff0u));
	CHECK(!pvnet_need_event(0xffffffefu, 1, 0xfffffff0u));
}

/* The consumer asks for the next entry, then polls: one notification for the
 * first entry, none while it polls, one again after it re-arms. */
TEST(net_ring_event_index_suppresses_while_polling)
{
	struct pvnet_ring_indices ring;
	memset(&ring, 0, sizeof ring);
	ring.prod = ring.cons = 10;
	CHECK(!ring_consumer_rearm(&ring, 10)); /* empty: sleep */
	CHECK_EQ(ring.prod_event, 10);

	uint32_t old = ring.prod++;
	CHECK(pvnet_need_event(ring.prod_event, ring.prod, old)); /* first entry wakes it */
	old = ring.prod++;
	CHECK(!pvnet_need_event(ring.prod_event, ring.prod, old)); /* it is polling */
	old = ring.prod;
	ring.prod += 3;
	CHECK(!pvnet_need_event(ring.prod_event, ring.prod, old));

	ring.cons = 13;                        /* polled three ... */
	CHECK(ring_consumer_rearm(&ring, 13)); /* ... but two more came: keep polling */
	ring.cons = 15;
	CHECK(!ring_consumer_rearm(&ring, 15));
	old = ring.prod;
	ring.prod += 4; /* a batch of four: one notification */
	CHECK(pvnet_need_event(ring.prod_event, ring.prod, old));
}

TEST(net_ring_descriptor_checks)
{
	const uint64_t mem = 32ull << 20;
	struct pvnet_desc d = {.addr = 0x100000, .len = 60};
	CHECK_EQ(ring_check_desc(&d, mem), NET_OK);
	d.len = 0;
	CHECK_EQ(ring_check_desc(&d, mem), NET_ERR_DESC_LEN);
	d.len = PVNET_FRAME_MAX + 1;
	CHECK_EQ(ring_check_desc(&d, mem), NET_ERR_DESC_LEN);
	d.len = PVNET_FRAME_MAX;
	d.addr = mem - PVNET_FRAME_MAX; /* ends exactly at the end of memory */
	CHECK_EQ(ring_check_desc(&d, mem), NET_OK);
	d.addr++;
	CHECK_EQ(ring_check_desc(&d, mem), NET_ERR_DESC_ADDR);
	d.addr = ~0ull - 10; /* addr + len would wrap to a small number */
	CHECK_EQ(ring_check_desc(&d, mem), NET_ERR_DESC_ADDR);
	d.addr = 0;
	CHECK_EQ(ring_check_desc(&d, 100), NET_ERR_DESC_ADDR); /* longer than memory */
	CHECK_STR(net_error_name(NET_ERR_DESC_ADDR), "desc_addr");
}

TEST(net_notify_now_combines_policy_and_event_index)
{
	struct batch_params p;
	struct batch_state none, napi;
	batch_params_default(&p);
	batch_init(&none, &p);
	p.policy = &batch_napi;
	batch_init(&napi, &p);
	/* No flush: nobody is told. */
	CHECK(!net_notify_now(&none, false, 5, 6, 5));
	CHECK(!net_notify_now(&napi, false, 5, 6, 5));
	/* The consumer is polling (its event index is behind). */
	CHECK(net_notify_now(&none, true, 2, 6, 5)); /* the baseline ignores it */
	CHECK(!net_notify_now(&napi, true, 2, 6, 5));
	/* The consumer asked for entry 5. */
	CHECK(net_notify_now(&napi, true, 5, 6, 5));
}
