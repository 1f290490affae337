/* sa-pool.c: the thread pool that runs blocking operations
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include "config.h"

#include <string.h>

#include "sa-pool-private.h"
#include "sa-spin-private.h"
#ifdef SA_COMPILATION
# include "sa-thread-storage-private.h"
#endif

#ifdef HAVE_SCHED_GETCPU
# include <sched.h>
#endif

/* Words used below:
 * - a *job* is a function and its data, queued by priority, in order
 *   within a priority: one queue per priority in use, the most urgent
 *   first;
 * - a thread is *active* while it runs a job and does not wait inside
 *   _sa_pool_begin_wait(); at most `limit` threads are active;
 * - a thread is *searching* from the moment it is started or woken until
 *   it takes a job or goes idle; while one searches, a push wakes no other
 *   thread, and a thread that takes a job and sees more queued wakes the
 *   next, so one push costs at most one wake;
 * - a searching thread that finds no job *spins* first if the pool
 *   busy-waits (off by default), its last job's caller was idle, waiting
 *   for it, the last push came from another processor and no other thread
 *   spins: it watches the queue for
 *   SA_SPIN_US, without the lock, so that the next job of a round trip
 *   needs no wake-up (fewer spins after spins in vain, see SaSpinBackoff);
 * - an *idle* thread sleeps on its own condition on a stack: the first
 *   woken is the last to go idle on the processor of the last push, else
 *   the last to go idle, and an idle thread that is not woken for the
 *   idle time exits;
 * - a thread is woken *after* the lock is released: woken under it, it
 *   would wake only to wait for the lock;
 * - the Worker of a thread that exited goes to the *exited* list: kept for the next
 *   thread, and freed with the pool, so that a late signal never reaches
 *   freed memory.
 * Every count, the queues and the exited list are guarded by the pool's
 * lock; n_queued is also read without it, by a spinning thread.
 */

#define CHUNK_JOBS      126
#define DEFAULT_IDLE_MS 15000

/* A job is its data: the pool runs one function for all of them. */
typedef struct
{
  gpointer data;
} Job;

typedef struct _Chunk Chunk;
struct _Chunk
{
  Chunk *next;
  guint  head;                  /* next job to take */
  guint  tail;                  /* next free slot */
  Job    jobs[CHUNK_JOBS];
};

typedef struct _Worker Worker;
typedef struct
{
  int    priority;
  Chunk *head;                  /* jobs are taken from here */
  Chunk *tail;                  /* and pushed here */
  SaPoolLink *first;            /* a linked pool's: taken from here */
  SaPoolLink *last;             /* and pushed here */
} Queue;

struct _Worker
{
  SaPool *pool;
  GCond   cond;                 /* signalled when woken */
  Worker *next_idle;            /* the idle stack's link */
  gboolean woken;               /* taken off the idle stack by a waker */
  gboolean expect_push;         /* its job's caller was idle: spin for the next */
  guint    wait_depth;          /* nested _sa_pool_begin_wait() calls */
  gint     idle_cpu;            /* the processor it went idle on */
};

struct _SaPool
{
  gint     ref_count;           /* atomic: the owner's until freed, one per thread */
  GMutex   lock;

  Queue   *queues;              /* by priority, the most urgent first; only
                                 * a lone queue is ever empty */
  guint    n_queues;
  guint    queues_size;
  Chunk   *spare;               /* one emptied chunk kept for reuse */
  guint    n_queued;            /* written under the lock, read atomically */
  gint     push_cpu;            /* the processor of the last push */

  SaPoolFunc func;              /* every job's */
  gboolean linked;              /* jobs are linked through their data, not
                                 * held in chunks (_sa_pool_push_data()) */
  Worker  *idle;                /* the idle stack, last idle on top */
  Worker  *exited;              /* linked by next_idle */
  guint    max_threads;         /* 0: the elastic policy */
  guint    limit;               /* active threads allowed at once */
  guint    idle_ms;
  guint    n_threads;
  guint    n_idle;
  guint    n_active;
  guint    n_searching;
  guint    n_waiting;
  gboolean busy_wait;           /* threads may spin for the next push */
  gboolean spinning;            /* a thread spins: no other does */
  SaSpinBackoff spin_backoff;
  guint    n_spins;
  gboolean freed;
};

/* The pool thread this thread is, in the library's per-thread state. The
 * pool's test and the bench build this file alone, without it: their
 * copy keeps a thread-local of its own. */
#ifdef SA_COMPILATION
# define current_worker (_sa_thread_storage_get ()->pool_worker)
#else
static _Thread_local gpointer current_worker;
#endif
static gint     all_threads;

