#!/usr/bin/env python3
"""Fault runs with real parts: canister-axum's demo (release) on 127.0.0.1, a private
redis-server, wrk for load and checking clients that remember every acknowledged write.

    hardening/faults.sh            # builds the demo, then runs every fault below
    hardening/faults.py DEMO ...   # the same with a demo binary already built

Faults:
  redis-kill     Redis SIGKILLed under load, restarted on the same port 3 s later
                 (append-only file, fsync always): 503 while down, never another 5xx,
                 recovery time after Redis is back, no acknowledged increment lost.
  redis-slow     DEBUG SLEEP 4 in Redis with session_store_timeout = 0.5: requests answer
                 503 within the timeout instead of hanging, then 200 again.
  log-full       log_path on a 256 KiB tmpfs under INFO logging and wrk: the disk fills,
                 the app keeps answering 200, stderr says so once; space freed: says it
                 works again.

(A read-only remount of the log directory is refused while the day's file is open for
writing, and as root permissions do not stop writes, so a full disk is the write failure
these runs produce.)

Prints one line per check and exits non-zero when a check fails. Needs root for the tmpfs
mounts, wrk and redis-server on PATH.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

FAILED = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        FAILED.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Redis:
    def __init__(self, workdir):
        self.port = free_port()
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--appendonly", "yes", "--appendfsync", "always",
             "--save", "", "--logfile", os.path.join(self.dir, "log"),
             "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_port(self.port), "redis-server did not start"
        # Ready for commands once the append-only file is loaded.
        deadline = time.time() + 10
        while time.time() < deadline:
            out = subprocess.run(["redis-cli", "-p", str(self.port), "PING"],
                                 capture_output=True, text=True).stdout.strip()
            if out == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server does not answer PING")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

    def url(self):
        return f"redis://127.0.0.1:{self.port}/"


class Demo:
    def __init__(self, binary, workdir, config, redis=None):
        self.port = free_port()
        self.config = os.path.join(workdir, f"demo-{self.port}.ini")
        with open(self.config, "w") as f:
            f.write("[canister]\n" + config)
        self.err = os.path.join(workdir, f"demo-{self.port}.err")
        args = [binary, "--config", self.config, "--bind", f"127.0.0.1:{self.port}"]
        if redis:
            args += ["--redis", redis]
        env = dict(os.environ, TOKIO_WORKER_THREADS="1")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=open(self.err, "w"), env=env)
        assert wait_port(self.port), "the demo did not start"

    def stderr(self):
        with open(self.err, errors="replace") as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return self.proc.returncode

    def alive(self):
        return self.proc.poll() is None


def request(port, method, path, cookie=None, body=None, timeout=10.0):
    """(status, headers, body bytes, seconds); status 0 on a transport error."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {}
    if cookie:
        headers["Cookie"] = cookie
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    start = time.time()
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, r.getheaders(), data, time.time() - start
    except OSError:
        return 0, [], b"", time.time() - start
    finally:
        conn.close()


def new_session(port):
    for _ in range(50):
        status, headers, body, _ = request(port, "GET", "/")
        if status == 200:
            cookie = next(v for k, v in headers if k.lower() == "set-cookie").split(";")[0]
            return cookie, json.loads(body)["data"]["counter"]
        time.sleep(0.1)
    raise RuntimeError("no session")


class Counter(threading.Thread):
    """One client with its own session, incrementing its counter until told to stop,
    remembering every acknowledged (200) value and every status."""

    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port, self.stop_event = port, stop
        self.cookie, first = new_session(port)
        self.acked = [first]
        self.statuses = {}
        self.ok_times = []
        self.max_latency = 0.0

    def run(self):
        while not self.stop_event.is_set():
            status, _, body, took = request(self.port, "GET", "/", self.cookie)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.max_latency = max(self.max_latency, took)
            if status == 200:
                counter = json.loads(body)["data"]["counter"]
                assert counter > self.acked[-1], f"counter went from {self.acked[-1]} to {counter}"
                self.acked.append(counter)
                self.ok_times.append(time.time())
            elif status == 503:
                time.sleep(0.01)

    def final(self):
        status, _, body, _ = request(self.port, "GET", "/", self.cookie)
        return json.loads(body)["data"]["counter"] if status == 200 else None


def wrk(port, seconds, cookie, out):
    return subprocess.Popen(
        ["wrk", "-t1", "-c32", f"-d{seconds}s", "-H", f"Cookie: {cookie}",
         f"http://127.0.0.1:{port}/"], stdout=open(out, "w"), stderr=subprocess.STDOUT)


def wrk_summary(path):
    with open(path) as f:
        text = f.read()
    requests = next((l.split()[0] for l in text.splitlines() if "requests in" in l), "?")
    non2xx = next((int(l.split(":")[1]) for l in text.splitlines() if "Non-2xx" in l), 0)
    errors = next((l.strip() for l in text.splitlines() if "Socket errors" in l), "")
    return requests, non2xx, errors


def merge(statuses_list):
    total = {}
    for statuses in statuses_list:
        for k, v in statuses.items():
            total[k] = total.get(k, 0) + v
    return total


