#!/usr/bin/env python3
"""make bench: a large simulated Confluence, synced twice in one run -- with our defaults and
with the older Go connector's request pattern (sequential, page size 100) -- plus the time from
process start to the first request with a warm component cache. Prints a table and writes it
into BENCHMARKS.md. Sizes and latencies can be changed with BENCH_DATA and BENCH_LATENCY_MS (a
comma-separated list: one pair of runs, and one table, per latency).

The HTTPS part syncs a smaller dataset (BENCH_TLS_DATA) from the simulator over TLS with a private
CA, with pooled connections (our defaults) and with a new connection per request (the hidden
--no-connection-reuse, how the host sent before pooling), and counts the simulator's TLS
handshakes. BENCH_PARTS=https runs only that part and replaces only its section of BENCHMARKS.md."""

import os, platform, re, socket, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = os.path.join(ROOT, "target", "release", "baton-confluence-datacenter")
SIM = os.path.join(ROOT, "target", "release", "confluence-sim")
OUT = os.path.join(ROOT, "target", "bench")
DATA = os.environ.get("BENCH_DATA", "50000,5000,1000000,2000")
LATENCIES_MS = [int(ms) for ms in os.environ.get("BENCH_LATENCY_MS", "5,20").split(",")]
TLS_DATA = os.environ.get("BENCH_TLS_DATA", "5000,500,100000,200")
TLS_LATENCY_MS = int(os.environ.get("BENCH_TLS_LATENCY_MS", "5"))
PARTS = os.environ.get("BENCH_PARTS", "plain,https").split(",")
HTTPS_BEGIN, HTTPS_END = "<!-- https: begin -->", "<!-- https: end -->"