static guint
limit_for (guint max_threads)
{
  if (max_threads > 0)
    return max_threads;

  return MAX (10, 2 * (guint) g_get_num_processors ());
}

static void
pool_unref (SaPool *pool)
{
  if (!g_atomic_int_dec_and_test (&pool->ref_count))
    return;

  /* Threads empty the queue before they drop their references. */
  g_assert (pool->n_queued == 0);
  while (pool->exited != NULL)
    {
      Worker *worker = pool->exited;

      pool->exited = worker->next_idle;
      g_cond_clear (&worker->cond);
      g_free (worker);
    }
  for (guint i = 0; i < pool->n_queues; i++)
    g_free (pool->queues[i].head);
  g_free (pool->queues);
  g_free (pool->spare);
  g_mutex_clear (&pool->lock);
  g_free (pool);
}

/* --- the queue (under the lock) ---------------------------------------- */

static Chunk *
chunk_new (SaPool *pool)
{
  Chunk *chunk = g_steal_pointer (&pool->spare);

  if (chunk == NULL)
    chunk = g_new (Chunk, 1);
  chunk->next = NULL;
  chunk->head = chunk->tail = 0;

  return chunk;
}

/* The queue of @priority, made in its place if there is none. */
static Queue *
queue_for (SaPool *pool,
           int     priority)
{
  guint i;

  /* Most pools see one priority, some a few: a scan is the cheapest. */
  for (i = 0; i < pool->n_queues && pool->queues[i].priority < priority; i++)
    ;
  if (i < pool->n_queues && pool->queues[i].priority == priority)
    return &pool->queues[i];

  if (pool->n_queues == pool->queues_size)
    {
      pool->queues_size = MAX (4, 2 * pool->queues_size);
      pool->queues = g_renew (Queue, pool->queues, pool->queues_size);
    }
  memmove (&pool->queues[i + 1], &pool->queues[i], (pool->n_queues - i) * sizeof (Queue));
  pool->n_queues++;
  pool->queues[i].priority = priority;
  pool->queues[i].first = pool->queues[i].last = NULL;
  pool->queues[i].head = pool->queues[i].tail = pool->linked ? NULL : chunk_new (pool);

  return &pool->queues[i];
}

static void
queue_push (SaPool *pool,
            Job     job,
            int     priority)
{
  Queue *queue = queue_for (pool, priority);
  Chunk *tail = queue->tail;

  if (pool->linked)
    {
      SaPoolLink *link = job.data;

      link->next = NULL;
      if (queue->last != NULL)
        queue->last->next = link;
      else
        queue->first = link;
      queue->last = link;
      __atomic_store_n (&pool->n_queued, pool->n_queued + 1, __ATOMIC_RELAXED);
      return;
    }

  if (tail->tail == CHUNK_JOBS)
    {
      Chunk *chunk = chunk_new (pool);

      tail->next = chunk;
      queue->tail = tail = chunk;
    }
  tail->jobs[tail->tail++] = job;
  __atomic_store_n (&pool->n_queued, pool->n_queued + 1, __ATOMIC_RELAXED);
}

static void
chunk_drop (SaPool *pool,
            Chunk  *chunk)
{
  if (pool->spare == NULL)
    pool->spare = chunk;
  else
    g_free (chunk);
}

static inline gboolean
queue_is_empty (SaPool *pool,
                Queue  *queue)
{
  return pool->linked ? queue->first == NULL : queue->head->head == queue->head->tail;
}

/* The first job of the most urgent priority; n_queued > 0. */
static Job
queue_pop (SaPool *pool)
{
  guint i;
  Queue *queue;
  Chunk *head;
  Job job;

  for (i = 0; queue_is_empty (pool, &pool->queues[i]); i++)
    ;
  queue = &pool->queues[i];
  if (pool->linked)
    {
      job.data = queue->first;
      if ((queue->first = queue->first->next) == NULL)
        queue->last = NULL;
      __atomic_store_n (&pool->n_queued, pool->n_queued - 1, __ATOMIC_RELAXED);
      /* An emptied queue goes, unless it is the only one. */
      if (queue->first == NULL && pool->n_queues > 1)
        {
          memmove (queue, queue + 1, (pool->n_queues - i - 1) * sizeof (Queue));
          pool->n_queues--;
        }
      return job;
    }
  head = queue->head;
  job = head->jobs[head->head++];

  __atomic_store_n (&pool->n_queued, pool->n_queued - 1, __ATOMIC_RELAXED);
  if (head->head == head->tail)
    {
      if (head->next != NULL)
        {
          queue->head = head->next;
          chunk_drop (pool, head);
        }
      else if (pool->n_queues > 1)
        {
          /* An emptied queue goes, unless it is the only one. */
          chunk_drop (pool, head);
          memmove (queue, queue + 1, (pool->n_queues - i - 1) * sizeof (Queue));
          pool->n_queues--;
        }
      else
        {
          head->head = head->tail = 0;   /* the one chunk, emptied: reuse it */
        }
    }

  return job;
}

