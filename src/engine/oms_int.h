/* oms_int.h - the OMS's table, shared by oms.c and the engine.
 *
 * Only src/engine/oms.c and src/engine/engine*.c include this header: it
 * lets the engine look orders up inline on its per-order path (several
 * lookups per order).  Everything else goes through oms.h.
 */
#ifndef DTO_ENGINE_OMS_INT_H
#define DTO_ENGINE_OMS_INT_H

#include "engine/oms.h"

#define OMS__SLOT_NONE UINT32_MAX

/* Orders live in slots that are reused: an order is kept while it is open
 * and, once terminal, among the last `keep` terminal orders; then its slot is
 * recycled.  A long backtest or a week of paper trading thus works in a
 * bounded, already-touched block of memory instead of a table that grows
 * with every order (on virtual machines, first touches of fresh pages cost
 * microseconds each).  The full history flows out through the observer. */
struct oms {
  order *slots;
  size_t nslots, slotcap;
  uint32_t *free_slots;
  size_t nfree, freecap;
  uint32_t *slot_of; /* order id -> slot, OMS__SLOT_NONE once forgotten */
  size_t nids, idcap;
  order_id *open; /* ids of non-terminal orders, ascending */
  size_t nopen, opencap;
  order_id *ring; /* terminal orders still kept, oldest first (circular) */
  size_t ring_head, ring_n, keep;
  oms_observer obs;
  void *ctx;
  uint64_t illegal;
  uint64_t entered[OS_COUNT]; /* transitions into each state (metrics) */
};

/* oms_get and oms_cget, inline. */
static inline order *oms__get(oms *m, order_id id) {
  if (id >= m->nids || m->slot_of[id] == OMS__SLOT_NONE)
    return NULL;
  return &m->slots[m->slot_of[id]];
}
static inline const order *oms__cget(const oms *m, order_id id) {
  if (id >= m->nids || m->slot_of[id] == OMS__SLOT_NONE)
    return NULL;
  return &m->slots[m->slot_of[id]];
}

#endif
