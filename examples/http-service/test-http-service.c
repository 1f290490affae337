/* test-http-service.c: the service on loopback, under a libsoup client
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <glib/gstdio.h>

#include "service.h"

static char *db_path;

typedef struct
{
  Service     *service;
  SoupServer  *server;
  SoupSession *session;
  guint16      port;
  guint        n_pending;
} Fixture;

typedef struct
{
  Fixture     *fixture;
  SoupMessage *msg;
  GBytes      *body;
  GError      *error;
} Reply;

static void
fixture_setup (Fixture *f)
{
  g_autoptr(GError) error = NULL;

  f->service = service_new (db_path, &error);
  g_assert_no_error (error);
  f->server = service_listen (f->service, 0, &f->port, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (f->port, >, 0);
  /* No I/O timeout of the client's own: under valgrind on a loaded
   * machine a scan outlasts libsoup's 60 s; the test's timeout is the
   * bound. */
  f->session = soup_session_new_with_options ("max-conns", 256,
                                              "max-conns-per-host", 256,
                                              "timeout", 0,
                                              NULL);
}

static void
fixture_teardown (Fixture *f)
{
  g_assert_cmpuint (f->n_pending, ==, 0);
  soup_session_abort (f->session);
  g_clear_object (&f->session);
  soup_server_disconnect (f->server);
  g_clear_object (&f->server);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  service_free (f->service);
}

static void
reply_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Reply *reply = user_data;

  reply->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result,
                                                   &reply->error);
  reply->fixture->n_pending--;
}

static void
send_get (Fixture    *f,
          const char *path,
          Reply      *reply)
{
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u%s", f->port, path);

  reply->fixture = f;
  reply->msg = soup_message_new ("GET", uri);
  f->n_pending++;
  soup_session_send_and_read_async (f->session, reply->msg, G_PRIORITY_DEFAULT, NULL,
                                    reply_done, reply);
}

static void
wait_replies (Fixture *f)
{
  while (f->n_pending > 0)
    g_main_context_iteration (NULL, TRUE);
}

static void
reply_clear (Reply *reply)
{
  g_clear_object (&reply->msg);
  g_clear_pointer (&reply->body, g_bytes_unref);
  g_clear_error (&reply->error);
}

static void
assert_reply (Reply      *reply,
              guint       status,
              const char *expected)
{
  g_autofree char *text = NULL;

  g_assert_no_error (reply->error);
  g_assert_cmpuint (soup_message_get_status (reply->msg), ==, status);
  text = g_strndup (g_bytes_get_data (reply->body, NULL), g_bytes_get_size (reply->body));
  g_assert_cmpstr (text, ==, expected);
}

/* The expected answers, from the same handler called by a sync caller: a
 * plain thread, whose private context goes when it exits. */
typedef struct
{
  Service            *service;
  const char * const *paths;
  char              **answers;
} Expect;

static gpointer
expect_thread (gpointer data)
{
  Expect *expect = data;
  guint n = g_strv_length ((char **) expect->paths);

  g_assert_false (sa_caller_is_async ());
  expect->answers = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GTask) task = service_answer (expect->service, expect->paths[i], NULL, NULL, NULL);
      g_autoptr(GError) error = NULL;

      /* Complete on return: the sync caller's promise. */
      g_assert_true (g_task_get_completed (task));
      expect->answers[i] = service_answer_finish (G_ASYNC_RESULT (task), &error);
      g_assert_no_error (error);
      g_assert_nonnull (expect->answers[i]);
    }
  return NULL;
}

static char **
expect_answers (Service            *service,
                const char * const *paths)
{
  Expect expect = { service, paths, NULL };

  g_thread_join (g_thread_new ("expect", expect_thread, &expect));
  return expect.answers;
}

static const char * const paths[] = {
  "/item/1", "/item/4242", "/item/100000", "/scan/3", "/scan/96", NULL
};
static const char * const modes[] = { "/sa", "/nolock", "/default", "/gtask", "/naive" };