/* --- threads (under the lock) ------------------------------------------ */

static gpointer worker_main (gpointer data);

static void
spawn (SaPool *pool)
{
  g_autoptr(GError) error = NULL;
  Worker *worker = pool->exited;
  GThread *thread;

  if (worker != NULL)
    {
      pool->exited = worker->next_idle;
      worker->next_idle = NULL;
      worker->woken = FALSE;
      worker->wait_depth = 0;
    }
  else
    {
      worker = g_new0 (Worker, 1);
      g_cond_init (&worker->cond);
    }
  worker->pool = pool;
  g_atomic_int_inc (&pool->ref_count);
  g_atomic_int_inc (&all_threads);
  pool->n_threads++;
  pool->n_searching++;

  thread = g_thread_try_new ("sa-pool", worker_main, worker, &error);
  if (thread != NULL)
    {
      g_thread_unref (thread);
      return;
    }

  /* The queued jobs wait for a thread of the pool to end its job. */
  g_warning ("smartasync: cannot start a pool thread: %s", error->message);
  pool->n_threads--;
  pool->n_searching--;
  g_atomic_int_add (&all_threads, -1);
  g_atomic_int_add (&pool->ref_count, -1);   /* never the last: the caller holds one */
  worker->next_idle = pool->exited;
  pool->exited = worker;
}

/* Under the lock: takes the idle thread to wake off the stack (see the
 * words above). */
static Worker *
take_idle (SaPool *pool)
{
  Worker **link = &pool->idle;
  Worker *worker;

#ifdef HAVE_SCHED_GETCPU
  for (Worker **on = link; *on != NULL; on = &(*on)->next_idle)
    if ((*on)->idle_cpu == pool->push_cpu)
      {
        link = on;
        break;
      }
#endif
  worker = *link;
  *link = worker->next_idle;

  return worker;
}

/* Makes sure a thread is on its way to queued work that an active slot is
 * free for: an idle thread, else a new one. Returns the idle thread to
 * signal once the lock is released, if any. */
static Worker *
wake_one (SaPool *pool)
{
  Worker *worker;

  if (pool->n_queued == 0 || pool->n_searching > 0 || pool->n_active >= pool->limit)
    return NULL;

  if (pool->idle == NULL)
    {
      spawn (pool);
      return NULL;
    }

  worker = take_idle (pool);
  pool->n_idle--;
  pool->n_searching++;
  worker->woken = TRUE;

  return worker;
}

/* Releases the lock, then signals what wake_one() returned. */
static void
unlock_and_signal (SaPool *pool,
                   Worker *woken)
{
  g_mutex_unlock (&pool->lock);
  if (woken != NULL)
    g_cond_signal (&woken->cond);
}

/* Takes the next job, if an active slot is free for it; @woken is the
 * thread to signal, for the jobs left, once the lock is released. */
static gboolean
take_job (SaPool  *pool,
          Job     *job,
          Worker **woken)
{
  if (pool->n_queued == 0 || pool->n_active >= pool->limit)
    return FALSE;

  *job = queue_pop (pool);
  pool->n_active++;
  pool->n_searching--;
  *woken = wake_one (pool);

  return TRUE;
}

static void
run_job (SaPool *pool,
         Job    *job)
{
  pool->func (job->data);
}

/* Published with g_once_init_leave(), as SA_DEFINE_QUARK does. */
static GQuark
thread_func_quark (void)
{
  static gsize q;

  if (g_once_init_enter (&q))
    g_once_init_leave (&q, g_quark_from_static_string ("sa-pool-thread-func"));

  return (GQuark) q;
}

/* A GTask job of _sa_pool_push(): its thread function, then the job's
 * reference dropped. */
static void
run_task_job (gpointer data)
{
  GTask *task = data;
  GTaskThreadFunc func = (GTaskThreadFunc) g_object_get_qdata (G_OBJECT (task), thread_func_quark ());

  func (task, g_task_get_source_object (task), g_task_get_task_data (task),
        g_task_get_cancellable (task));
  g_object_unref (task);
}

/* Under the lock, for a thread whose job's caller was idle: spins for the
 * next push, unless another thread spins, spins have been in vain lately,
 * or the last push came from this thread's own processor. Returns whether
 * it let the lock go. */
