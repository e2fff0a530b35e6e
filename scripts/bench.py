#!/usr/bin/env python3
"""make bench: a large simulated Confluence, synced twice in one run -- with our defaults and
with the older Go connector's request pattern (sequential, page size 100) -- plus the time from
process start to the first request with a warm component cache. Prints a table and writes it
into BENCHMARKS.md. Sizes and latencies can be changed with BENCH_DATA and BENCH_LATENCY_MS (a
comma-separated list: one pair of runs, and one table, per latency).

The HTTPS part syncs a smaller dataset (BENCH_TLS_DATA) from the simulator over TLS with a private
CA, with pooled connections (our defaults) and with a new connection per request (the hidden
--no-connection-reuse, how the host sent before pooling), and counts the simulator's TLS
handshakes.

The tenants part runs `serve --tenants FILE --once`: one small tenant alone, then BENCH_TENANTS
(100) small tenants (BENCH_TENANT_DATA each) spread over BENCH_TENANT_SIMS simulators, for wall
time, peak RSS and per-tenant sync times; then two honest tenants (BENCH_FAIR_DATA each, large
enough that a lone sync takes a second or more) alone and beside hostile probe components
(endless loop, memory bomb, trap, forbidden egress, request flood), BENCH_FAIR_REPEAT times
each, for the honest tenants' median slowdown and its spread.

The peer part (when ../shared/peers/install.sh is there) runs both real Go connector releases
(January 2025 and the newest) and ours on
the same simulated site (BENCH_PEER_DATA, served at the root, plain names, pages not clamped: the
conditions the Go connector completes under) at each of BENCH_PEER_LATENCY_MS, each run against a
fresh simulator that counts its requests, and compares the files with the official baton CLI's
`stats`. Each program runs BENCH_PEER_REPEAT times (3); the tables show the median run and the
spread of the wall times.

The growth part syncs three sizes (BENCH_GROWTH_DATA: 10k, 100k and 1M memberships, at
BENCH_GROWTH_LATENCY_MS) with ours and, up to BENCH_GROWTH_GO_MAX memberships, the Go connector:
a table of wall time and peak RSS against size, the slope between sizes, and a chart
(docs/bench/growth.svg).

The soak part runs the soak tests of the end-to-end suite long (SOAK_TASKS service-mode tasks,
SOAK_SYNCS scheduled syncs of 20 tenants) against the release binary, and tabulates the resident
memory and open files they sampled, by tenth of the run.

BENCH_PARTS (plain,https,tenants,peer,growth,soak by default) picks the parts; without `plain` only the chosen
parts' sections of BENCHMARKS.md are replaced."""

import os, platform, re, shutil, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = os.path.join(ROOT, "target", "release", "baton-confluence-datacenter")
SIM = os.path.join(ROOT, "target", "release", "confluence-sim")
OUT = os.path.join(ROOT, "target", "bench")
DATA = os.environ.get("BENCH_DATA", "50000,5000,1000000,2000")
LATENCIES_MS = [int(ms) for ms in os.environ.get("BENCH_LATENCY_MS", "5,20").split(",")]
TLS_DATA = os.environ.get("BENCH_TLS_DATA", "5000,500,100000,200")
TLS_LATENCY_MS = int(os.environ.get("BENCH_TLS_LATENCY_MS", "5"))
PARTS = os.environ.get("BENCH_PARTS", "plain,https,tenants,peer,growth,soak").split(",")
SOAK_TASKS = int(os.environ.get("SOAK_TASKS", "2000"))
SOAK_SYNCS = int(os.environ.get("SOAK_SYNCS", "500"))
SOAK_BEGIN, SOAK_END = "<!-- soak: begin -->", "<!-- soak: end -->"
PEER_DATA = os.environ.get("BENCH_PEER_DATA", "5000,500,100000,200")
PEER_LATENCIES_MS = [int(ms) for ms in os.environ.get("BENCH_PEER_LATENCY_MS", "0,5").split(",")]
PEER_REPEAT = int(os.environ.get("BENCH_PEER_REPEAT", "3"))
PEERS_INSTALL = os.path.join(ROOT, "..", "shared", "peers", "install.sh")
PEER_BEGIN, PEER_END = "<!-- peer: begin -->", "<!-- peer: end -->"
GROWTH_DATA = os.environ.get("BENCH_GROWTH_DATA", "500,50,10000,20;5000,500,100000,200;50000,5000,1000000,2000").split(";")
GROWTH_LATENCY_MS = int(os.environ.get("BENCH_GROWTH_LATENCY_MS", "0"))
GROWTH_GO_MAX = int(os.environ.get("BENCH_GROWTH_GO_MAX", "100000"))
GROWTH_BEGIN, GROWTH_END = "<!-- growth: begin -->", "<!-- growth: end -->"
# Written by hand from a profile (see the section); the benchmark keeps it as it is.
PROFILE_BEGIN, PROFILE_END = "<!-- profile: begin -->", "<!-- profile: end -->"
GROWTH_SVG = os.path.join(ROOT, "docs", "bench", "growth.svg")
TENANTS = int(os.environ.get("BENCH_TENANTS", "100"))
TENANT_DATA = os.environ.get("BENCH_TENANT_DATA", "200,20,1000,10")
TENANT_SIMS = int(os.environ.get("BENCH_TENANT_SIMS", "10"))
TENANT_LATENCY_MS = int(os.environ.get("BENCH_TENANT_LATENCY_MS", "5"))
TENANT_SYNCS = int(os.environ.get("BENCH_TENANT_SYNCS", "8"))
FAIR_DATA = os.environ.get("BENCH_FAIR_DATA", "2000,200,40000,80")
FAIR_LATENCY_MS = int(os.environ.get("BENCH_FAIR_LATENCY_MS", "25"))
FAIR_REPEAT = int(os.environ.get("BENCH_FAIR_REPEAT", "5"))
PROBE = os.path.join(ROOT, "target", "wasm32-wasip2", "guest", "probe_guest.wasm")
HTTPS_BEGIN, HTTPS_END = "<!-- https: begin -->", "<!-- https: end -->"
TENANTS_BEGIN, TENANTS_END = "<!-- tenants: begin -->", "<!-- tenants: end -->"


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


