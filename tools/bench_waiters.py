#!/usr/bin/env python3
"""bench_waiters.py — waiting clients on a running unsd's gateway.

Parks N long polls (GET /beta/me/notifications/delta?wait=60) or N event
streams (the same with Accept: text/event-stream) over N/PER users, from
source addresses spread over 127.0.0.0/8 so ports never run out, or N RPC
long polls (Fetch, cursor latest, wait 60 s; --mode rpc --rpc
tcp://HOST:PORT: SP over TCP spoken here, --per-conn calls on each
connection as libuns multiplexes them), then measures on the server
process (--pid):

  accept    the time from the first connect to all N parked (unsd's
            uns_long_polls_waiting, less the gateway's shared waits
            uns_http_feed_waits, plus its parked long polls
            uns_http_long_polls_parked)
  RSS       the server's VmRSS growth per waiting client, and once they
            left and their waits ended (is the memory returned?)
  idle CPU  the server's CPU per second while all N wait and nothing happens
  healthz   p50/p99 of GET /healthz, and of a short delta of another user,
            while all N wait (one keep-alive connection, sequential)
  wake      p50/p99 from a Post (sent by this script) to each of its user's
            waiters getting the change, for --wakes users, and the server's
            CPU per woken client beside the same Posts to users nobody waits
            for (the baseline, measured first in the same run)

Standard library only (asyncio, ssl). Tokens are minted here with the
server's HS256 development secret (--secret-file). Example:

  tools/bench_waiters.py --base http://127.0.0.1:8080 --pid $(pidof unsd) \
      --secret-file uns-data/jwt-hs256.secret --n 10000 --mode poll
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import resource
import ssl
import statistics
import struct
import time
import urllib.parse

HOST = "bench.example.com"
TICK = os.sysconf("SC_CLK_TCK")


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint(secret, sub):
    now = int(time.time())
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": sub, "aud": "uns", "iat": now - 5,
                           "exp": now + 3600, "scp": "Notifications.ReadWrite",
                           "uns_host": HOST}).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def read_secret(path):
    s = open(path, "rb").read()
    if s.startswith(b"hs256:"):
        s = s[6:]
    return s[:-1] if s.endswith(b"\n") else s


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")


class Target:
    def __init__(self, a):
        u = urllib.parse.urlparse(a.base)
        self.host, self.port = u.hostname, u.port
        self.ctx = None
        if u.scheme == "https":
            self.ctx = ssl.create_default_context(cafile=a.ca)
            self.ctx.check_hostname = False

    async def connect(self, i=None):
        local = None
        if i is not None:  # 127.x.y.z, z in 1..250: ports never run out
            local = (f"127.{1 + i // 62500 % 250}.{i // 250 % 250}."
                     f"{1 + i % 250}", 0)
        return await asyncio.open_connection(
            self.host, self.port, ssl=self.ctx, local_addr=local,
            server_hostname="localhost" if self.ctx else None)


def request(method, path, token=None, body=None, extra=""):
    h = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}"
    if token:
        h += f"Authorization: Bearer {token}\r\n"
    if body is not None:
        h += ("Content-Type: application/json\r\n"
              f"Content-Length: {len(body)}\r\n")
    return (h + "\r\n").encode() + (body.encode() if body else b"")


async def read_answer(r):
    """One HTTP answer (Content-Length or chunked); (status, body)."""
    line = await r.readline()
    status = int(line.split()[1])
    clen, chunked = 0, False
    while True:
        h = await r.readline()
        if h in (b"\r\n", b""):
            break
        k, _, v = h.decode().partition(":")
        if k.lower() == "content-length":
            clen = int(v)
        if k.lower() == "transfer-encoding" and "chunked" in v:
            chunked = True
    if not chunked:
        return status, await r.readexactly(clen)
    body = b""
    while True:
        n = int((await r.readline()).strip(), 16)
        if n == 0:
            await r.readline()
            return status, body
        body += await r.readexactly(n)
        await r.readline()


# ---- RPC: protobuf fields written by hand, NNG's SP framing over TCP ----

def pb_varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_field(num, v):
    if isinstance(v, int):
        return pb_varint(num << 3) + pb_varint(v)
    v = v.encode() if isinstance(v, str) else v
    return pb_varint(num << 3 | 2) + pb_varint(len(v)) + v


def rpc_fetch(token, rid):
    """A RequestEnvelope of Fetch(cursor latest, wait 60 s)."""
    req = pb_field(2, "latest") + pb_field(4, 60000)
    md = pb_field(1, "authorization") + pb_field(2, "Bearer " + token)
    return (pb_field(1, "/uns.v1.Notifications/Fetch")
            + pb_field(2, f"bench-{rid}") + pb_field(3, 90000)
            + pb_field(4, md) + pb_field(5, req))


async def rpc_conn(host, port, i, waiters, sem):
    """One SP connection (req0 to rep0) carrying these waiters' polls."""
    local = (f"127.{1 + i // 62500 % 250}.{i // 250 % 250}."
             f"{1 + i % 250}", 0)
    async with sem:
        r, w = await asyncio.open_connection(host, port, local_addr=local)
        w.write(b"\x00SP\x00\x00\x30\x00\x00")  # req0
        await w.drain()
        hello = await r.readexactly(8)
        assert hello[:4] == b"\x00SP\x00", hello
    for wt in waiters:
        wt.w = w
    by_id = {}
    for k, wt in enumerate(waiters):
        rid = 0x80000000 | (i * 65536 + k) & 0x7FFFFFFF
        by_id[rid] = wt
        body = struct.pack(">I", rid) + rpc_fetch(wt.token, rid)
        w.write(struct.pack(">Q", len(body)) + body)
    await w.drain()
    try:
        while by_id:
            n = struct.unpack(">Q", await r.readexactly(8))[0]
            body = await r.readexactly(n)
            wt = by_id.pop(struct.unpack(">I", body[:4])[0], None)
            if wt is not None:
                wt.got = time.monotonic()
    except Exception:
        pass


