#!/usr/bin/env python3
"""Cache misses per event in the steady state of the scale scenario (issue 9).

At 100,000 clients the time goes to cache misses, not instructions (BENCHMARKS.md,
"Session 7"), and this machine's speed drifts by more than most changes. This counts
what does not drift: it runs the scale scenario with CLIENTS clients to two durations
under `valgrind --tool=cachegrind` with a small simulated last-level cache (so the
clients' state is many times the cache, as at 100,000 clients), subtracts the shorter
run from the longer, and prints instructions, L1 data misses and last-level data misses
per event, then the functions with the most last-level misses.

    tools/steady-miss-profile.py [--clients N] [--nats N] [--from S] [--to S]
                                 [--ll BYTES] [--top N] [--ikesim PATH]

Defaults: 5,000 clients behind 5 NATs, 200 s and 300 s (all SAs are up by 120 s), a 4 MiB
last-level cache, the top 25 functions, target/release/ikesim. The two runs go in
parallel (two cores: about three and a half minutes). Same binary and arguments, same
counts."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The cachegrind events read, in this order: instructions, L1 data read and write misses,
# last-level data read and write misses.
EVENTS = ["Ir", "D1mr", "D1mw", "DLmr", "DLmw"]


def scenario(clients, nats, duration, path):
    text = subprocess.run(
        [sys.executable, os.path.join(HERE, "gen-scale-ha.py"), str(clients), str(nats)],
        check=True, capture_output=True, text=True).stdout
    text, n = re.subn(r'(?m)^duration = .*$', f'duration = "{duration}s"', text, count=1)
    if n != 1:
        sys.exit("steady-miss-profile: gen-scale-ha.py wrote no duration line")
    with open(path, "w") as f:
        f.write(text)


def start(ikesim, toml, out, ll, dump):
    return subprocess.Popen(
        ["valgrind", "--tool=cachegrind", "--cache-sim=yes", f"--LL={ll},16,64",
         f"--cachegrind-out-file={dump}", ikesim, "run", toml, "--out", out],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def events_of(log):
    m = re.search(r"simulated \S+ in (\d+) events", log)
    if not m:
        sys.exit("steady-miss-profile: the run did not finish:\n" + log[-2000:])
    return int(m.group(1))


def functions(dump):
    """{function: [Ir, D1mr, D1mw, DLmr, DLmw]} from a cachegrind dump."""
    text = subprocess.run(
        ["cg_annotate", "--auto=no", "--threshold=0", "--show-percs=no",
         "--show=" + ",".join(EVENTS), dump],
        check=True, capture_output=True, text=True).stdout
    found, started = {}, False
    num = r"([\d,]+|\.)\s+(?:\([^)]*\)\s+)?"
    row = re.compile(r"^\s*" + num * len(EVENTS) + r"(\S.*)$")
    for line in text.splitlines():
        if "file:function" in line:
            started = True
            continue
        m = row.match(line) if started else None
        if m:
            values = [0 if v == "." else int(v.replace(",", "")) for v in m.groups()[:-1]]
            name = re.sub(r"^[^:]*:", "", m.groups()[-1])
            found[name] = [a + b for a, b in zip(found.get(name, [0] * len(EVENTS)), values)]
    return found


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=5000)
    p.add_argument("--nats", type=int, default=5)
    p.add_argument("--from", dest="start", type=int, default=200)
    p.add_argument("--to", dest="end", type=int, default=300)
    p.add_argument("--ll", type=int, default=4 << 20, help="simulated LL size in bytes")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--ikesim", default=os.path.join(ROOT, "target", "release", "ikesim"))
    a = p.parse_args()
    if not 0 < a.start < a.end:
        sys.exit("steady-miss-profile: need 0 < --from < --to")
    if not os.access(a.ikesim, os.X_OK):
        sys.exit(f"steady-miss-profile: no ikesim at {a.ikesim} "
                 "(cargo build --release -p ikesim --bin ikesim)")
    with tempfile.TemporaryDirectory(prefix="ikesim-miss-") as tmp:
        runs = []
        for d in (a.start, a.end):
            toml = os.path.join(tmp, f"s{d}.toml")
            scenario(a.clients, a.nats, d, toml)
            dump = os.path.join(tmp, f"cg{d}.out")
            runs.append((start(a.ikesim, toml, os.path.join(tmp, f"o{d}"), a.ll, dump), dump))
        logs = [proc.communicate()[0] for proc, _ in runs]
        for (proc, _), log in zip(runs, logs):
            if proc.returncode != 0:
                sys.exit("steady-miss-profile: valgrind failed:\n" + log[-2000:])
        events = events_of(logs[1]) - events_of(logs[0])
        short, long = functions(runs[0][1]), functions(runs[1][1])
    diff = {k: [x - y for x, y in zip(v, short.get(k, [0] * len(EVENTS)))]
            for k, v in long.items()}
    total = [sum(v[i] for v in diff.values()) for i in range(len(EVENTS))]
    ll_misses = total[3] + total[4]
    print(f"{a.clients} clients, {a.start} s to {a.end} s, {events} events, "
          f"simulated LL {a.ll} bytes")
    print(f"per event: {total[0] / events:,.0f} instructions, "
          f"{(total[1] + total[2]) / events:.1f} L1 data misses, "
          f"{ll_misses / events:.2f} last-level data misses")
    print(f"\n{'LL misses':>10} {'share':>6} {'per event':>9}  function")
    rows = sorted(diff.items(), key=lambda kv: -(kv[1][3] + kv[1][4]))
    for name, v in rows[:a.top]:
        m = v[3] + v[4]
        print(f"{m:10,d} {100 * m / ll_misses:5.1f}% {m / events:9.3f}  {name[:110]}")


if __name__ == "__main__":
    main()
