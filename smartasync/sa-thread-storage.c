/* sa-thread-storage.c: the library's per-thread state, let go at the thread's exit
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-context-private.h"
#include "sa-hand-back-private.h"
#include "sa-thread-storage-private.h"

_Thread_local SaThreadStorage _sa_thread_storage;

/* A _Thread_local has no destructor: a GPrivate set once per thread runs
 * this one at its exit. The thread-local struct is still there while
 * pthread destructors run. Re-armed if a later destructor of another key
 * sets a field again. */
static void
thread_exit (gpointer data)
{
  SaThreadStorage *storage = _sa_thread_storage_get ();

  storage->exit_held = FALSE;
  g_clear_pointer (&storage->contexts, _sa_thread_contexts_free);
  g_clear_pointer (&storage->confirm_batch, _sa_confirm_batch_unref);
}

static GPrivate exit_key = G_PRIVATE_INIT (thread_exit);

void
_sa_thread_storage_hold_exit (void)
{
  SaThreadStorage *storage = _sa_thread_storage_get ();

  if G_LIKELY (storage->exit_held)
    return;

  storage->exit_held = TRUE;
  g_private_set (&exit_key, storage);
}
