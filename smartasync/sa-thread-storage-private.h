/* sa-thread-storage-private.h: the library's per-thread state, in one struct (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SaThreadContexts SaThreadContexts;
typedef struct _SaConfirmBatch   SaConfirmBatch;

/* Everything the library keeps per thread, read and written by that
 * thread only (sa_reset_contexts() reaches @contexts through the
 * registry of sa-context.c, under its lock). A thread-local struct, not a
 * GPrivate: every call's detection reads @in_blocking_body. What a field
 * owns is let go when the thread exits (_sa_thread_storage_hold_exit()). */
typedef struct
{
  gboolean          in_blocking_body;  /* sa-operation-private.h: inside the body
                                        * of a blocking operation the library runs */
  gboolean          exit_held;         /* thread_exit() runs at the thread's exit */
  SaThreadContexts *contexts;          /* (owned) (nullable) sa-context.c: the
                                        * private contexts, one per depth */
  SaConfirmBatch   *confirm_batch;     /* (owned) (nullable) sa-hand-back.c: the
                                        * batch this thread fills */
  gpointer          pool_worker;       /* (unowned) (nullable) sa-pool.c: the pool
                                        * thread this thread is */
} SaThreadStorage;

G_GNUC_INTERNAL extern _Thread_local SaThreadStorage _sa_thread_storage;

static inline SaThreadStorage *
_sa_thread_storage_get (void)
{
  return &_sa_thread_storage;
}

/* Makes sure what @contexts and @confirm_batch own is let go at the
 * thread's exit; call after setting either. */
void _sa_thread_storage_hold_exit (void);

G_END_DECLS
