/* http-service.c: a libsoup server on loopback, and a command line, one handler
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   http-service [--port N] [--db FILE]   serves /item/ID and /scan/CATEGORY
 *   http-service --get /item/42 ...       calls the same handler from main()
 *
 * The server prints "listening on http://127.0.0.1:PORT/" once it is up
 * and stops on SIGINT or SIGTERM.
 */

#include <stdio.h>

#include <glib-unix.h>

#include "service.h"

static gboolean
quit (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = g_option_context_new ("— a smartasync HTTP service");
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) gets = NULL;
  g_autofree char *db_path = NULL;
  int port = 0;
  Service *service;
  int status = 0;
  GOptionEntry entries[] = {
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "The port on 127.0.0.1 (default: a free one)", "N" },
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path, "The sqlite3 database, created if missing", "FILE" },
    { "get", 0, 0, G_OPTION_ARG_STRING_ARRAY, &gets, "Answer PATH from the command line", "PATH" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || port < 0 || port > 65535)
    {
      g_printerr ("%s\n", error != NULL ? error->message : "Bad port");
      return 2;
    }
  if (db_path == NULL)
    {
      g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "smartasync-demo", NULL);

      g_mkdir_with_parents (dir, 0755);
      db_path = g_build_filename (dir, "service.sqlite", NULL);
    }

  service = service_new (db_path, &error);
  if (service == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  if (gets != NULL)
    {
      /* main() runs no loop: a sync caller, each task comes back complete. */
      for (guint i = 0; gets[i] != NULL; i++)
        {
          g_autoptr(GTask) task = service_answer (service, gets[i], NULL, NULL, NULL);
          g_autoptr(GError) get_error = NULL;
          g_autofree char *json = service_answer_finish (G_ASYNC_RESULT (task), &get_error);

          if (json != NULL)
            g_print ("%s", json);
          else
            {
              g_printerr ("%s: %s\n", gets[i], get_error->message);
              status = 1;
            }
        }
    }
  else
    {
      g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
      g_autoptr(SoupServer) server = NULL;
      guint16 bound = 0;

      server = service_listen (service, port, &bound, &error);
      if (server == NULL)
        {
          g_printerr ("%s\n", error->message);
          service_free (service);
          return 1;
        }
      g_unix_signal_add (SIGINT, quit, loop);
      g_unix_signal_add (SIGTERM, quit, loop);
      g_print ("listening on http://127.0.0.1:%u/\n", bound);
      fflush (stdout);

      g_main_loop_run (loop);

      soup_server_disconnect (server);
      g_printerr ("%u requests, %u queries\n",
                  service_get_n_requests (service), service_get_n_queries (service));
    }

  service_free (service);
  return status;
}