GNU_TIME = "/usr/bin/time"


def spawn_measured(argv, **popen):
    """Starts `argv` under GNU time, which records the child's own peak RSS; returns the child and
    a function of its rusage that gives that peak in MiB. Without it a child's ru_maxrss is not
    its own: Linux keeps the RSS high-water mark of the forked copy of this process across exec,
    so once the benchmark has held a large JSON document every later child reported this
    process's size (1997 MiB for every sync of one run)."""
    if not os.path.exists(GNU_TIME):
        return subprocess.Popen(argv, **popen), lambda usage: usage.ru_maxrss / 1024
    fd, rss_file = tempfile.mkstemp(prefix="rss-", dir=OUT)
    os.close(fd)
    child = subprocess.Popen([GNU_TIME, "-q", "-f", "%M", "-o", rss_file, *argv], **popen)

    def peak_mib(usage):
        lines = open(rss_file).read().split()
        os.remove(rss_file)
        return int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else usage.ru_maxrss / 1024
    return child, peak_mib


def fresh_output(path, replacing=False):
    """The output of a run. A first ("fresh") run starts from no file; a replacing run is the
    same sync run again into the file the fresh run wrote, as a daily sync replaces yesterday's
    (with the default flags, which keep the previous sync beside the new one for `baton diff`;
    the Go connectors keep theirs too)."""
    if replacing:
        if not os.path.exists(path):
            sys.exit(f"a replacing run needs the file of its fresh run: {path}")
    elif os.path.exists(path):
        os.remove(path)
    return path


def require_previous_kept(name, err_path):
    """Exits when our replacing run `name` did not keep the previous sync (its log says why, for
    example a full disk): its figures would be a fresh run's under the replacing label."""
    for line in open(err_path):
        if "is not kept beside the new one" in line:
            sys.exit(f"{name}: the replacing run did not keep the previous sync, so it measured something else:\n{line.strip()}")


