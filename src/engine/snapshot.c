/* snapshot.c - field-by-field snapshots of orders, positions, sessions. */
#include "engine/snapshot.h"

void snap_order(dbuf *b, const order *o) {
  snap_u32(b, o->id);
  snap_str(b, o->cloid);
  snap_u32(b, o->strategy);
  snap_u32(b, o->account);
  snap_u32(b, o->sym);
  snap_u8(b, (uint8_t)o->side);
  snap_u8(b, (uint8_t)o->type);
  snap_u8(b, (uint8_t)o->tif);
  snap_u8(b, (uint8_t)o->state);
  snap_u8(b, (uint8_t)o->role);
  snap_bool(b, o->extended_hours);
  snap_bool(b, o->triggered);
  snap_bool(b, o->reducing);
  snap_i64(b, o->qty);
  snap_i64(b, o->filled);
  snap_i64(b, o->notional);
  snap_i64(b, o->limit_price);
  snap_i64(b, o->stop_price);
  snap_i64(b, o->trail);
  snap_i64(b, o->water);
  snap_i64(b, o->fees);
  snap_i64(b, o->tp_price);
  snap_i64(b, o->sl_price);
  snap_u32(b, o->parent);
  snap_u32(b, o->peer);
  snap_u32(b, o->bracket);
  snap_u32(b, o->replaces);
  snap_u32(b, o->replaced_by);
  snap_i64(b, o->created);
  snap_i64(b, o->updated);
  snap_u32(b, (uint32_t)o->reason);
  snap_u32(b, (uint32_t)o->risk);
}

void snap_get_order(snap_reader *r, order *o) {
  memset(o, 0, sizeof *o); /* padding too: orders compare with memcmp */
  o->id = snap_get_u32(r);
  snap_get_str(r, o->cloid, sizeof o->cloid);
  o->strategy = snap_get_u32(r);
  o->account = snap_get_u32(r);
  o->sym = snap_get_u32(r);
  uint8_t side = snap_get_u8(r), type = snap_get_u8(r), tif = snap_get_u8(r),
          st = snap_get_u8(r), role = snap_get_u8(r);
  snap_check(r, side < SIDE_COUNT && type < ORD_TYPE_COUNT &&
                    tif < TIF_COUNT && st < OS_COUNT && role <= BR_STOP_LOSS);
  o->side = (enum order_side)side;
  o->type = (enum order_type)type;
  o->tif = (enum tif)tif;
  o->state = (enum order_state)st;
  o->role = (enum bracket_role)role;
  o->extended_hours = snap_get_bool(r);
  o->triggered = snap_get_bool(r);
  o->reducing = snap_get_bool(r);
  o->qty = snap_get_i64(r);
  o->filled = snap_get_i64(r);
  o->notional = snap_get_i64(r);
  o->limit_price = snap_get_i64(r);
  o->stop_price = snap_get_i64(r);
  o->trail = snap_get_i64(r);
  o->water = snap_get_i64(r);
  o->fees = snap_get_i64(r);
  o->tp_price = snap_get_i64(r);
  o->sl_price = snap_get_i64(r);
  o->parent = snap_get_u32(r);
  o->peer = snap_get_u32(r);
  o->bracket = snap_get_u32(r);
  o->replaces = snap_get_u32(r);
  o->replaced_by = snap_get_u32(r);
  o->created = snap_get_i64(r);
  o->updated = snap_get_i64(r);
  o->reason = (int)snap_get_u32(r);
  o->risk = (int)snap_get_u32(r);
  /* qty 0: an unfilled bracket exit whose peer filled it all, waiting for
   * the broker's OCO cancel */
  snap_check(r, o->qty >= 0 && o->filled >= 0 && o->filled <= o->qty);
}

void snap_position(dbuf *b, const position *p) {
  snap_i64(b, p->qty);
  snap_i64(b, p->cost);
  snap_i64(b, p->realized);
  snap_i64(b, p->fees);
  snap_i64(b, p->open_day);
}

void snap_get_position(snap_reader *r, position *p) {
  memset(p, 0, sizeof *p);
  p->qty = snap_get_i64(r);
  p->cost = snap_get_i64(r);
  p->realized = snap_get_i64(r);
  p->fees = snap_get_i64(r);
  p->open_day = snap_get_i64(r);
}

void snap_trade_rec(dbuf *b, const trade_rec *t) {
  snap_u32(b, t->strategy);
  snap_u32(b, t->sym);
  snap_i64(b, t->dir);
  snap_i64(b, t->entry_time);
  snap_i64(b, t->exit_time);
  snap_i64(b, t->qty);
  snap_i64(b, t->entry_qty);
  snap_i64(b, t->entry_value);
  snap_i64(b, t->exit_qty);
  snap_i64(b, t->exit_value);
  snap_i64(b, t->pnl);
  snap_i64(b, t->fees);
}

void snap_get_trade_rec(snap_reader *r, trade_rec *t) {
  memset(t, 0, sizeof *t);
  t->strategy = snap_get_u32(r);
  t->sym = snap_get_u32(r);
  int64_t dir = snap_get_i64(r);
  snap_check(r, dir >= -1 && dir <= 1);
  t->dir = (int)dir;
  t->entry_time = snap_get_i64(r);
  t->exit_time = snap_get_i64(r);
  t->qty = snap_get_i64(r);
  t->entry_qty = snap_get_i64(r);
  t->entry_value = snap_get_i64(r);
  t->exit_qty = snap_get_i64(r);
  t->exit_value = snap_get_i64(r);
  t->pnl = snap_get_i64(r);
  t->fees = snap_get_i64(r);
}

void snap_session(dbuf *b, const session *s) {
  snap_i64(b, s->day);
  snap_i64(b, s->pre_open);
  snap_i64(b, s->open);
  snap_i64(b, s->close);
  snap_i64(b, s->post_close);
  snap_bool(b, s->early_close);
}

void snap_get_session(snap_reader *r, session *s) {
  memset(s, 0, sizeof *s);
  s->day = snap_get_i64(r);
  s->pre_open = snap_get_i64(r);
  s->open = snap_get_i64(r);
  s->close = snap_get_i64(r);
  s->post_close = snap_get_i64(r);
  s->early_close = snap_get_bool(r);
}

void snap_bar(dbuf *b, const bar *x) {
  snap_i64(b, x->ts);
  snap_i64(b, x->dur);
  snap_i64(b, x->open);
  snap_i64(b, x->high);
  snap_i64(b, x->low);
  snap_i64(b, x->close);
  snap_i64(b, x->volume);
  snap_u32(b, x->sym);
}

void snap_get_bar(snap_reader *r, bar *x) {
  memset(x, 0, sizeof *x);
  x->ts = snap_get_i64(r);
  x->dur = snap_get_i64(r);
  x->open = snap_get_i64(r);
  x->high = snap_get_i64(r);
  x->low = snap_get_i64(r);
  x->close = snap_get_i64(r);
  x->volume = snap_get_i64(r);
  x->sym = snap_get_u32(r);
}
