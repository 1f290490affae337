#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_http_service.py C-SERVICE: the Python service against the C one.

The Python service's command line (a sync caller of the decorated lookup())
must answer as the C service's does, byte for byte; then each Python
server (@Sa.smartasync, ThreadPoolExecutor) must give the same answers to
concurrent requests on loopback, and stop cleanly on SIGTERM.
"""

import concurrent.futures
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PATHS = ["/item/1", "/item/4242", "/item/100000", "/scan/3", "/scan/96"]
failed = False


def check(ok, what):
    global failed
    print(f"{'ok' if ok else 'not ok'} - {what}", flush=True)
    failed = failed or not ok


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    c_service = sys.argv[1]
    try:
        import gi
        gi.require_version("Soup", "3.0")
    except (ImportError, ValueError):
        print("# libsoup's typelib (gir1.2-soup-3.0) is not installed: skipped")
        return 77
    with tempfile.TemporaryDirectory(prefix="sa-http-py-") as tmp:
        db = os.path.join(tmp, "service.sqlite")
        gets = [a for p in PATHS for a in ("--get", p)]
        c_out = subprocess.run([c_service, "--db", db] + gets, capture_output=True, text=True,
                               check=True).stdout
        py = [sys.executable, os.path.join(HERE, "http_service.py"), "--db", db]
        py_out = subprocess.run(py + gets, capture_output=True, text=True, check=True).stdout
        check(py_out == c_out and py_out.count("\n") == len(PATHS),
              "the Python command line answers as the C one")
        expected = dict(zip(PATHS, c_out.splitlines(keepends=True)))

        for executor in ("sa", "tpe"):
            server = subprocess.Popen(py + ["--executor", executor], stdout=subprocess.PIPE,
                                      text=True)
            try:
                line = server.stdout.readline()
                check(line.startswith("listening on http://127.0.0.1:"), f"{executor}: listening")
                url = line.split()[-1].rstrip("/")
                # Each path five times, all at once.
                with concurrent.futures.ThreadPoolExecutor(max_workers=25) as pool:
                    answers = list(pool.map(lambda p: (p, get(url + p)), PATHS * 5))
                check(all(a == (200, expected[p]) for p, a in answers),
                      f"{executor}: {len(answers)} concurrent answers as expected")
                status, body = get(url + "/item/0")
                check(status == 404 and body == "No item 0\n", f"{executor}: 404 for a missing item")
            finally:
                server.terminate()
                check(server.wait(timeout=60) == 0, f"{executor}: stops cleanly on SIGTERM")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