static void
test_answers (void)
{
  Fixture f = { 0 };
  g_auto(GStrv) expected = NULL;
  Reply replies[G_N_ELEMENTS (modes)][G_N_ELEMENTS (paths) - 1] = { 0 };
  Reply missing = { 0 }, bogus = { 0 };

  fixture_setup (&f);
  expected = expect_answers (f.service, paths);
  g_assert_true (g_str_has_prefix (expected[1], "{\"id\": 4242, \"name\": \"item-"));
  g_assert_true (g_str_has_prefix (expected[3], "{\"category\": 3, \"count\": 1031,"));

  /* Every mode, every path, all at once. */
  for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
    for (guint p = 0; paths[p] != NULL; p++)
      {
        g_autofree char *path = g_strconcat (modes[m], paths[p], NULL);

        send_get (&f, path, &replies[m][p]);
      }
  send_get (&f, "/sa/item/0", &missing);
  send_get (&f, "/nothing/here", &bogus);
  wait_replies (&f);

  for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
    for (guint p = 0; paths[p] != NULL; p++)
      {
        assert_reply (&replies[m][p], SOUP_STATUS_OK, expected[p]);
        reply_clear (&replies[m][p]);
      }
  assert_reply (&missing, SOUP_STATUS_NOT_FOUND, "No item 0\n");
  g_assert_cmpuint (soup_message_get_status (bogus.msg), ==, SOUP_STATUS_NOT_FOUND);
  reply_clear (&missing);
  reply_clear (&bogus);

  fixture_teardown (&f);
}

#define N_STAMPEDE 100

static void
test_stampede (void)
{
  static const char * const scan[] = { "/scan/7", NULL };
  Fixture f = { 0 };
  g_auto(GStrv) expected = NULL;
  Reply *replies = g_new0 (Reply, N_STAMPEDE);
  SaLock *lock;
  guint requests0, queries0;
  guint64 executions0, coalesced0;

  fixture_setup (&f);
  lock = service_get_lock (f.service);
  expected = expect_answers (f.service, scan);

  /* The first query waits at the gate until every request has arrived:
   * however slow the machine, the other 99 find it in flight. */
  service_set_gate (f.service, FALSE);
  requests0 = service_get_n_requests (f.service);
  queries0 = service_get_n_queries (f.service);
  executions0 = sa_lock_get_n_executions (lock);
  coalesced0 = sa_lock_get_n_coalesced (lock);
  for (guint i = 0; i < N_STAMPEDE; i++)
    send_get (&f, "/sa/scan/7", &replies[i]);
  while (service_get_n_requests (f.service) - requests0 < N_STAMPEDE ||
         service_get_n_at_gate (f.service) == 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (service_get_n_at_gate (f.service), ==, 1);
  service_set_gate (f.service, TRUE);
  wait_replies (&f);

  for (guint i = 0; i < N_STAMPEDE; i++)
    {
      assert_reply (&replies[i], SOUP_STATUS_OK, expected[0]);
      reply_clear (&replies[i]);
    }
  g_assert_cmpuint (service_get_n_queries (f.service) - queries0, ==, 1);
  g_assert_cmpuint (sa_lock_get_n_executions (lock) - executions0, ==, 1);
  g_assert_cmpuint (sa_lock_get_n_coalesced (lock) - coalesced0, ==, N_STAMPEDE - 1);
  g_test_message ("%d identical requests, 1 query", N_STAMPEDE);

  /* The control: without the lock, one query per request. */
  queries0 = service_get_n_queries (f.service);
  for (guint i = 0; i < N_STAMPEDE; i++)
    send_get (&f, "/nolock/scan/7", &replies[i]);
  wait_replies (&f);
  for (guint i = 0; i < N_STAMPEDE; i++)
    {
      assert_reply (&replies[i], SOUP_STATUS_OK, expected[0]);
      reply_clear (&replies[i]);
    }
  g_assert_cmpuint (service_get_n_queries (f.service) - queries0, ==, N_STAMPEDE);

  g_free (replies);
  fixture_teardown (&f);
}

static guint
count_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static gboolean
tick (gpointer user_data)
{
  gboolean *ticked = user_data;

  *ticked = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default context for @ms milliseconds. */
static void
iterate_for (guint ms)
{
  gboolean ticked = FALSE;

  g_timeout_add (ms, tick, &ticked);
  while (!ticked)
    g_main_context_iteration (NULL, TRUE);
}

/* Connections close on the loop after the last reply. A dropped
 * dispatcher's threads (each with its private context) go to GLib's unused
 * threads, which live on for 15 s unless stopped: they are stopped here.
 * The counts are read once they have not moved for a second and are at
 * most @fds and @contexts, or after a minute. */
static void
count_settled (guint  at_most_fds,
               guint  at_most_contexts,
               guint *fds,
               guint *contexts)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  guint steady = 0;

  *fds = count_fds ();
  *contexts = sa_get_n_contexts ();
  while ((steady < 10 || *fds > at_most_fds || *contexts > at_most_contexts) &&
         g_get_monotonic_time () < deadline)
    {
      guint fds_before = *fds;
      guint contexts_before = *contexts;

      g_thread_pool_stop_unused_threads ();
      iterate_for (100);
      *fds = count_fds ();
      *contexts = sa_get_n_contexts ();
      steady = (*fds == fds_before && *contexts == contexts_before) ? steady + 1 : 0;
    }
}

/* What each descriptor is, for the log when the counts differ. */
static char *
describe_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  GString *out = g_string_new (NULL);
  const char *name;

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/fd", name, NULL);
      g_autofree char *target = g_file_read_link (path, NULL);

      g_string_append_printf (out, " %s=%s", name, target != NULL ? target : "?");
    }
  return g_string_free (out, FALSE);
}

