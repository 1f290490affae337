/* sa-pool-private.h: the thread pool that runs blocking operations (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* SaPool runs GTask thread functions on threads of its own.
 *
 * - At most max_threads functions run at once, not counting threads that
 *   wait inside _sa_pool_begin_wait()/_sa_pool_end_wait(): while one of
 *   its threads waits, the pool may run one more, so nested work never
 *   waits for a thread that its own kind holds.
 * - max_threads 0 is the elastic policy of the default dispatcher:
 *   MAX (10, 2 * number of processors) functions at once, plus one more
 *   thread for each thread that waits. 10 is the size of the pool of
 *   g_task_run_in_thread(), so work moved from it keeps its concurrency.
 * - Work starts by priority (the lowest value first, as GLib's
 *   priorities go), in the order it was pushed within a priority. An idle thread is woken only
 *   when no other thread is already on its way to the queue, and the most
 *   recently idle thread first (LIFO), so sequential round trips are served
 *   by one hot thread; a thread that finds more work queued wakes the next.
 * - A thread idle for the idle time (15 s) exits; the pool starts threads
 *   again as work comes.
 * - Every function is safe from any thread. _sa_pool_free() never waits:
 *   the pool's threads run what is queued, then exit and drop the pool,
 *   so it may be called from one of the pool's own threads.
 */
typedef struct _SaPool SaPool;

/* The function a pool runs on each job's data. */
typedef void (*SaPoolFunc) (gpointer data);

/* A pool of GTask jobs (_sa_pool_push()). */
SaPool  *_sa_pool_new             (guint            max_threads);
/* The start of a job's data in a pool of _sa_pool_new_full(): the pool's
 * own while the job is queued, so that a queued job weighs nothing more. */
typedef struct _SaPoolLink SaPoolLink;
struct _SaPoolLink
{
  SaPoolLink *next;
};

/* A pool that runs @func on the data of each job (_sa_pool_push_data()). */
SaPool  *_sa_pool_new_full        (guint            max_threads,
                                   SaPoolFunc       func);
void     _sa_pool_set_max_threads (SaPool          *pool,
                                   guint            max_threads);
guint    _sa_pool_get_max_threads (SaPool          *pool);

/* Runs the pool's function on @data (as pushed) on a pool thread, after
 * the jobs queued before it at @priority or a more urgent one. @data
 * starts with an SaPoolLink, which the pool uses until the job runs. */
void     _sa_pool_push_data       (SaPool          *pool,
                                   gpointer         data,
                                   int              priority);
/* In a pool of _sa_pool_new(): runs @func (@task, its source object, its
 * task data, its cancellable) on a pool thread, at @task's priority, then
 * drops @task; @func completes @task with g_task_return_*(), whose
 * callback then runs on the task's context. */
void     _sa_pool_push            (SaPool          *pool,
                                   GTask           *task,
                                   GTaskThreadFunc  func);
void     _sa_pool_free            (SaPool          *pool);

/* Around a wait of a function running on a pool thread: returns TRUE on a
 * pool thread, where the pool may run one more thread until the matching
 * _sa_pool_end_wait (TRUE); FALSE elsewhere, where both do nothing. */
gboolean _sa_pool_begin_wait      (void);
void     _sa_pool_end_wait        (gboolean         was_pool_thread);

/* In a job's function on a pool thread: the job's caller was idle, waiting
 * for it, so its next push is likely soon. If the pool busy-waits and the
 * queue is then empty, the thread spins a while for that push before it
 * sleeps. Does nothing elsewhere. */
void     _sa_pool_job_caller_idle (void);

/* Whether the pool's threads may spin for a push (off when made). */
void     _sa_pool_set_busy_wait   (SaPool          *pool,
                                   gboolean         busy_wait);

/* For tests: the idle time after which a thread exits, the threads of
 * @pool, and the pool threads of the whole process (dropping when they
 * have exited, after _sa_pool_free()). */
void     _sa_pool_set_idle_time   (SaPool          *pool,
                                   guint            idle_ms);
guint    _sa_pool_get_n_threads   (SaPool          *pool);
guint    _sa_pool_count_all_threads (void);

/* For tests: the spins of @pool's threads so far. */
guint    _sa_pool_get_n_spins     (SaPool          *pool);

G_END_DECLS
