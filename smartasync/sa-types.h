/* sa-types.h: enumerations and forward declarations
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SA_INSIDE) && !defined(SA_COMPILATION)
# error "Only <smartasync.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * SaOperationKind:
 * @SA_OPERATION_KIND_NON_BLOCKING: the operation starts work and completes
 *   later, on the thread-default main context that was current when it
 *   started (any GIO `_async`/`_finish` pair is of this kind)
 * @SA_OPERATION_KIND_BLOCKING: the operation runs to completion in the
 *   thread that runs it (a sqlite3 query, a `_sync` GIO call)
 *
 * How an [class@Sa.Operation] does its work. The kind decides, together
 * with the caller, which of the four cells a call takes.
 *
 * Since: 1.0
 */
typedef enum
{
  SA_OPERATION_KIND_NON_BLOCKING,
  SA_OPERATION_KIND_BLOCKING,
} SaOperationKind;

/**
 * SaCallMode:
 * @SA_CALL_MODE_AUTO: decide at each call: a thread that owns its
 *   thread-default main context is an async caller, any other thread is a
 *   sync caller. On a call, `AUTO` means "the dispatcher's own mode".
 * @SA_CALL_MODE_SYNC: always behave as for a sync caller: the call returns
 *   with the operation complete, even from inside a running main loop,
 *   whose context is not iterated meanwhile.
 * @SA_CALL_MODE_ASYNC: always behave as for an async caller: the call
 *   returns a pending task whose callback runs on the caller's
 *   thread-default main context, which the caller must iterate.
 *
 * Whether a call detects its caller or is told what to do.
 *
 * Since: 1.0
 */
typedef enum
{
  SA_CALL_MODE_AUTO,
  SA_CALL_MODE_SYNC,
  SA_CALL_MODE_ASYNC,
} SaCallMode;

/**
 * SaCell:
 * @SA_CELL_SYNC_NON_BLOCKING: sync caller, non-blocking operation: run to
 *   completion on the calling thread's private main context
 * @SA_CELL_SYNC_BLOCKING: sync caller, blocking operation: a direct call on
 *   the calling thread
 * @SA_CELL_ASYNC_NON_BLOCKING: async caller, non-blocking operation: started
 *   on the caller's context, a pending task is returned
 * @SA_CELL_ASYNC_BLOCKING: async caller, blocking operation: run on a worker
 *   thread, a pending task is returned
 *
 * The four ways a call can be carried out.
 *
 * Since: 1.0
 */
typedef enum
{
  SA_CELL_SYNC_NON_BLOCKING,
  SA_CELL_SYNC_BLOCKING,
  SA_CELL_ASYNC_NON_BLOCKING,
  SA_CELL_ASYNC_BLOCKING,
} SaCell;

/**
 * SA_N_CELLS:
 *
 * The number of values of [enum@Sa.Cell].
 *
 * Since: 1.0
 */
#define SA_N_CELLS 4

typedef struct _SaBridge     SaBridge;
typedef struct _SaDispatcher SaDispatcher;
typedef struct _SaOperation  SaOperation;

G_END_DECLS
