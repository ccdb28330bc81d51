/* migration: hv's side of live migration (one VM at a time), driven from
 * the scheduler loop by migrate/'s engine: a running VM to a new VM on
 * this host ("local") or to the host at the other end of the e1000
 * ("peer"), whose listener takes it in. The VM's state travels as a
 * snapshot (snapshot/snapshot.h); the parts are listed in job.h. */
#ifndef HV_MIGRATION_H
#define HV_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* Starts migrating vm to dest ("local": a new VM on this host, over an
 * in-memory lossy-free link; "peer"); tracker NULL = the best; knobs:
 * "policy=NAME knob=value ..." with the engine's knobs
 * (migrate_params_parse), NULL or "" = policy default with its defaults;
 * cut_after_frames: the link dies after so many frames (fault injection,
 * 0: never); payload_size 0: the default. False, with a line, if refused. */
bool migration_start(struct vm *vm, const char *dest, const char *tracker, const char *knobs,
                     uint64_t cut_after_frames, unsigned payload_size);
/* Moves frames and steps the engines; call from the scheduler loop. */
void migration_poll(void);
/* A frame of ETH_TYPE_MIGRATE from the e1000 (its payload): feeds a
 * running migration, or starts an incoming one on a HELLO. */
void migration_receive_frame(const uint8_t *bytes, size_t len);
bool migration_active(void);
/* linkfault=SPEC (dev.h): faults on the migration frames this host sends. */
bool migration_set_linkfault(const char *spec, char *err, size_t err_size);
/* send_back=MS[:N]: each VM that arrives is migrated back to the peer
 * (pml, default policy) MS ms after it resumed, N times at most (0 or
 * none: no limit). For the soak tests' back-and-forth. */
bool migration_set_send_back(const char *spec, char *err, size_t err_size);

#endif