static gboolean
spin_for_push (SaPool *pool)
{
  gboolean caught;

  if (pool->spinning || !_sa_spin_backoff_allows (&pool->spin_backoff))
    return FALSE;
#ifdef HAVE_SCHED_GETCPU
  if (sched_getcpu () == pool->push_cpu)
    return FALSE;
#endif

  pool->spinning = TRUE;
  pool->n_spins++;
  g_mutex_unlock (&pool->lock);
  caught = _sa_spin_while (&pool->n_queued, 0);
  g_mutex_lock (&pool->lock);
  pool->spinning = FALSE;
  _sa_spin_backoff_record (&pool->spin_backoff, caught);

  return TRUE;
}

static void
remove_idle (SaPool *pool,
             Worker *worker)
{
  for (Worker **link = &pool->idle; *link != NULL; link = &(*link)->next_idle)
    if (*link == worker)
      {
        *link = worker->next_idle;
        pool->n_idle--;
        return;
      }
  g_assert_not_reached ();
}

/* Sleeps on the idle stack until woken (TRUE) or the idle time has passed
 * (FALSE: the thread is off the stack and exits). */
static gboolean
sleep_idle (SaPool *pool,
            Worker *worker)
{
  gint64 since = g_get_monotonic_time ();

  worker->woken = FALSE;
#ifdef HAVE_SCHED_GETCPU
  worker->idle_cpu = sched_getcpu ();
#endif
  worker->next_idle = pool->idle;
  pool->idle = worker;
  pool->n_idle++;
  pool->n_searching--;

  while (!worker->woken)
    {
      gint64 deadline = since + (gint64) pool->idle_ms * G_TIME_SPAN_MILLISECOND;

      if (!g_cond_wait_until (&worker->cond, &pool->lock, deadline) &&
          !worker->woken && g_get_monotonic_time () >= deadline)
        {
          remove_idle (pool, worker);
          return FALSE;
        }
    }

  return TRUE;   /* searching again: the waker counted it */
}

static gpointer
worker_main (gpointer data)
{
  Worker *worker = data;
  SaPool *pool = worker->pool;

  current_worker = worker;
  g_mutex_lock (&pool->lock);

  /* Searching at every turn of this loop. */
  for (;;)
    {
      Job job;
      Worker *woken;

      if (take_job (pool, &job, &woken))
        {
          unlock_and_signal (pool, woken);
          run_job (pool, &job);
          g_mutex_lock (&pool->lock);
          pool->n_active--;
          pool->n_searching++;
          continue;
        }

      if (pool->freed)
        {
          pool->n_searching--;
          break;
        }

      if (worker->expect_push)
        {
          worker->expect_push = FALSE;
          if (pool->busy_wait && spin_for_push (pool))
            continue;
        }
      if (!sleep_idle (pool, worker))
        break;
    }

  pool->n_threads--;
  worker->next_idle = pool->exited;
  pool->exited = worker;
  g_mutex_unlock (&pool->lock);

  current_worker = NULL;
  pool_unref (pool);
  g_atomic_int_add (&all_threads, -1);

  return NULL;
}

/* --- API ---------------------------------------------------------------- */

static SaPool *
pool_new (guint      max_threads,
          SaPoolFunc func,
          gboolean   linked)
{
  SaPool *pool = g_new0 (SaPool, 1);

  pool->func = func;
  pool->linked = linked;
  pool->ref_count = 1;
  g_mutex_init (&pool->lock);
  queue_for (pool, G_PRIORITY_DEFAULT);
  pool->max_threads = max_threads;
  pool->limit = limit_for (max_threads);
  pool->idle_ms = DEFAULT_IDLE_MS;

  return pool;
}

SaPool *
_sa_pool_new (guint max_threads)
{
  return pool_new (max_threads, run_task_job, FALSE);
}

SaPool *
_sa_pool_new_full (guint      max_threads,
                   SaPoolFunc func)
{
  return pool_new (max_threads, func, TRUE);
}

void
_sa_pool_set_max_threads (SaPool *pool,
                          guint   max_threads)
{
  g_return_if_fail (pool != NULL);

  g_mutex_lock (&pool->lock);
  pool->max_threads = max_threads;
  pool->limit = limit_for (max_threads);
  unlock_and_signal (pool, wake_one (pool));
}

/* Reads one of @pool's counts under its lock. */
static guint
read_count (SaPool      *pool,
            const guint *count)
{
  guint value;

  g_mutex_lock (&pool->lock);
  value = *count;
  g_mutex_unlock (&pool->lock);

  return value;
}

