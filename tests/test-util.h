/* test-util.h: real GIO operations and fixtures shared by the tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <smartasync.h>

G_BEGIN_DECLS

#define TEST_ERROR (test_error_quark ())
GQuark test_error_quark (void);

/* A temporary file with known contents, removed by test_file_free(). */
typedef struct
{
  char  *path;
  GFile *file;
  char  *contents;
} TestFile;

TestFile    *test_file_new           (const char  *contents);
void         test_file_free          (TestFile    *tf);

/* Operations on real GIO. Each records in @probe what happened. */
typedef struct
{
  gint     runs;          /* atomic: how many times the body ran */
  GThread *thread;        /* the thread the body last ran on */
  GMainContext *context;  /* the thread-default context it started on */
  gboolean was_async;     /* sa_caller_is_async () inside the body */
} TestProbe;

/* Loads the file; completes with g_task_return_value (G_TYPE_STRING). */
SaOperation *test_op_load_file       (GFile       *file,
                                      gboolean     blocking,
                                      TestProbe   *probe);
/* Runs argv; completes with TRUE, or the subprocess' error. */
SaOperation *test_op_subprocess      (const char * const *argv,
                                      gboolean     blocking,
                                      TestProbe   *probe);
/* Connects to 127.0.0.1:@port and reads one line; completes with the line. */
SaOperation *test_op_socket_read     (guint16      port,
                                      gboolean     blocking,
                                      TestProbe   *probe);
/* Resolves "localhost"; completes with the first address as a string. */
SaOperation *test_op_resolve         (gboolean     blocking,
                                      TestProbe   *probe);
/* Fails with TEST_ERROR, code 42, "boom 42". */
SaOperation *test_op_fail            (gboolean     blocking,
                                      TestProbe   *probe);

/* A loopback server on its own thread and context: every client gets
 * "hello from smartasync\n" and the connection is closed. */
typedef struct _TestServer TestServer;
TestServer  *test_server_new         (void);
guint16      test_server_get_port    (TestServer  *server);
void         test_server_free        (TestServer  *server);

/* Cancels @cancellable from another thread after @delay_ms. */
GThread     *test_cancel_later       (GCancellable *cancellable,
                                      guint         delay_ms);

/* Iterates @context until *@flag is non-zero. */
void         test_iterate_until      (GMainContext *context,
                                      const gint   *flag);

/* Waits, up to 10 s, for the number of private contexts alive to come
 * down to @n: a GIO worker thread may still hold a reference to one for
 * a moment after the call that used it has returned. Returns the count. */
guint        test_wait_for_n_contexts (guint       n);

/* Waits, up to 10 s, for *@counter to reach @n, for effects that happen
 * on another thread. Returns the value. */
gint         test_wait_for_count      (const gint *counter,
                                       gint        n);

/* The same, iterating @context meanwhile: for effects that happen on a
 * later pass of it, such as the release of an async call's task. */
gint         test_iterate_for_count   (GMainContext *context,
                                       const gint   *counter,
                                       gint          n);

/* A SYNC call of an operation that completes with g_task_return_boolean(). */
gboolean     test_call_sync_bool      (SaDispatcher *dispatcher,
                                       SaOperation  *operation,
                                       GCancellable *cancellable,
                                       GError      **error);

/* Runs `sleep @seconds`, then completes with the string "slept @seconds".
 * Sets *@saw_cancel when its wait ended by cancellation. */
SaOperation *test_op_sleep            (const char *seconds,
                                       gint       *saw_cancel);

/* A blocking operation that waits on @gate until test_gate_open(), then
 * completes with the int value @gate->value. Counts its runs. */
typedef struct
{
  GMutex lock;
  GCond  cond;
  gint   open;
  gint   runs;      /* atomic */
  gint   waiting;   /* atomic: bodies blocked on the gate now */
  gint   value;
} TestGate;

void         test_gate_init           (TestGate   *gate,
                                       gint        value);
void         test_gate_open           (TestGate   *gate);
void         test_gate_clear          (TestGate   *gate);
SaOperation *test_op_gated            (TestGate   *gate);

/* A non-blocking operation that completes at once, with the string
 * @value, without yielding to the loop. Counts its runs in *@runs. */
SaOperation *test_op_immediate        (const char *value,
                                       gint       *runs);

/* The number of descriptors open in the process. */
guint        test_count_fds           (void);

/* Sets the atomic *@finalized when @object is finalized, on whichever
 * thread drops its last reference: a pool thread may, where a weak pointer
 * read by another thread would race. */
void         test_watch_finalize      (gpointer    object,
                                       gint       *finalized);

/* Sets the atomic *@freed when @context is freed, on whichever thread
 * drops its last reference, by a source of it that never runs. */
void         test_watch_context_free  (GMainContext *context,
                                       gint         *freed);

/* The typed finish functions of the dispatcher that made @task. */
#define test_finish_boolean(task, error) \
  sa_dispatcher_call_finish_boolean (g_task_get_source_object (G_TASK (task)), G_ASYNC_RESULT (task), (error))
#define test_finish_int(task, error) \
  sa_dispatcher_call_finish_int (g_task_get_source_object (G_TASK (task)), G_ASYNC_RESULT (task), (error))
#define test_finish_pointer(task, error) \
  sa_dispatcher_call_finish_pointer (g_task_get_source_object (G_TASK (task)), G_ASYNC_RESULT (task), (error))
#define test_finish_value(task, value, error) \
  sa_dispatcher_call_finish_value (g_task_get_source_object (G_TASK (task)), G_ASYNC_RESULT (task), (value), (error))

/* Completes @task with the int @v, through g_task_return_value(). */
void         test_return_int          (GTask      *task,
                                       gint        v);

G_END_DECLS
