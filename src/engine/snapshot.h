/* snapshot.h - snapshots of the engine's value types, for checkpoints.
 *
 * Field by field (core/snap.h), so a checkpoint written by one build is
 * read by the same build exactly, and refused cleanly when damaged.  Each
 * reader validates enums and ranges; a bad value marks the reader bad.
 */
#ifndef DTO_ENGINE_SNAPSHOT_H
#define DTO_ENGINE_SNAPSHOT_H

#include "core/snap.h"
#include "engine/order.h"
#include "engine/portfolio.h"
#include "market/calendar.h"

void snap_order(dbuf *b, const order *o);
void snap_get_order(snap_reader *r, order *o);
void snap_position(dbuf *b, const position *p);
void snap_get_position(snap_reader *r, position *p);
void snap_trade_rec(dbuf *b, const trade_rec *t);
void snap_get_trade_rec(snap_reader *r, trade_rec *t);
void snap_session(dbuf *b, const session *s);
void snap_get_session(snap_reader *r, session *s);
void snap_bar(dbuf *b, const bar *x);
void snap_get_bar(snap_reader *r, bar *x);

#endif