def start_simulator(latency_ms, data=DATA, extra=()):
    sim = subprocess.Popen([SIM, "--port", "0", "--bench", data, "--latency-ms", str(latency_ms),
                            "--max-limit", "1000", "--version", "9.2.0", *extra],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = sim.stdout.readline()
    match = re.search(r"listening on (\S+) \(admin token: ([^,]+),", line)
    if not match:
        sim.kill()
        sys.exit(f"the simulator did not start: {line}")
    return sim, match.group(1), match.group(2)


def run_sync(name, base_url, token, extra):
    """Runs one sync; returns wall seconds, the summary numbers, the host's peak RSS (MiB) and
    the file size."""
    path = os.path.join(OUT, f"{name}.c1z")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(BATON_HOSTNAME=base_url, BATON_ACCESS_TOKEN=token, BATON_LOG_LEVEL="warn", BATON_LOG_FORMAT="json")
    out_path, err_path = os.path.join(OUT, f"{name}.out"), os.path.join(OUT, f"{name}.err")
    started = time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        child = subprocess.Popen([HOST, "--file", path] + extra, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    stdout, stderr = open(out_path).read(), open(err_path).read()
    if status != 0:
        sys.exit(f"{name} sync failed:\n{stderr[-2000:]}")
    numbers = {k: int(v) for v, k in re.findall(r"(\d+) (requests|retries|grants|entitlements)", stdout)}
    return {"wall": wall, "requests": numbers.get("requests", 0), "retries": numbers.get("retries", 0),
            "grants": numbers.get("grants", 0), "size": os.path.getsize(path), "summary": stdout.strip(),
            "rss_mib": usage.ru_maxrss / 1024}


def first_request_ms(samples=7):
    """Process start to the first byte of the first request, warm cache, median of `samples`."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    times = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(BATON_HOSTNAME=f"http://127.0.0.1:{port}", BATON_ACCESS_TOKEN="x", BATON_LOG_LEVEL="error")
    for i in range(samples + 1):
        started = time.monotonic()
        child = subprocess.Popen([HOST, "--file", os.path.join(OUT, "first.c1z")], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conn, _ = listener.accept()
        conn.recv(1)
        elapsed = (time.monotonic() - started) * 1000
        conn.sendall(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        conn.close()
        child.wait()
        if i > 0:  # the first run warms the compile cache
            times.append(elapsed)
    times.sort()
    return times[len(times) // 2]


def stop_simulator(sim):
    """Stops the simulator and returns its closing line's counts (requests, connections, handshakes)."""
    sim.terminate()
    out, _ = sim.communicate(timeout=30)
    match = re.search(r"(\d+) requests, (\d+) connections, (\d+) TLS handshakes", out)
    return tuple(int(n) for n in match.groups()) if match else (0, 0, 0)


def measure_https():
    """One simulator over TLS; pooled against a connection per request; the section's lines."""
    tls_dir = os.path.join(OUT, "tls")
    rows, runs = [], {}
    for name, extra in (("https-pooled", []), ("https-per-request", ["--no-connection-reuse"])):
        sim, base_url, token = start_simulator(TLS_LATENCY_MS, TLS_DATA, ["--tls-dir", tls_dir])
        try:
            run = run_sync(name, base_url, token, ["--ca-file", os.path.join(tls_dir, "ca.pem")] + extra)
        finally:
            requests, connections, handshakes = stop_simulator(sim)
        run.update(server_requests=requests, connections=connections, handshakes=handshakes)
        runs[name] = run
    a, b = runs["https-pooled"], runs["https-per-request"]
    rows = [
        ("wall time (s)", f"{a['wall']:.1f}", f"{b['wall']:.1f}", f"{b['wall'] / a['wall']:.1f}x"),
        ("requests (server count)", str(a["server_requests"]), str(b["server_requests"]), ""),
        ("TCP connections", str(a["connections"]), str(b["connections"]), f"{b['connections'] / max(a['connections'], 1):.0f}x"),
        ("TLS handshakes", str(a["handshakes"]), str(b["handshakes"]), f"{b['handshakes'] / max(a['handshakes'], 1):.0f}x"),
        ("grants written", str(a["grants"]), str(b["grants"]), ""),
        ("peak RSS of the host (MiB)", f"{a['rss_mib']:.0f}", f"{b['rss_mib']:.0f}", ""),
    ]
    users, groups, memberships, spaces = TLS_DATA.split(",")
    lines = [HTTPS_BEGIN, f"### HTTPS: pooled connections against a connection per request ({TLS_LATENCY_MS} ms added)", "",
             f"Measured on {time.strftime('%Y-%m-%d')}. The simulator serves TLS (HTTP/2 and HTTP/1.1 by ALPN) with a",
             f"certificate from a private CA made at its start (trusted with `--ca-file`); {users} users, {groups} groups,",
             f"{memberships} memberships, {spaces} spaces. (a) is our defaults: one pooled client for the sync, keep-alive,",
             "HTTP/2 when offered. (b) is the hidden `--no-connection-reuse`: HTTP/1.1 and a new TCP connection and TLS",
             "handshake for every request, which is how the host sent before pooling. Handshakes are counted by the simulator.", "",
             "| measure | (a) pooled | (b) a connection per request | (b)/(a) |", "|---|---|---|---|"]
    lines += [f"| {w} | {x} | {y} | {z} |" for w, x, y, z in rows]
    lines += ["", HTTPS_END, ""]
    print("\n".join(lines), flush=True)
    return lines


def replace_https_section(lines):
    """Puts the HTTPS section into BENCHMARKS.md, replacing the earlier one."""
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    section = "\n".join(lines)
    if HTTPS_BEGIN in text and HTTPS_END in text:
        start, end = text.index(HTTPS_BEGIN), text.index(HTTPS_END) + len(HTTPS_END) + 1
        text = text[:start] + section + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def measure(latency_ms):
    """Both runs against one simulator with `latency_ms` added to every answer; the table rows."""
    sim, base_url, token = start_simulator(latency_ms)
    try:
        ours = run_sync("ours", base_url, token, [])
        go_like = run_sync("go-pattern", base_url, token, ["--page-size", "100", "--concurrency", "1"])
    finally:
        sim.kill()
    rows = [
        ("wall time (s)", f"{ours['wall']:.1f}", f"{go_like['wall']:.1f}", f"{go_like['wall'] / ours['wall']:.1f}x"),
        ("requests", str(ours["requests"]), str(go_like["requests"]), f"{go_like['requests'] / max(ours['requests'], 1):.1f}x"),
        ("retries", str(ours["retries"]), str(go_like["retries"]), ""),
        ("grants written", str(ours["grants"]), str(go_like["grants"]), ""),
        ("peak RSS of the host (MiB)", f"{ours['rss_mib']:.0f}", f"{go_like['rss_mib']:.0f}", ""),
        (".c1z size (MiB)", f"{ours['size'] / 2**20:.1f}", f"{go_like['size'] / 2**20:.1f}", ""),
    ]
    table = [f"### {latency_ms} ms added to every response", "",
             "| measure | (a) our defaults | (b) Go connector's pattern | (b)/(a) |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    table += ["", "Final summary lines:", "", f"- (a) `{ours['summary']}`", f"- (b) `{go_like['summary']}`", ""]
    print("\n".join(table), flush=True)
    return table


def main():
    os.makedirs(OUT, exist_ok=True)
    https = measure_https() if "https" in PARTS else []
    if "plain" not in PARTS:
        replace_https_section(https)
        print("HTTPS section written to BENCHMARKS.md")
        return
    tables = [line for latency_ms in LATENCIES_MS for line in measure(latency_ms)]
    warm_ms = first_request_ms()
    users, groups, memberships, spaces = DATA.split(",")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, {platform.platform()}"
    text = "\n".join([
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {time.strftime('%Y-%m-%d')}; machine: {machine}.",
        "",
        "Dataset (simulator, Confluence 9.2 profile, server clamps pages at 1000):",
        f"{users} users, {groups} groups sharing {memberships} memberships, {spaces} spaces with 6-7 permission rows each.",
        "(a) is `baton-confluence-datacenter` with its defaults (page size 1000, 8 instances). (b) is the same binary",
        "with `--page-size 100 --concurrency 1`: one request at a time with 100 items a page, the request pattern of the",
        "older Go connector (which also stops on short pages; here pages are never short, so it reads the same data).",
        "Release builds; all runs in one session, each pair against the same simulator.",
        "",
        *tables,
        f"Process start to first request, warm component cache (median of 7): **{warm_ms:.1f} ms**.",
        "",
        *https,
    ])
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write(text)
    print(f"start to first request (warm): {warm_ms:.1f} ms")
    print("written to BENCHMARKS.md")


if __name__ == "__main__":
    main()