def redis_kill(binary, work):
    print("== redis-kill: Redis SIGKILLed under load, restarted 3 s later")
    redis = Redis(work)
    redis.start()
    demo = Demo(binary, work, "log_level = WARNING\nsession_store_timeout = 1\n", redis.url())
    try:
        stop = threading.Event()
        clients = [Counter(demo.port, stop) for _ in range(8)]
        load_cookie, _ = new_session(demo.port)
        load = wrk(demo.port, 20, load_cookie, os.path.join(work, "wrk-kill.txt"))
        for c in clients:
            c.start()
        time.sleep(5)
        redis.kill()
        killed = time.time()
        time.sleep(3)
        redis.start()
        back = time.time()
        time.sleep(10)
        stop.set()
        for c in clients:
            c.join()
        load.wait()
        statuses = merge(c.statuses for c in clients)
        firsts = [next((t for t in c.ok_times if t > back), None) for c in clients]
        recovered = [t - back for t in firsts if t is not None]
        print(f"      statuses seen by the checking clients: {statuses}; Redis down "
              f"{back - killed:.1f} s")
        check(set(statuses) <= {200, 503}, "only 200 and 503 while Redis was killed and back")
        check(statuses.get(503, 0) > 0, "503 while Redis was down")
        check(len(recovered) == len(clients) and max(recovered) < 5,
              f"every client served again within 5 s of Redis returning "
              f"(slowest {max(recovered) if recovered else float('nan'):.2f} s)")
        lost = 0
        ambiguous = 0
        for c in clients:
            final = c.final()
            expected = c.acked[-1] + 1
            if final is None or final < expected:
                lost += 1
            else:
                ambiguous += final - expected
        acked = sum(len(c.acked) - 1 for c in clients)
        check(lost == 0, f"no acknowledged increment lost ({acked} acknowledged; "
                         f"{ambiguous} more applied whose answer was a 503 timeout)")
        requests, non2xx, errors = wrk_summary(os.path.join(work, "wrk-kill.txt"))
        print(f"      wrk beside them: {requests} requests, {non2xx} non-2xx {errors}")
        check(demo.alive(), "the demo still runs")
        check("panicked" not in demo.stderr(), "no panic on the demo's stderr")
    finally:
        demo.stop()
        redis.stop()


def redis_slow(binary, work):
    print("== redis-slow: DEBUG SLEEP 4 with session_store_timeout = 0.5")
    redis = Redis(work)
    redis.start()
    demo = Demo(binary, work, "log_level = WARNING\nsession_store_timeout = 0.5\n", redis.url())
    try:
        cookie, _ = new_session(demo.port)
        sleeper = subprocess.Popen(["redis-cli", "-p", str(redis.port), "DEBUG", "SLEEP", "4"],
                                   stdout=subprocess.DEVNULL)
        time.sleep(0.2)
        seen = []
        start = time.time()
        while sleeper.poll() is None:
            status, _, _, took = request(demo.port, "GET", "/", cookie)
            seen.append((status, took))
        slept = time.time() - start
        check(len(seen) > 0 and sleeper.returncode == 0, "DEBUG SLEEP ran (4 s)")
        if not seen:
            return
        statuses = {s for s, _ in seen}
        worst = max(t for _, t in seen)
        print(f"      {len(seen)} requests during {slept:.1f} s of sleep: statuses {statuses}, "
              f"slowest answer {worst:.2f} s")
        check(503 in statuses and statuses <= {200, 503}, "503 while Redis sleeps, no other error")
        check(worst < 2.0, "no request waits much past the 0.5 s timeout")
        deadline = time.time() + 5
        status = 0
        while time.time() < deadline and status != 200:
            status, _, _, _ = request(demo.port, "GET", "/", cookie)
            time.sleep(0.05)
        check(status == 200, "200 again once Redis answers")
        check("panicked" not in demo.stderr(), "no panic on the demo's stderr")
    finally:
        demo.stop()
        redis.stop()


def log_full(binary, work):
    mode = "full"
    print("== log-full: the log disk fills under INFO logging and load")
    mnt = os.path.join(work, f"logs-{mode}")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt], check=True)
    demo = None
    try:
        demo = Demo(binary, work, f"CORS = *\nlog_level = INFO\nlog_path = {mnt}\n")
        cookie, _ = new_session(demo.port)
        out = os.path.join(work, f"wrk-log-{mode}.txt")
        wrk(demo.port, 8, cookie, out).wait()
        requests, non2xx, errors = wrk_summary(out)
        print(f"      wrk: {requests} requests, {non2xx} non-2xx {errors}")
        check(non2xx == 0 and not errors, "every request answered 2xx while the log fails")
        status, _, _, _ = request(demo.port, "GET", "/", cookie)
        check(status == 200, "the app still answers")
        stderr = demo.stderr()
        says = stderr.count("cannot write the log")
        check(says == 1, f"stderr says once that the log cannot be written (said {says} times)")
        # Make room again: the next batch is written and stderr says so.
        for name in os.listdir(mnt):
            os.truncate(os.path.join(mnt, name), 0)
        for _ in range(20):
            request(demo.port, "GET", "/", cookie)
        time.sleep(0.5)
        check("works again" in demo.stderr(), "stderr says when writing works again")
        check("panicked" not in demo.stderr(), "no panic on the demo's stderr")
    finally:
        if demo:
            demo.stop()
        subprocess.run(["umount", mnt])


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    binary = os.path.abspath(sys.argv[1])
    wanted = sys.argv[2:] or ["redis-kill", "redis-slow", "log-full"]
    for tool in ["wrk", "redis-server", "redis-cli"]:
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (apt-get install wrk redis-server)")
    work = tempfile.mkdtemp(prefix="canister-faults-")
    try:
        for name in wanted:
            {"redis-kill": lambda: redis_kill(binary, work),
             "redis-slow": lambda: redis_slow(binary, work),
             "log-full": lambda: log_full(binary, work)}[name]()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if FAILED:
        print(f"{len(FAILED)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