class Waiter:
    def __init__(self, user, token):
        self.user, self.token = user, token
        self.got = None  # time the change arrived
        self.w = None


async def park(t, i, wt, mode, sem):
    async with sem:
        r, w = await t.connect(i)
    wt.w = w
    path = "/beta/me/notifications/delta?$deltatoken=latest"
    if mode == "poll":
        # A client's loop: a wait that ran out empty (a slow TLS park
        # takes longer than the 60 s wait) polls again from its link.
        try:
            while True:
                w.write(request("GET", path + "&wait=60", wt.token))
                await w.drain()
                _, body = await read_answer(r)
                ans = json.loads(body)
                if ans.get("value"):
                    wt.got = time.monotonic()
                    return
                link = ans.get("@odata.deltaLink", "")
                q = urllib.parse.urlparse(link).query
                tok = urllib.parse.parse_qs(q).get("$deltatoken", ["latest"])
                path = ("/beta/me/notifications/delta?$deltatoken="
                        + urllib.parse.quote(tok[0]))
        except Exception:
            pass
        return
    w.write(request("GET", path, wt.token,
                    extra="Accept: text/event-stream\r\n"))
    await w.drain()
    try:
        while True:
            line = await r.readline()
            if not line:
                return
            if line.startswith(b"event: notification"):
                wt.got = time.monotonic()
                return
    except Exception:
        pass


async def metrics(t, names):
    for attempt in range(10):  # a loaded server may cut a slow one
        try:
            r, w = await t.connect()
            w.write(request("GET", "/metrics",
                            extra="Connection: close\r\n"))
            await w.drain()
            _, body = await read_answer(r)
            w.close()
            break
        except (OSError, IndexError, asyncio.IncompleteReadError):
            await asyncio.sleep(0.5)
    else:
        raise SystemExit("/metrics does not answer")
    got = {}
    for line in body.decode().splitlines():
        k, _, v = line.partition(" ")
        if k in names:
            got[k] = float(v.split()[0])
    return [got.get(k, 0.0) for k in names]


async def waiting(t):
    """Clients waiting: unsd's parked calls, less the upstream waits the
    gateway's parked long polls share (one per feed), plus those polls."""
    unsd, shared, parked = await metrics(
        t, ["uns_long_polls_waiting", "uns_http_feed_waits",
            "uns_http_long_polls_parked"])
    return unsd - shared + parked


async def timed(t, reqs):
    """Sequential requests on one keep-alive connection; latencies, ms."""
    r, w = await t.connect()
    out = []
    for q in reqs:
        t0 = time.monotonic()
        w.write(q)
        await w.drain()
        st, _ = await read_answer(r)
        assert st == 200, st
        out.append((time.monotonic() - t0) * 1e3)
    w.close()
    return out


async def posts(t, tokens):
    """One Post per token, sequential on one connection; send times."""
    r, w = await t.connect()
    sent = []
    for k, tok in enumerate(tokens):
        body = json.dumps({"targetHostName": HOST,
                           "appNotificationId": f"b{k}-{time.time_ns()}",
                           "payload": {"visualContent": {"title": "x"}}})
        sent.append(time.monotonic())
        w.write(request("POST", "/beta/me/notifications", tok, body))
        await w.drain()
        st, b = await read_answer(r)
        assert st == 201, (st, b[:200])
    w.close()
    return sent


