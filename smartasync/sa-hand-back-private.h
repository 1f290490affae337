/* sa-hand-back-private.h: hands an offloaded call whose body returned back to its caller's context (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sa-call-task-private.h"
#include "sa-thread-storage-private.h"

G_BEGIN_DECLS

/* On the body's thread, after the body (and after the offload looked, or
 * chose not to look, for the task's completion): its last act on @call.
 * The call then completes on its caller's context, in an idle at the
 * task's priority, or, when the body's thread did not look for the
 * completion (@call->unconfirmed), from a batch one priority below that
 * confirms it first. */
void _sa_hand_back            (SaCall         *call);
/* On the caller's context: confirms @call, whose body's thread did not
 * look for its task's completion, from a batch one priority below. */
void _sa_hand_back_confirm    (SaCall         *call);
/* At the thread's exit (sa-thread-storage.c): drops the batch it filled. */
void _sa_confirm_batch_unref  (SaConfirmBatch *batch);

G_END_DECLS