guint
_sa_pool_get_max_threads (SaPool *pool)
{
  g_return_val_if_fail (pool != NULL, 0);

  return read_count (pool, &pool->max_threads);
}

void
_sa_pool_push_data (SaPool   *pool,
                    gpointer  data,
                    int       priority)
{
  g_return_if_fail (pool != NULL);

  g_mutex_lock (&pool->lock);
  if (pool->freed)
    {
      g_mutex_unlock (&pool->lock);
      g_critical ("_sa_pool_push: the pool was freed");
      return;
    }
  queue_push (pool, (Job) { data }, priority);
#ifdef HAVE_SCHED_GETCPU
  pool->push_cpu = sched_getcpu ();
#endif
  unlock_and_signal (pool, wake_one (pool));
}

void
_sa_pool_push (SaPool          *pool,
               GTask           *task,
               GTaskThreadFunc  func)
{
  g_return_if_fail (pool != NULL);
  g_return_if_fail (pool->func == run_task_job);
  g_return_if_fail (G_IS_TASK (task));
  g_return_if_fail (func != NULL);

  g_object_set_qdata (G_OBJECT (task), thread_func_quark (), (gpointer) func);
  g_mutex_lock (&pool->lock);
  if (pool->freed)
    {
      g_mutex_unlock (&pool->lock);
      g_critical ("_sa_pool_push: the pool was freed");
      return;
    }
  queue_push (pool, (Job) { task }, g_task_get_priority (task));
#ifdef HAVE_SCHED_GETCPU
  pool->push_cpu = sched_getcpu ();
#endif
  unlock_and_signal (pool, wake_one (pool));
}

void
_sa_pool_free (SaPool *pool)
{
  g_return_if_fail (pool != NULL);

  g_mutex_lock (&pool->lock);
  pool->freed = TRUE;
  while (pool->idle != NULL)
    {
      Worker *worker = pool->idle;

      pool->idle = worker->next_idle;
      pool->n_idle--;
      pool->n_searching++;
      worker->woken = TRUE;
      g_cond_signal (&worker->cond);
    }
  g_mutex_unlock (&pool->lock);

  pool_unref (pool);
}

gboolean
_sa_pool_begin_wait (void)
{
  Worker *worker = current_worker;
  SaPool *pool;

  if (worker == NULL)
    return FALSE;

  if (worker->wait_depth++ > 0)
    return TRUE;

  pool = worker->pool;
  g_mutex_lock (&pool->lock);
  pool->n_active--;
  pool->n_waiting++;
  unlock_and_signal (pool, wake_one (pool));

  return TRUE;
}

void
_sa_pool_end_wait (gboolean was_pool_thread)
{
  Worker *worker;
  SaPool *pool;

  if (!was_pool_thread)
    return;

  worker = current_worker;
  g_return_if_fail (worker != NULL && worker->wait_depth > 0);

  if (--worker->wait_depth > 0)
    return;

  /* Back among the active threads, over the limit until one ends its job:
   * the waiter never waits twice. */
  pool = worker->pool;
  g_mutex_lock (&pool->lock);
  pool->n_waiting--;
  pool->n_active++;
  g_mutex_unlock (&pool->lock);
}

void
_sa_pool_job_caller_idle (void)
{
  Worker *worker = current_worker;

  if (worker != NULL && worker->wait_depth == 0)
    worker->expect_push = TRUE;
}

void
_sa_pool_set_busy_wait (SaPool   *pool,
                        gboolean  busy_wait)
{
  g_return_if_fail (pool != NULL);

  g_mutex_lock (&pool->lock);
  pool->busy_wait = busy_wait;
  g_mutex_unlock (&pool->lock);
}

void
_sa_pool_set_idle_time (SaPool *pool,
                        guint   idle_ms)
{
  g_return_if_fail (pool != NULL);

  g_mutex_lock (&pool->lock);
  pool->idle_ms = idle_ms;
  for (Worker *worker = pool->idle; worker != NULL; worker = worker->next_idle)
    g_cond_signal (&worker->cond);   /* to read the new deadline */
  g_mutex_unlock (&pool->lock);
}

guint
_sa_pool_get_n_threads (SaPool *pool)
{
  g_return_val_if_fail (pool != NULL, 0);

  return read_count (pool, &pool->n_threads);
}

guint
_sa_pool_get_n_spins (SaPool *pool)
{
  g_return_val_if_fail (pool != NULL, 0);

  return read_count (pool, &pool->n_spins);
}

guint
_sa_pool_count_all_threads (void)
{
  return (guint) g_atomic_int_get (&all_threads);
}