def run_sync(name, base_url, token, extra, replacing=False):
    """Runs one sync; returns wall seconds, the summary numbers, the host's peak RSS (MiB) and
    the file size."""
    path = fresh_output(os.path.join(OUT, f"{name}.c1z"), replacing)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(BATON_HOSTNAME=base_url, BATON_ACCESS_TOKEN=token, BATON_LOG_LEVEL="warn", BATON_LOG_FORMAT="json")
    out_path, err_path = os.path.join(OUT, f"{name}.out"), os.path.join(OUT, f"{name}.err")
    started = time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        child, peak_mib = spawn_measured([HOST, "--file", path] + extra, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    stdout, stderr = open(out_path).read(), open(err_path).read()
    if status != 0:
        sys.exit(f"{name} sync failed:\n{stderr[-2000:]}")
    if replacing:
        require_previous_kept(name, err_path)
    numbers = {k: int(v) for v, k in re.findall(r"(\d+) (requests|retries|grants|entitlements)", stdout)}
    return {"wall": wall, "requests": numbers.get("requests", 0), "retries": numbers.get("retries", 0),
            "grants": numbers.get("grants", 0), "size": os.path.getsize(path), "summary": stdout.strip(),
            "rss_mib": peak_mib(usage)}


def run_program(name, argv, env):
    """Runs `argv` with `env` to the end; wall seconds and peak RSS (MiB). Exits on failure."""
    err_path = os.path.join(OUT, f"{name}.err")
    started = time.monotonic()
    with open(os.path.join(OUT, f"{name}.out"), "w") as out, open(err_path, "w") as err:
        child, peak_mib = spawn_measured(argv, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    if status != 0:
        sys.exit(f"{name} failed:\n{open(err_path).read()[-2000:]}")
    return wall, peak_mib(usage)


def json_grants_cost(path):
    """`grants -o json` of `path` printed to nowhere: wall seconds and peak RSS (MiB)."""
    started = time.monotonic()
    child, peak_mib = spawn_measured([HOST, "grants", "-f", path, "-o", "json"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        sys.exit(f"grants -o json of {path} failed:\n{child.stderr.read().decode()[-2000:]}")
    return time.monotonic() - started, peak_mib(usage)


def install_peers():
    """The folder with the official baton CLI and the Go connector, or None when not at hand."""
    if not os.path.exists(PEERS_INSTALL):
        return None
    folder = subprocess.run([PEERS_INSTALL, os.path.join(ROOT, "target", "peers")], check=True,
                            capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return folder


def baton_stats(baton, path):
    """`baton stats` of a file: {type or kind: count}."""
    text = subprocess.run([baton, "stats", "-f", path], check=True, capture_output=True, text=True).stdout
    counts = {}
    for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 2 and cells[1].isdigit():
            counts[cells[0]] = int(cells[1])
    return counts


def peer_run(who, peers, latency_ms, data=PEER_DATA, replacing=False):
    """One sync by `who` (go, go-newest, ours, or ours-PROFILE under --compat PROFILE) against a
    fresh simulator, from no file or `replacing` the file of its last run: wall, RSS, requests,
    size, stats."""
    sim, base_url, token = start_simulator(latency_ms, data)
    name = f"peer-{who}-{latency_ms}ms-{data.split(',')[2]}"
    path = os.path.join(OUT, f"{name}.c1z")
    if replacing:
        # A copy of the fresh run's file, replaced: the fresh one stays for the checks made on it later.
        name += "-replacing"
        shutil.copyfile(path, os.path.join(OUT, f"{name}.c1z"))
        path = os.path.join(OUT, f"{name}.c1z")
    path = fresh_output(path, replacing)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    try:
        if who == "go":
            argv = [os.path.join(peers, "baton-confluence-datacenter"), "--hostname", base_url, "--access-token", token, "-f", path]
        elif who == "go-newest":
            # Its default store is a newer format than the baton CLI reads; sqlite is the one it reads.
            argv = [os.path.join(peers, "baton-confluence-datacenter-newest"), "--hostname", base_url, "--access-token", token, "-f", path,
                    "--storage-engine", "sqlite"]
        else:
            env.update(BATON_LOG_LEVEL="warn", BATON_LOG_FORMAT="json")
            argv = [HOST, "--hostname", base_url, "--file", path]
            env.update(BATON_ACCESS_TOKEN=token)
            if who.startswith("ours-"):
                env.update(BATON_COMPAT=who[len("ours-"):])
        wall, rss = run_program(name, argv, env)
        if replacing and who.startswith("ours"):
            require_previous_kept(name, os.path.join(OUT, f"{name}.err"))
    finally:
        requests, _, _ = stop_simulator(sim)
    return {"wall": wall, "rss_mib": rss, "requests": requests, "size": os.path.getsize(path),
            "stats": baton_stats(os.path.join(peers, "baton"), path), "path": path}


def median_of(runs):
    """The run of median wall time, with every run's wall time (`walls`, sorted)."""
    runs = sorted(runs, key=lambda run: run["wall"])
    middle = dict(runs[len(runs) // 2])
    middle["walls"] = [run["wall"] for run in runs]
    return middle


def median_runs(who, peers, latency_ms):
    """PEER_REPEAT pairs of runs of `who`, each against a fresh simulator: a fresh run, then the
    same sync replacing its file; the fresh runs' median run and the replacing runs'."""
    fresh, replacing = [], []
    for _ in range(PEER_REPEAT):
        fresh.append(peer_run(who, peers, latency_ms))
        replacing.append(peer_run(who, peers, latency_ms, replacing=True))
    return median_of(fresh), median_of(replacing)


def wall_cell(run):
    """Median wall time, with the range of the runs when there were several."""
    walls = run["walls"]
    return f"{run['wall']:.1f}" if len(walls) == 1 else f"{run['wall']:.1f} ({walls[0]:.1f}-{walls[-1]:.1f})"


def speedup_cell(peer, mine):
    """How many times faster ours is, on the medians, with the least and most the runs allow."""
    ratio = f"{peer['wall'] / mine['wall']:.1f}x faster"
    if len(peer["walls"]) == 1:
        return ratio
    return f"{ratio} ({peer['walls'][0] / mine['walls'][-1]:.1f}-{peer['walls'][-1] / mine['walls'][0]:.1f}x)"


def ours_only(path):
    """What the Go connector does not write, counted in our file: grants to anonymous access, and
    the site's global permissions (entitlements and grants); (anonymous grants, site grants, site
    entitlements, grants that are either)."""
    def listed(command, key):
        out = subprocess.run([HOST, command, "-f", path, "-o", "json"], check=True, capture_output=True, text=True).stdout
        return [item[key]["id"] for item in __import__("json").loads(out)[command]]
    grants = listed("grants", "grant")
    anonymous = {g for g in grants if g.endswith(":anonymous:anonymous")}
    site = {g for g in grants if g.startswith("site:")}
    site_entitlements = [e for e in listed("entitlements", "entitlement") if e.startswith("site:")]
    return len(anonymous), len(site), len(site_entitlements), len(anonymous | site)


def zstd_levels(c1z_path, go_per_grant, grants):
    """Our file's SQLite compressed at several zstd levels with the zstd CLI (all cores): the
    size and time each costs, against the Go connector's file; the table's lines."""
    if not subprocess.run(["sh", "-c", "command -v zstd"], capture_output=True).stdout:
        return ["(zstd CLI not installed: level table skipped)", ""]
    db = os.path.join(OUT, "levels.sqlite")
    with open(c1z_path, "rb") as f:
        f.read(5)  # the C1ZF magic, then one zstd frame
        subprocess.run(["zstd", "-d", "-q", "-f", "-o", db], input=f.read(), check=True)
    # Our job size for a database this size (host/c1z/src/writer/memory.rs).
    job_mib = 1 if os.path.getsize(db) < 256 << 20 else 4
    lines = [f"zstd levels on our file's database ({os.path.getsize(db) / 2**20:.0f} MiB, every core in {job_mib} MiB jobs as ours; the Go connector's file: "
             f"{go_per_grant:.1f} bytes per grant):", "", "| level | .c1z bytes per grant | seconds |", "|---|---|---|"]
    for level in (1, 3, 6, 9, 12):
        out = db + f".{level}.zst"
        started = time.monotonic()
        subprocess.run(["zstd", "-q", f"-{level}", "-T0", f"-B{job_mib}MiB", "-f", db, "-o", out], check=True)
        seconds = time.monotonic() - started
        lines.append(f"| {level}{' (ours)' if level == 6 else ''} | {os.path.getsize(out) / max(grants, 1):.1f} | {seconds:.2f} |")
        os.remove(out)
    os.remove(db)
    return lines + [""]


def measure_peer():
    """The real Go connector against ours, per latency; the section's lines."""
    peers = install_peers()
    lines = [PEER_BEGIN, "", "## Against the real Go connector", ""]
    if peers is None:
        lines += ["Not measured: ../shared/peers (the Go connector and the baton CLI) is not on this machine.", "", PEER_END]
        print("\n".join(lines), flush=True)
        return lines
    users, groups, memberships, spaces = PEER_DATA.split(",")
    lines += [f"Both Go connector releases (`../shared/peers`: the one of January 2025 on baton-sdk v0.2.18, and the newest public",
              f"one on baton-sdk v0.25.0 writing sqlite) and ours (release build, defaults) on the same",
              f"simulated site: {users} users, {groups} groups sharing {memberships} memberships, {spaces} spaces, Confluence 9.2 profile,",
              "served at the root with plain names and pages not clamped below 100 (the conditions the Go connectors complete",
              "under). Each run has a fresh simulator, which counts the requests. Counts are the official `baton stats` of each file.", ""]
    lines += ["Each Go release is compared with ours under the profile that writes its ids (`--compat`): ours with",
              "`--compat go-2025-01` against the January 2025 release, ours with its default (`go-newest`) against the newest.",
              f"Each program runs {PEER_REPEAT} times; each figure is its run of median wall time, the wall time with the range of",
              "the runs, and the speed-up on the medians with the least and most the runs allow (slowest of ours against",
              "fastest of theirs, and the reverse). \"Fresh\" rows are a first sync into no file; \"replacing\" rows are the same",
              "sync run again into the file the fresh run wrote, the everyday run (each program with its default flags keeps",
              "the previous sync in the file: ours one, for `baton diff`; the Go connectors' SDK its latest ones).", ""]
    stats_seen = {}
    for latency_ms in PEER_LATENCIES_MS:
        (go, go_r), (ours_january, ours_january_r) = median_runs("go", peers, latency_ms), median_runs("ours-go-2025-01", peers, latency_ms)
        (newest, newest_r), (ours, ours_r) = median_runs("go-newest", peers, latency_ms), median_runs("ours", peers, latency_ms)
        stats_seen[latency_ms] = (go["stats"], ours_january["stats"], ours_january["path"], go["size"], newest["stats"])
        grants = lambda run: run["stats"].get("grants", 0)
        per_grant = lambda run: run["size"] / max(grants(run), 1)
        fresh_pairs, replacing_pairs = [(go, ours_january), (newest, ours)], [(go_r, ours_january_r), (newest_r, ours_r)]
        measures = [
            ("wall time (s), fresh", fresh_pairs, wall_cell, speedup_cell),
            ("wall time (s), replacing", replacing_pairs, wall_cell, speedup_cell),
            ("requests", fresh_pairs, lambda r: str(r["requests"]), lambda peer, mine: f"{peer['requests'] / max(mine['requests'], 1):.1f}x fewer"),
            ("peak RSS (MiB), fresh", fresh_pairs, lambda r: f"{r['rss_mib']:.0f}", lambda peer, mine: f"{mine['rss_mib'] / peer['rss_mib']:.2f} of its"),
            ("peak RSS (MiB), replacing", replacing_pairs, lambda r: f"{r['rss_mib']:.0f}", lambda peer, mine: f"{mine['rss_mib'] / peer['rss_mib']:.2f} of its"),
            (".c1z size (MiB), fresh", fresh_pairs, lambda r: f"{r['size'] / 2**20:.2f}", lambda peer, mine: f"{mine['size'] / peer['size']:.2f} of its"),
            (".c1z size (MiB), replacing", replacing_pairs, lambda r: f"{r['size'] / 2**20:.2f}", lambda peer, mine: f"{mine['size'] / peer['size']:.2f} of its"),
            ("grants (baton stats)", fresh_pairs, lambda r: str(grants(r)), lambda peer, mine: ""),
            (".c1z bytes per grant, fresh", fresh_pairs, lambda r: f"{per_grant(r):.1f}", lambda peer, mine: f"{per_grant(mine) / per_grant(peer):.2f} of its"),
        ]
        lines += [f"### {latency_ms} ms added to every response", "",
                  "| measure | Go, January 2025 | ours, go-2025-01 | ours against it | Go, newest | ours, go-newest (default) | ours against it |",
                  "|---|---|---|---|---|---|---|"]
        for name, pairs, value, compare in measures:
            cells = [cell for peer, mine in pairs for cell in (value(peer), value(mine), compare(peer, mine))]
            lines.append(f"| {name} | {' | '.join(cells)} |")
        lines.append("")
    go_stats, our_stats, our_path, go_size, newest_stats = stats_seen[PEER_LATENCIES_MS[0]]
    anonymous, site, site_entitlements, extra = ours_only(our_path)
    lines += zstd_levels(our_path, go_size / max(go_stats.get("grants", 0), 1), our_stats.get("grants", 0))
    lines += ["`baton stats` of the files (the first latency's runs; the note compares ours under go-2025-01 with the January 2025",
              "release, whose entitlements are ours in number; the newest declares only the space permissions someone holds):", "",
              "| type | Go, January 2025 | Go, newest | ours | note |", "|---|---|---|---|---|"]
    for kind in sorted(set(go_stats) | set(our_stats) | set(newest_stats)):
        a, b = go_stats.get(kind), our_stats.get(kind)
        if a == b:
            note = ""
        elif kind == "anonymous":
            note = "ours only: anonymous access, which the Go connector does not write"
        elif kind == "site":
            note = "ours only: the site, whose entitlements are Confluence's global permissions"
        elif kind == "resource_types":
            note = "ours adds the anonymous and site types"
        elif kind == "entitlements" and b - a == site_entitlements:
            note = f"ours adds the site's {site_entitlements} global permissions; the others agree in number"
        elif kind == "grants" and b - a == extra:
            note = (f"ours adds {anonymous} grants to anonymous access and {site} of global permissions "
                    f"({extra} in all); the others agree in number")
        else:
            note = f"DIFFERS ({anonymous} of ours go to anonymous access, {site} are global permissions)"
        n = newest_stats.get(kind)
        lines.append(f"| {kind} | {a if a is not None else '-'} | {n if n is not None else '-'} | {b if b is not None else '-'} | {note} |")
    lines += ["", PEER_END]
    print("\n".join(lines), flush=True)
    return lines


def measure_growth():
    """Ours (and the Go connector up to GROWTH_GO_MAX memberships) at each GROWTH_DATA size: the
    section's lines; writes the chart."""
    peers = install_peers()
    runs = []
    for data in GROWTH_DATA:
        memberships = int(data.split(",")[2])
        ours = peer_run("ours", peers, GROWTH_LATENCY_MS, data) if peers else None
        go = peer_run("go", peers, GROWTH_LATENCY_MS, data) if peers and memberships <= GROWTH_GO_MAX else None
        if ours:
            ours["json_wall"], ours["json_rss_mib"] = json_grants_cost(ours["path"])
        runs.append((data, memberships, ours, go))
    lines = [GROWTH_BEGIN, "", f"## Cost against size ({GROWTH_LATENCY_MS} ms added)", ""]
    if not peers:
        lines += ["Not measured: ../shared/peers (the baton CLI that counts the grants) is not on this machine.", "", GROWTH_END]
        return lines
    lines += ["Each size is the peer part's site scaled (users, groups, memberships, spaces), one fresh simulator per run.",
              f"The Go connector runs up to {GROWTH_GO_MAX} memberships (beyond, it takes longer than this benchmark waits).",
              "The slope is log(time ratio) / log(size ratio) from the size before: 1.0 is linear.", "",
              "![wall time and peak RSS against memberships](docs/bench/growth.svg)", "",
              "The last two columns print our file's grants as JSON (`grants -o json`, to /dev/null): the document is",
              "written item by item, each grant's entitlement and principal looked up in the file, so its peak RSS does not grow with the file.", "",
              "| site (users, groups, memberships, spaces) | grants | ours (s) | slope | ours µs per grant | ours peak RSS (MiB) | Go (s) | Go peak RSS (MiB) | `grants -o json` (s) | its peak RSS (MiB) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    previous = None
    for data, memberships, ours, go in runs:
        grants = ours["stats"].get("grants", 0)
        slope = "" if previous is None else f"{__import__('math').log(ours['wall'] / previous[1]) / __import__('math').log(grants / previous[0]):.2f}"
        go_cells = (f"{go['wall']:.1f}", f"{go['rss_mib']:.0f}") if go else ("not run", "")
        lines.append(f"| {data} | {grants} | {ours['wall']:.1f} | {slope} | {ours['wall'] / grants * 1e6:.1f} | {ours['rss_mib']:.0f} | {go_cells[0]} | {go_cells[1]} "
                     f"| {ours['json_wall']:.1f} | {ours['json_rss_mib']:.0f} |")
        previous = (grants, ours["wall"])
    write_growth_chart([(r[2]["stats"].get("grants", 0), r[2], r[3]) for r in runs])
    lines += ["", GROWTH_END, ""]
    print("\n".join(lines), flush=True)
    return lines


def write_growth_chart(points):
    """Two log-log panels (wall seconds, peak RSS MiB) against grants, ours and Go's: an SVG file."""
    import math
    width, height, pad = 360, 260, 50
    def panel(x0, title, key):
        values = [run[key] for _, o, g in points for run in (o, g) if run]
        lo, hi = math.log10(min(values)) - 0.1, math.log10(max(values)) + 0.1
        gx = lambda n: x0 + pad + (math.log10(n) - math.log10(points[0][0])) / max(math.log10(points[-1][0] / points[0][0]), 1e-9) * (width - 2 * pad)
        gy = lambda v: height - pad - (math.log10(v) - lo) / (hi - lo) * (height - 2 * pad)
        parts = [f'<text x="{x0 + width / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
                 f'<line x1="{x0 + pad}" y1="{height - pad}" x2="{x0 + width - pad}" y2="{height - pad}" stroke="black"/>',
                 f'<line x1="{x0 + pad}" y1="{pad}" x2="{x0 + pad}" y2="{height - pad}" stroke="black"/>']
        for n, _, _ in points:
            parts.append(f'<text x="{gx(n):.1f}" y="{height - pad + 16}" text-anchor="middle" font-size="11">{n:,}</text>')
        for exponent in range(math.floor(lo), math.ceil(hi) + 1):
            if lo <= exponent <= hi:
                parts.append(f'<text x="{x0 + pad - 6}" y="{gy(10 ** exponent) + 4:.1f}" text-anchor="end" font-size="11">{10 ** exponent:g}</text>')
        for who, color, index in (("ours", "#1f77b4", 1), ("Go connector", "#d62728", 2)):
            series = [(n, run[key]) for n, *runs in points for run in [runs[index - 1]] if run]
            if series:
                path = " ".join(f"{gx(n):.1f},{gy(v):.1f}" for n, v in series)
                parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
                parts += [f'<circle cx="{gx(n):.1f}" cy="{gy(v):.1f}" r="3" fill="{color}"/>' for n, v in series]
                parts.append(f'<text x="{gx(series[-1][0]) - 4:.1f}" y="{gy(series[-1][1]) - 8:.1f}" text-anchor="end" font-size="11" fill="{color}">{who}</text>')
        parts.append(f'<text x="{x0 + width / 2}" y="{height - 12}" text-anchor="middle" font-size="11">grants (log)</text>')
        return parts
    body = panel(0, "wall time (s, log)", "wall") + panel(width, "peak RSS (MiB, log)", "rss_mib")
    os.makedirs(os.path.dirname(GROWTH_SVG), exist_ok=True)
    with open(GROWTH_SVG, "w") as f:
        f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width}" height="{height}" font-family="sans-serif">\n'
                f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")


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


def kept_section(begin, end):
    """The lines of a section of the present BENCHMARKS.md that the benchmark does not write."""
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else ""
    if begin not in text or end not in text:
        return []
    return text[text.index(begin):text.index(end) + len(end)].splitlines() + [""]


def replace_section(lines, begin, end):
    """Puts a section (its first line `begin`, its last `end`) into BENCHMARKS.md, replacing the
    earlier one."""
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    section = "\n".join(lines).rstrip("\n") + "\n"
    if begin in text and end in text:
        start, stop = text.index(begin), text.index(end) + len(end)
        stop += text[stop:stop + 1] == "\n"
        text = text[:start] + section + text[stop:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def honest_tenant(name, base_url):
    return (f'[[tenant]]\nname = "{name}"\n[tenant.config]\nhostname = "{base_url}"\n'
            f'[tenant.secrets]\naccess-token = {{ env = "BENCH_TOKEN" }}\n')


def probe_tenant(name, base_url, mode, limits):
    return (f'[[tenant]]\nname = "{name}"\ncomponent = "{PROBE}"\n[tenant.config]\nhostname = "{base_url}"\n'
            f'probe-mode = "{mode}"\nprobe-url = "https://attacker.example/steal"\n'
            f'[tenant.secrets]\naccess-token = {{ env = "BENCH_TOKEN" }}\n[tenant.limits]\n{limits}\n')


def serve_once(name, tenants, token, max_syncs=TENANT_SYNCS):
    """`serve --tenants FILE --once` over `tenants` ([[tenant]] texts); wall seconds, peak RSS
    (MiB), exit status and each tenant's report line."""
    folder = os.path.join(OUT, name)
    subprocess.run(["rm", "-rf", folder], check=True)
    os.makedirs(folder)
    path = os.path.join(folder, "tenants.toml")
    with open(path, "w") as f:
        f.write(f'output_dir = "out"\nmax_concurrent_syncs = {max_syncs}\n\n' + "\n".join(tenants))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(BENCH_TOKEN=token, BATON_LOG_LEVEL="warn", BATON_LOG_FORMAT="json")
    out_path, err_path = os.path.join(folder, "serve.out"), os.path.join(folder, "serve.err")
    started = time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        child, peak_mib = spawn_measured([HOST, "serve", "--tenants", path, "--once"], env=env, stdout=out, stderr=err, cwd=folder)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    lines = dict(line.split(": ", 1) for line in open(out_path).read().splitlines() if ": " in line)
    return {"wall": wall, "rss_mib": peak_mib(usage), "status": status, "lines": lines, "err": open(err_path).read()}


def sync_seconds(line):
    match = re.search(r" in (\d+\.\d+) s$", line)
    return float(match.group(1)) if match else None


def require_synced(run, names, what):
    failed = [n for n in names if not run["lines"].get(n, "").startswith("synced")]
    if failed:
        sys.exit(f"{what}: tenants did not sync: {failed[:5]}\n{run['err'][-2000:]}")


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def measure_tenants():
    """One small tenant alone, then many side by side; two honest tenants alone and beside
    hostile ones. The section's lines."""
    sims = [start_simulator(TENANT_LATENCY_MS, TENANT_DATA) for _ in range(TENANT_SIMS)]
    token = sims[0][2]
    if any(t != token for _, _, t in sims):
        sys.exit("the simulators gave different admin tokens")
    try:
        urls = [url for _, url, _ in sims]
        alone = serve_once("tenant-alone", [honest_tenant("t000", urls[0])], token)
        require_synced(alone, ["t000"], "one tenant alone")
        names = [f"t{i:03}" for i in range(TENANTS)]
        many = serve_once("tenants-many", [honest_tenant(n, urls[i % len(urls)]) for i, n in enumerate(names)], token)
        require_synced(many, names, f"{TENANTS} tenants")
    finally:
        for sim, _, _ in sims:
            sim.kill()
    # Two large sites for the honest tenants, two small ones for the probes that send.
    fair = [start_simulator(FAIR_LATENCY_MS, data) for data in (FAIR_DATA, FAIR_DATA, TENANT_DATA, TENANT_DATA)]
    try:
        honest = ["honest-a", "honest-b"]
        pair = [honest_tenant("honest-a", fair[0][1]), honest_tenant("honest-b", fair[1][1])]
        hostile = [
            probe_tenant("spinner", fair[2][1], "spin", "cpu_seconds_per_call = 2"),
            probe_tenant("hoarder", fair[2][1], "allocate", "memory_mb = 64"),
            probe_tenant("trapper", fair[2][1], "trap", ""),
            probe_tenant("escaper", fair[2][1], "fetch", ""),
            probe_tenant("flooder", fair[3][1], "flood", "requests_per_second = 50\ncall_timeout_seconds = 3"),
        ]
        quiets, besides = [], []
        for _ in range(FAIR_REPEAT):
            # Alternated, so that a slow spell of the machine falls on both.
            quiets.append(serve_once("honest-alone", pair, fair[0][2]))
            require_synced(quiets[-1], honest, "two honest tenants")
            besides.append(serve_once("honest-beside-hostile", pair + hostile, fair[0][2]))
            require_synced(besides[-1], honest, "two honest tenants beside hostile ones")
        stopped = [n for n in ("spinner", "hoarder", "trapper", "escaper", "flooder") if all("failed" in b["lines"].get(n, "") for b in besides)]
    finally:
        for sim, _, _ in fair:
            sim.kill()
    one = sync_seconds(alone["lines"]["t000"])
    each = [sync_seconds(many["lines"][n]) for n in names]
    per_tenant_rss = (many["rss_mib"] - alone["rss_mib"]) / max(TENANTS - 1, 1)
    rows = [
        ("wall time of the process (s)", f"{alone['wall']:.2f}", f"{many['wall']:.2f}", f"{many['wall'] / alone['wall']:.1f}x"),
        ("sync time of a tenant, median (s)", f"{one:.2f}", f"{median(each):.2f}", f"{median(each) / one:.1f}x"),
        ("sync time of a tenant, slowest (s)", f"{one:.2f}", f"{max(each):.2f}", f"{max(each) / one:.1f}x"),
        ("peak RSS of the process (MiB)", f"{alone['rss_mib']:.0f}", f"{many['rss_mib']:.0f}", f"{many['rss_mib'] / alone['rss_mib']:.1f}x"),
    ]
    serial = TENANTS * alone["wall"]
    def spread(values):
        return f"{median(values):.2f} ({min(values):.2f}-{max(values):.2f})"
    honest_rows = []
    for n in honest:
        a = [sync_seconds(q["lines"][n]) for q in quiets]
        b = [sync_seconds(x["lines"][n]) for x in besides]
        honest_rows.append((f"sync time of {n} (s)", spread(a), spread(b), f"{median(b) / median(a):.2f}x"))
    walls_a, walls_b = [q["wall"] for q in quiets], [x["wall"] for x in besides]
    honest_rows.append(("wall time of the process (s)", spread(walls_a), spread(walls_b), f"{median(walls_b) / median(walls_a):.2f}x"))
    users, groups, memberships, spaces = TENANT_DATA.split(",")
    lines = [TENANTS_BEGIN, f"### Many tenants in one process ({TENANT_LATENCY_MS} ms added)", "",
             f"Measured on {time.strftime('%Y-%m-%d')}. `serve --tenants FILE --once` with the built-in component; each tenant",
             f"is a small site ({users} users, {groups} groups, {memberships} memberships, {spaces} spaces) on one of {TENANT_SIMS}",
             f"simulators; `max_concurrent_syncs = {TENANT_SYNCS}`, every other setting its default (16 instances per sync, pooling",
             "allocator, one compiled component shared). A tenant's sync time is the one its report line gives (from a",
             "free place among the concurrent syncs to its file in place). Each run is a new process; the compiled",
             "component comes from the on-disk compile cache, warm after the first run.", "",
             f"| measure | one tenant alone | {TENANTS} tenants | ratio |", "|---|---|---|---|"]
    lines += [f"| {w} | {x} | {y} | {z} |" for w, x, y, z in rows]
    lines += ["", f"{TENANTS} tenants took {many['wall']:.1f} s, against {serial:.1f} s for {TENANTS} times the one-tenant process",
              f"({serial / many['wall']:.1f}x less); each tenant beyond the first adds {per_tenant_rss:.1f} MiB to the peak RSS",
              f"({many['rss_mib'] / TENANTS:.1f} MiB per tenant overall).", "",
              "#### Honest tenants beside hostile ones", "",
              f"Two honest tenants (each a site of {FAIR_DATA.replace(',', ', ')} users, groups, memberships and spaces, on a",
              f"simulator of its own answering in {FAIR_LATENCY_MS} ms, as a real server takes tens of milliseconds: tenants that",
              "mostly wait on the network) alone, then the same two beside five hostile probe components in the same process: an",
              "endless loop (`cpu_seconds_per_call = 2`), a memory bomb (`memory_mb = 64`), a trap, a request to a forbidden",
              "host, and a request flood (`requests_per_second = 50`, `call_timeout_seconds = 3`).",
              f"{FAIR_REPEAT} runs of each, alternated; median (fastest-slowest), and the ratio of the medians.",
              f"Hostile tenants stopped and reported as failed: {len(stopped)} of 5 ({', '.join(stopped)}).", "",
              "| measure | honest alone | beside hostile | ratio |", "|---|---|---|---|"]
    lines += [f"| {w} | {x} | {y} | {z} |" for w, x, y, z in honest_rows]
    lines += ["", "The process's wall time beside hostile tenants is theirs: it ends when the last one is stopped by its own",
              "limit (the flood by its call timeout). Each sync runs on a thread of its own; the spinner's thread, found",
              "with work to do without pause, is lowered to the lowest priority within 200 ms (ARCHITECTURE.md).",
              "", TENANTS_END, ""]
    print("\n".join(lines), flush=True)
    return lines


def measure_soak():
    """The end-to-end soak tests, long, against the release binary: their SOAK lines as a table."""
    env = dict(os.environ, BATON_BIN=HOST, SOAK_TASKS=str(SOAK_TASKS), SOAK_SYNCS=str(SOAK_SYNCS))
    started = time.monotonic()
    run = subprocess.run(["cargo", "test", "-p", "confluence-tests", "--test", "end_to_end", "--", "soak::", "--nocapture", "--test-threads", "1"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    # With --nocapture a test's output follows the harness's "test NAME ... " on the same line.
    soaked = [line[line.index("SOAK "):] for line in run.stdout.splitlines() if "SOAK " in line]
    if run.returncode != 0 or len(soaked) != 2:
        sys.exit(f"the soak tests failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}")
    lines = [SOAK_BEGIN, "", "## Soak: slow leaks", "",
             f"The soak tests of the end-to-end suite run long against the release binary ({took / 60:.0f} min):",
             f"service mode through {SOAK_TASKS} tasks in a row (a sync, a grant, its revoke, a task type it does not know,",
             f"over and over), and the runner through {SOAK_SYNCS} scheduled syncs of 20 tenants. Resident memory (`VmRSS`) and",
             "open files are sampled after each task and, for the runner, every 50 ms between rounds of syncs; each",
             "column is one tenth of the run. The tests require the last tenth within 5% of the most any tenth after",
             "the first held (memory by the tenth's least sample: see `tests/tests/end_to_end/soak.rs`).", "",
             "| run | samples | resident MiB, average by tenth | resident MiB, least by tenth | open files, average by tenth |",
             "|---|---|---|---|---|"]
    for line in soaked:
        what, samples, average, least, files = [part.strip() for part in line[len("SOAK "):].split("|")]
        strip = lambda text: text.split(":", 1)[1].strip()
        lines.append(f"| {what} | {samples.split()[0]} | {strip(average)} | {strip(least)} | {strip(files)} |")
    lines += ["", SOAK_END, ""]
    print("\n".join(lines), flush=True)
    return lines


def measure(latency_ms):
    """Both runs against one simulator with `latency_ms` added to every answer; the table rows."""
    sim, base_url, token = start_simulator(latency_ms)
    go_flags = ["--page-size", "100", "--concurrency", "1"]
    try:
        ours = run_sync("ours", base_url, token, [])
        ours_r = run_sync("ours", base_url, token, [], replacing=True)
        go_like = run_sync("go-pattern", base_url, token, go_flags)
        go_like_r = run_sync("go-pattern", base_url, token, go_flags, replacing=True)
    finally:
        sim.kill()
    rows = [
        ("wall time (s), fresh", f"{ours['wall']:.1f}", f"{go_like['wall']:.1f}", f"{go_like['wall'] / ours['wall']:.1f}x"),
        ("wall time (s), replacing", f"{ours_r['wall']:.1f}", f"{go_like_r['wall']:.1f}", f"{go_like_r['wall'] / ours_r['wall']:.1f}x"),
        ("replacing / fresh", f"{ours_r['wall'] / ours['wall']:.2f}x", f"{go_like_r['wall'] / go_like['wall']:.2f}x", ""),
        ("requests", str(ours["requests"]), str(go_like["requests"]), f"{go_like['requests'] / max(ours['requests'], 1):.1f}x"),
        ("retries", str(ours["retries"]), str(go_like["retries"]), ""),
        ("grants written", str(ours["grants"]), str(go_like["grants"]), ""),
        ("peak RSS of the host (MiB), fresh", f"{ours['rss_mib']:.0f}", f"{go_like['rss_mib']:.0f}", ""),
        ("peak RSS of the host (MiB), replacing", f"{ours_r['rss_mib']:.0f}", f"{go_like_r['rss_mib']:.0f}", ""),
        (".c1z size (MiB), fresh", f"{ours['size'] / 2**20:.1f}", f"{go_like['size'] / 2**20:.1f}", ""),
        (".c1z size (MiB), replacing (two syncs)", f"{ours_r['size'] / 2**20:.1f}", f"{go_like_r['size'] / 2**20:.1f}", ""),
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
    tenants = measure_tenants() if "tenants" in PARTS else []
    peer = measure_peer() if "peer" in PARTS else []
    growth = measure_growth() if "growth" in PARTS else []
    soak = measure_soak() if "soak" in PARTS else []
    sections = ((https, HTTPS_BEGIN, HTTPS_END), (tenants, TENANTS_BEGIN, TENANTS_END), (peer, PEER_BEGIN, PEER_END),
                (growth, GROWTH_BEGIN, GROWTH_END), (soak, SOAK_BEGIN, SOAK_END))
    if "plain" not in PARTS:
        for lines, begin, end in sections:
            if lines:
                replace_section(lines, begin, end)
        print("sections written to BENCHMARKS.md")
        return
    # The sections of parts not run this time stay as they were.
    https, tenants, peer, growth, soak = (lines or kept_section(begin, end) for lines, begin, end in sections)
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
        "(a) is `baton-confluence-datacenter` with its defaults (page size 1000, 16 instances). (b) is the same binary",
        "with `--page-size 100 --concurrency 1`: one request at a time with 100 items a page, the request pattern of the",
        "older Go connector (which also stops on short pages; here pages are never short, so it reads the same data).",
        "Release builds; all runs in one session, each pair against the same simulator. \"Fresh\" is a first sync into no",
        "file; \"replacing\" is the same sync run again into the file the fresh run wrote, the everyday run (with the",
        "default flags it keeps the previous sync beside the new one, for `baton diff`).",
        "",
        *tables,
        f"Process start to first request, warm component cache (median of 7): **{warm_ms:.1f} ms**.",
        "",
        *https,
        *tenants,
        *peer,
        *growth,
        *soak,
        *kept_section(PROFILE_BEGIN, PROFILE_END),
    ])
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write(text)
    print(f"start to first request (warm): {warm_ms:.1f} ms")
    print("written to BENCHMARKS.md")


if __name__ == "__main__":
    main()
