#!/usr/bin/env python3
"""Helpers of bench/run.sh: turn one load-generator run into a JSON line (record-*), and turn
the JSON lines of a whole run into the markdown tables of bench/README.md (table).

  report.py record-oha     --subject S --proto json --rate R --delay D --cpu-ticks T --hz HZ --rss-kib K < oha.json
  report.py record-h2load  --log FILE (same flags)                                               < h2load stdout
  report.py record-failover                                                                      < failover_load stdout
  report.py table [--readme bench/README.md]                                                     < results.jsonl
"""

import argparse
import json
import re
import statistics
import sys

BEGIN = "<!-- load-bench:begin (written by bench/run.sh) -->"
END = "<!-- load-bench:end -->"
SUBJECTS = ["direct", "smesher", "haproxy", "nginx"]
PER_TRY_TIMEOUT_MS = 200


def common(p):
    p.add_argument("--subject", required=True)
    p.add_argument("--proto", required=True)
    p.add_argument("--rate", type=int, required=True)
    p.add_argument("--delay", type=int, required=True)
    p.add_argument("--cpu-ticks", type=int, required=True)
    p.add_argument("--hz", type=int, required=True)
    p.add_argument("--rss-kib", type=int, required=True)


def base(a, ok, errors, rps, p50, p99, p999, mean=None):
    cpu = a.cpu_ticks / a.hz
    return {
        "kind": "load", "subject": a.subject, "proto": a.proto, "rate": a.rate,
        "delay": a.delay, "ok": ok, "errors": errors, "rps": rps,
        "p50_us": p50, "p99_us": p99, "p999_us": p999, "mean_us": mean,
        "cpu_s": cpu, "cpu_s_per_1k": cpu / ok * 1000 if ok else None,
        "rss_kib": a.rss_kib,
    }


def record_oha(a):
    d = json.load(sys.stdin)
    s = d["summary"]
    lat = d.get("latencyPercentiles") or {}
    codes = d.get("statusCodeDistribution") or {}
    ok = sum(n for c, n in codes.items() if str(c).startswith("2"))
    bad = sum(n for c, n in codes.items() if not str(c).startswith("2"))
    errs = {k: v for k, v in (d.get("errorDistribution") or {}).items() if "deadline" not in k}
    rps = ok / s["total"] if s.get("total") else s.get("requestsPerSec")

    def us(key):
        v = lat.get(key)
        return None if v is None else v * 1e6

    print(json.dumps(base(a, ok, bad + sum(errs.values()), rps,
                          us("p50"), us("p99"), us("p99.9"),
                          (s.get("average") or 0) * 1e6) | {"error_kinds": errs}))


def record_h2load(a):
    text = sys.stdin.read()
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    if not m:
        sys.exit("h2load output without a requests line:\n" + text)
    succeeded, failed, errored = int(m.group(4)), int(m.group(5)), int(m.group(6))
    lat = []
    with open(a.log) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1].strip() == "200":
                lat.append(float(parts[2]))
    lat.sort()
    fin = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    rps = float(fin.group(3)) if fin else None

    def q(p):
        return lat[min(len(lat) - 1, round((len(lat) - 1) * p))] if lat else None

    print(json.dumps(base(a, succeeded, failed + errored, rps, q(0.5), q(0.99), q(0.999),
                          statistics.mean(lat) if lat else None)))


def record_failover():
    for line in sys.stdin:
        if not line.startswith("failover "):
            continue
        words = line.split()
        rec = {"kind": "failover", "case": words[1].rstrip(":")}
        for k, v in zip(words[2::2], words[3::2]):
            rec[k] = float(v)
        print(json.dumps(rec))


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}".replace(",", " ")


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}"