static void
test_clean_shutdown (void)
{
  guint fds0, contexts0, fds1, contexts1;
  g_autofree char *before = NULL;
  Fixture f = { 0 };
  g_auto(GStrv) expected = NULL;
  Reply replies[3][G_N_ELEMENTS (paths) - 1] = { 0 };

  count_settled (G_MAXUINT, G_MAXUINT, &fds0, &contexts0);
  before = describe_fds ();

  /* A full life: up, concurrent requests from the loop and a sync caller
   * on a thread, down. Everything it opened is closed. */
  fixture_setup (&f);
  g_assert_cmpuint (count_fds (), >, fds0);
  for (guint round = 0; round < 3; round++)
    for (guint p = 0; paths[p] != NULL; p++)
      {
        g_autofree char *path = g_strconcat (modes[round], paths[p], NULL);

        send_get (&f, path, &replies[round][p]);
      }
  expected = expect_answers (f.service, paths);
  wait_replies (&f);
  g_test_message ("while up: fds %u, private contexts %u", count_fds (), sa_get_n_contexts ());
  for (guint round = 0; round < 3; round++)
    for (guint p = 0; paths[p] != NULL; p++)
      {
        assert_reply (&replies[round][p], SOUP_STATUS_OK, expected[p]);
        reply_clear (&replies[round][p]);
      }
  fixture_teardown (&f);

  /* At most as many as before: a worker of an earlier case that expires
   * meanwhile takes its private context and descriptor with it. */
  count_settled (fds0, contexts0, &fds1, &contexts1);
  if (fds1 > fds0)
    {
      g_autofree char *now = describe_fds ();

      g_test_message ("before (%u contexts):%s", contexts0, before);
      g_test_message ("after (%u contexts):%s", contexts1, now);
    }
  g_assert_cmpuint (fds1, <=, fds0);
  g_assert_cmpuint (contexts1, <=, contexts0);
  g_test_message ("fds %u then %u, private contexts %u then %u", fds0, fds1, contexts0, contexts1);
}

static void
ignore_debug (const char     *domain,
              GLogLevelFlags  level,
              const char     *message,
              gpointer        user_data)
{
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *dir = NULL;
  g_autoptr(GError) error = NULL;
  Service *service;
  int status;

  g_test_init (&argc, &argv, NULL);
  /* GIO's socket client narrates every connection at debug level. */
  g_log_set_handler ("GLib-GIO", G_LOG_LEVEL_DEBUG, ignore_debug, NULL);

  dir = g_dir_make_tmp ("sa-http-XXXXXX", &error);
  g_assert_no_error (error);
  db_path = g_build_filename (dir, "service.sqlite", NULL);
  /* Made once, before the tests count anything. */
  service = service_new (db_path, &error);
  g_assert_no_error (error);
  service_free (service);

  g_test_add_func ("/http-service/answers", test_answers);
  g_test_add_func ("/http-service/stampede", test_stampede);
  g_test_add_func ("/http-service/clean-shutdown", test_clean_shutdown);

  status = g_test_run ();

  g_unlink (db_path);
  g_rmdir (dir);
  g_free (db_path);
  return status;
}
