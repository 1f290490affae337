/* sa-collector-private.h: answers the callers of bodies that left their tasks incomplete (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sa-operation.h"

G_BEGIN_DECLS

/* A blocking body run on a pool thread is handed its caller's task. When
 * the body completes it, GTask queues the completion on the task's
 * context; a body that returns without completing it queues nothing, and
 * the caller must still be answered.
 *
 * After the body, the pool thread hands @task and @operation (one
 * reference to each, taken over) to the collector of the task's context:
 * one source per context that, on the context's own thread, drops each
 * task that has called back, and completes with SA_ERROR_NO_RESULT each
 * one that did not and has no completion queued. Safe from any thread.
 * Returns whether the context was idle, with nothing left to collect: its
 * thread was waiting, for this task or for nothing. */
gboolean _sa_collector_add (GTask       *task,
                            SaOperation *operation);

/* Before a job is pushed whose task completes on @context and will reach
 * the collector: the context polls a while for it before it blocks. */
void     _sa_collector_expect (GMainContext *context);

G_END_DECLS
