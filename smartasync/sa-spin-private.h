/* sa-spin-private.h: short waits for another thread, without sleeping (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How long a thread spins for a reply it expects before it sleeps: about
 * one wake-up of a sleeping thread on a busy or virtual machine. */
#define SA_SPIN_US 50

#if defined(__x86_64__) || defined(__i386__)
# define _sa_cpu_relax() __builtin_ia32_pause ()
#elif defined(__aarch64__)
# define _sa_cpu_relax() __asm__ __volatile__ ("yield")
#else
# define _sa_cpu_relax() do { } while (0)
#endif

/* Spins while the atomic @word holds @value, for up to SA_SPIN_US.
 * Returns FALSE if it is still @value then. */
static inline gboolean
_sa_spin_while (const guint *word,
                guint        value)
{
  gint64 end = g_get_monotonic_time () + SA_SPIN_US;

  while (__atomic_load_n (word, __ATOMIC_RELAXED) == value)
    {
      for (guint i = 0; i < 64; i++)
        _sa_cpu_relax ();
      if (g_get_monotonic_time () >= end)
        return FALSE;
    }

  return TRUE;
}

/* When spins are in vain, spin less: after one, the next chance to spin is
 * passed, after each further one in a row twice as many, up to 64. */
typedef struct
{
  guint skips;                  /* chances left to pass */
  guint misses;                 /* spins in vain in a row, up to 6 */
} SaSpinBackoff;

/* Whether to spin at this chance. */
static inline gboolean
_sa_spin_backoff_allows (SaSpinBackoff *backoff)
{
  if (backoff->skips == 0)
    return TRUE;

  backoff->skips--;
  return FALSE;
}

/* Records how a spin that was allowed ended. */
static inline void
_sa_spin_backoff_record (SaSpinBackoff *backoff,
                         gboolean       caught)
{
  if (caught)
    {
      backoff->misses = 0;
      return;
    }

  backoff->skips = 1u << backoff->misses;
  backoff->misses = MIN (backoff->misses + 1, 6);
}

G_END_DECLS