def table(args):
    recs = [json.loads(line) for line in sys.stdin if line.strip()]
    machine = next((r for r in recs if r["kind"] == "machine"), {})
    end = next((r for r in recs if r["kind"] == "load_end"), {})
    # Median over rounds of each (proto, delay, rate, subject).
    groups = {}
    for r in recs:
        if r["kind"] == "load":
            groups.setdefault((r["proto"], r["delay"], r["rate"], r["subject"]), []).append(r)
    agg = {}
    for k, rs in groups.items():
        agg[k] = {f: med([r.get(f) for r in rs]) for f in
                  ("rps", "p50_us", "p99_us", "p999_us", "cpu_s_per_1k", "rss_kib")}
        agg[k]["errors"] = sum(r["errors"] for r in rs)
        agg[k]["ok"] = sum(r["ok"] for r in rs)
    out = []
    out.append(BEGIN)
    out.append("")
    out.append(
        f"Run {machine.get('date', '?')} on {machine.get('cpus', '?')} vCPU ({machine.get('model', '?')}), "
        f"{round(machine.get('mem_kib', 0) / 1048576)} GiB; load average {machine.get('load', '?')} at the start, "
        f"{end.get('load', '?')} at the end (other builds share the machine). {machine.get('duration_s', '?')} s per point, "
        f"{machine.get('rounds', '?')} round(s) (median over rounds). HAProxy {machine.get('haproxy', '?')}, "
        f"nginx {machine.get('nginx', '?')}, oha {machine.get('oha', '?')}, h2load. Regenerate: `bench/run.sh`.")
    out.append("")
    for proto, title in (("json", "JSON over HTTP/1.1 (`GET " "/spacemesh.v2beta1.NetworkService/Info`, oha, open loop with latency correction at fixed rates; 32 connections at saturation)"),
                         ("grpc", "unary gRPC over HTTP/2 (h2load, 4 connections × 16 streams; `--rps` per connection at the fixed rate, not latency-corrected)")):
        keys = sorted({(d, r) for (p, d, r, s) in agg if p == proto}, key=lambda k: (k[0], k[1] == 0, k[1]))
        if not keys:
            continue
        out.append(f"**{title}.** Latencies in µs; \"added\" = subject − direct at the same rate; "
                   "ratios: throughput to direct and to HAProxy, added p99 and CPU to HAProxy.")
        out.append("")
        out.append("| service time | offered | path | req/s | × direct | × HAProxy | p50 | p99 | p99.9 | added p50 | added p99 | added p99.9 | added p99 × HAProxy | CPU-s / 1k req | CPU × HAProxy | peak RSS MiB | errors |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for d, r in keys:
            direct = agg.get((proto, d, r, "direct"))
            hap = agg.get((proto, d, r, "haproxy"))
            for s in SUBJECTS:
                a = agg.get((proto, d, r, s))
                if not a:
                    continue

                def added(f, a=a):
                    if direct is None or a[f] is None or direct[f] is None:
                        return None
                    return a[f] - direct[f]

                hap_added = None
                if hap and direct and hap["p99_us"] is not None and direct["p99_us"] is not None:
                    hap_added = hap["p99_us"] - direct["p99_us"]
                out.append("| " + " | ".join([
                    f"{d} ms", "saturation" if r == 0 else f"{r} /s", s,
                    fmt(a["rps"]), ratio(a["rps"], direct and direct["rps"]),
                    ratio(a["rps"], hap and hap["rps"]),
                    fmt(a["p50_us"]), fmt(a["p99_us"]), fmt(a["p999_us"]),
                    "—" if s == "direct" else fmt(added("p50_us")),
                    "—" if s == "direct" else fmt(added("p99_us")),
                    "—" if s == "direct" else fmt(added("p999_us")),
                    "—" if s in ("direct", "haproxy") else ratio(added("p99_us"), hap_added),
                    fmt(a["cpu_s_per_1k"], 3), ratio(a["cpu_s_per_1k"], hap and hap["cpu_s_per_1k"]),
                    fmt((a["rss_kib"] or 0) / 1024, 1), str(a["errors"]),
                ]) + " |")
        out.append("")
    fo = [r for r in recs if r["kind"] == "failover"]
    if fo:
        out.append(f"**Fail-over under load** (node-service path, 3 simnet nodes, open loop 1 000 calls/s of `GET /beacon/1`, "
                   f"each call its own task, latency from its release; active node killed after 1 s; per-try timeout {PER_TRY_TIMEOUT_MS} ms; "
                   "switch window = calls started in the 500 ms after the kill). Times in ms.")
        out.append("")
        out.append("| kill | calls | failed | first success after kill | p99 before | p99 in switch window | added p99 | max in window |")
        out.append("|---|---|---|---|---|---|---|---|")
        for r in fo:
            out.append("| " + " | ".join([
                r["case"], fmt(r.get("calls")), fmt(r.get("failed")),
                fmt(r.get("first_success_after_kill_ms"), 2), fmt(r.get("before_p99_ms"), 2),
                fmt(r.get("switch_p99_ms"), 2), fmt(r.get("added_p99_ms"), 2), fmt(r.get("switch_max_ms"), 2),
            ]) + " |")
        out.append("")
    idle = [r for r in recs if r["kind"] == "idle_rss"]
    loaded = [r for r in recs if r["kind"] == "rss_after_load"]
    binary = next((r for r in recs if r["kind"] == "binary"), None)
    if idle:
        out.append("**Footprint** (`smesher smeshing`, API listeners and relay up, smeshing not started, "
                   "identities made with `smesher keys new`; RSS 3 s after start).")
        out.append("")
        out.append("| identities | idle RSS MiB |")
        out.append("|---|---|")
        for r in idle:
            out.append(f"| {r['identities']} | {r['rss_kib'] / 1024:.1f} |")
        out.append("")
        for r in loaded:
            out.append(f"RSS of the relaying smesher after the {r['delay']} ms load points: {r['rss_kib'] / 1024:.1f} MiB "
                       f"(peak {r['peak_kib'] / 1024:.1f} MiB).  ")
        if binary:
            out.append(f"Binary: {binary['bytes'] / 1048576:.1f} MiB as built (release, `debug = 1`), "
                       f"{binary['stripped_bytes'] / 1048576:.1f} MiB stripped.")
        out.append("")
    out.append("**Targets (issue 8), from this run.**")
    out.append("")
    out += targets(agg, fo, idle)
    out.append("")
    out.append(END)
    text = "\n".join(out) + "\n"
    if args.readme:
        with open(args.readme) as f:
            readme = f.read()
        if BEGIN in readme and END in readme:
            head, rest = readme.split(BEGIN, 1)
            tail = rest.split(END, 1)[1].lstrip("\n")
            readme = head + text + ("\n" + tail if tail else "")
        else:
            readme = readme.rstrip("\n") + "\n\n## Load bench: smesher against HAProxy and nginx\n\n" + text
        with open(args.readme, "w") as f:
            f.write(readme)
    print(text)


def targets(agg, fo, idle):
    lines = []

    def verdict(ok):
        return "met" if ok else "**missed**"

    for d in sorted({k[1] for k in agg if k[0] == "json"}):
        s, h = agg.get(("json", d, 0, "smesher")), agg.get(("json", d, 0, "haproxy"))
        if s and h and s["rps"] and h["rps"]:
            x = s["rps"] / h["rps"]
            lines.append(f"- JSON saturation throughput ≥ 1.0× HAProxy ({d} ms service time): {x:.2f}× — {verdict(x >= 1.0)}")
        s, h, dr = (agg.get(("json", d, 5000, k)) for k in ("smesher", "haproxy", "direct"))
        if s and h and dr and None not in (s["p99_us"], h["p99_us"], dr["p99_us"]):
            sa, ha = s["p99_us"] - dr["p99_us"], h["p99_us"] - dr["p99_us"]
            lines.append(f"- added p99 at 5 000 req/s ≤ HAProxy's and ≤ 1 ms ({d} ms service time): smesher {sa:.0f} µs, "
                         f"HAProxy {ha:.0f} µs — {verdict(sa <= max(ha, 0) and sa <= 1000) if sa > 0 else 'met'}")
    for r in fo:
        lines.append(f"- zero failed calls on kill ({r['case']}): {int(r.get('failed', -1))} — {verdict(r.get('failed') == 0)}")
        limit = PER_TRY_TIMEOUT_MS if r["case"] == "hang" else 10
        lines.append(f"- switch adds {'≤ one per-try timeout (' + str(PER_TRY_TIMEOUT_MS) + ' ms)' if r['case'] == 'hang' else '< 10 ms'} "
                     f"to p99 ({r['case']}): {r.get('added_p99_ms', float('nan')):.2f} ms — "
                     f"{verdict(r.get('added_p99_ms', 1e9) <= limit if r['case'] == 'hang' else r.get('added_p99_ms', 1e9) < limit)}")
    for r in idle:
        if r["identities"] == 100:
            mib = r["rss_kib"] / 1024
            lines.append(f"- idle RSS < 30 MiB with 100 identities: {mib:.1f} MiB — {verdict(mib < 30)}")
    return lines


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    common(sub.add_parser("record-oha"))
    p = sub.add_parser("record-h2load")
    common(p)
    p.add_argument("--log", required=True)
    sub.add_parser("record-failover")
    p = sub.add_parser("table")
    p.add_argument("--readme")
    a = ap.parse_args()
    if a.cmd == "record-oha":
        record_oha(a)
    elif a.cmd == "record-h2load":
        record_h2load(a)
    elif a.cmd == "record-failover":
        record_failover()
    else:
        table(a)


if __name__ == "__main__":
    main()