async def main(a):
    secret = read_secret(a.secret_file)
    t = Target(a)
    pid = a.pid
    users = max(1, a.n // a.per_user)
    tokens = [mint(secret, f"w{u}") for u in range(users)]
    waiters = [Waiter(i // a.per_user, tokens[i // a.per_user])
               for i in range(a.n)]
    base_waiting = await waiting(t)
    rss0, cpu0 = rss_kib(pid), cpu_s(pid)
    sem = asyncio.Semaphore(a.connect_batch)
    t0 = time.monotonic()
    if a.mode == "rpc":
        u = urllib.parse.urlparse(a.rpc)
        k = a.per_conn
        tasks = [asyncio.create_task(
            rpc_conn(u.hostname, u.port, i // k, waiters[i:i + k], sem))
            for i in range(0, a.n, k)]
    else:
        tasks = [asyncio.create_task(park(t, i, wt, a.mode, sem))
                 for i, wt in enumerate(waiters)]
    while await waiting(t) < base_waiting + a.n:
        await asyncio.sleep(0.05)
        if time.monotonic() - t0 > a.park_limit:
            raise SystemExit(f"not all parked in {a.park_limit:.0f} s")
    accept = time.monotonic() - t0
    cpu_accept = cpu_s(pid) - cpu0
    upstream, shared = await metrics(
        t, ["uns_long_polls_waiting", "uns_http_feed_waits"])
    await asyncio.sleep(1)
    rss1 = rss_kib(pid)
    cpu1 = cpu_s(pid)
    await asyncio.sleep(a.idle)
    idle_cpu = (cpu_s(pid) - cpu1) / a.idle

    other = mint(secret, "someone-else")
    hz = await timed(t, [request("GET", "/healthz")] * a.samples)
    dl = await timed(t, [request("GET", "/beta/me/notifications/delta",
                                 other)] * a.samples)

    # Baseline: Posts to users nobody waits for, then to waiting users.
    nobody = [mint(secret, f"nobody{k}") for k in range(a.wakes)]
    c0 = cpu_s(pid)
    await posts(t, nobody)
    cpu_base = cpu_s(pid) - c0
    woken = tokens[:min(a.wakes, users)]
    c0 = cpu_s(pid)
    sent = await posts(t, woken)
    deadline = time.monotonic() + 30
    wanted = [w for w in waiters if w.user < len(woken)]
    while (any(w.got is None for w in wanted)
           and time.monotonic() < deadline):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    cpu_wake = cpu_s(pid) - c0
    lat = [(w.got - sent[w.user]) * 1e3 for w in wanted if w.got]
    n_woken = len(lat)

    t_hup = time.monotonic()
    for w in waiters:
        if w.w:
            w.w.close()
    for k in tasks:
        k.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # A client that hangs up ends its wait at once (the gateway's and the
    # RPC server's hang-up watch): the time until none is left parked.
    while (await waiting(t) > base_waiting
           and time.monotonic() - t_hup < 120):
        await asyncio.sleep(0.1)
    t_gone = time.monotonic() - t_hup
    await asyncio.sleep(2)
    rss2 = rss_kib(pid)

    scheme = "rpc" if a.mode == "rpc" else "https" if t.ctx else "http"
    print(f"mode={a.mode} scheme={scheme} n={a.n} users={users}")
    print(f"accept: {accept:.2f} s for {a.n} ({accept / a.n * 1e3:.3f} ms "
          f"each), server CPU {cpu_accept / a.n * 1e6:.0f} us per client")
    print(f"RSS: {rss0} -> {rss1} KiB parked: "
          f"{(rss1 - rss0) / a.n * 1024:.0f} B per waiting client; "
          f"{rss2} KiB after they left and their waits ended "
          f"({t_gone:.1f} s after the hang-up)")
    print(f"upstream: {upstream:.0f} waits in unsd, {shared:.0f} of them "
          f"shared by the gateway's parked long polls")
    print(f"idle CPU while parked: {idle_cpu * 100:.2f} % of a core")
    print(f"/healthz p50 {pct(hz, .5):.2f} p99 {pct(hz, .99):.2f} ms; "
          f"short delta p50 {pct(dl, .5):.2f} p99 {pct(dl, .99):.2f} ms "
          f"({a.samples} each)")
    print(f"Post->waiter: {n_woken} of {len(wanted)} woken, p50 "
          f"{pct(lat, .5):.2f} p99 {pct(lat, .99):.2f} ms")
    per_post = cpu_base / len(nobody) * 1e6
    extra = (cpu_wake - cpu_base * len(woken) / len(nobody))
    print(f"CPU: {per_post:.0f} us per Post nobody waits for (baseline); "
          f"{cpu_wake / len(woken) * 1e6:.0f} us per Post with "
          f"{a.per_user} waiters; {extra / max(1, n_woken) * 1e6:.0f} us "
          f"per woken client (clock ticks of 1/{TICK} s)")


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--secret-file", required=True)
    p.add_argument("--ca")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--mode", choices=["poll", "sse", "rpc"], default="poll")
    p.add_argument("--rpc", help="tcp://HOST:PORT of unsd, for --mode rpc")
    p.add_argument("--per-conn", type=int, default=100,
                   help="RPC long polls per connection (--mode rpc)")
    p.add_argument("--per-user", type=int, default=4)
    p.add_argument("--wakes", type=int, default=200)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--idle", type=float, default=3)
    p.add_argument("--connect-batch", type=int, default=200)
    p.add_argument("--park-limit", type=float, default=300,
                   help="seconds to park all N (TLS on a loaded machine "
                   "takes longer)")
    asyncio.run(main(p.parse_args()))
