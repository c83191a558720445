"""The load test's report: statistics from the workers' raw records, the JSON file, the chart, the summary."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .worker import LATE_AFTER_S, TRANSPORT_ERROR, Requests, Result

PERCENTILES = (50, 90, 99)
# The goals the report checks every run against (issue 12): at the peak, the rate held, no error, both p99 under
# 100 ms; under overload, every request answered (a refusal is an answer), submissions at p99 under 1 s, and
# nothing stored for a refused one.
GOAL_P99_S = 0.100
GOAL_OVERLOAD_P99_S = 1.0
GOAL_RATE_SHARE = 0.95


def _concat(parts, name: str) -> np.ndarray:
    return np.concatenate([np.asarray(getattr(part, name)) for part in parts]) if parts else np.array([])


def _percentiles_ms(seconds: np.ndarray) -> dict | None:
    if not len(seconds):
        return None
    values = np.percentile(seconds, PERCENTILES)
    return {**{f"p{q}": round(float(v) * 1000, 2) for q, v in zip(PERCENTILES, values, strict=True)},
            "max": round(float(seconds.max()) * 1000, 2)}


def _percentiles_s(seconds: np.ndarray) -> dict | None:
    if not len(seconds):
        return None
    p50, p99 = np.percentile(seconds, (50, 99))
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2), "max": round(float(seconds.max()), 2)}


def endpoint_stats(parts: list[Requests]) -> dict:
    started, latency = _concat(parts, "started"), _concat(parts, "latency")
    status, lateness = _concat(parts, "status"), _concat(parts, "lateness")
    errors = sum((part.errors for part in parts), Counter())
    codes = Counter("no answer" if code == TRANSPORT_ERROR else str(code) for code in status.astype(int).tolist())
    span = float(started.max() - started.min()) if len(started) > 1 else 0.0
    return {
        "requests": len(started),
        "rate_per_s": round(len(started) / span, 1) if span else None,
        "latency_ms": _percentiles_ms(latency),
        "status_codes": dict(sorted(codes.items())),
        "errors": dict(errors),
        "error_count": sum(errors.values()),
        "late": int((lateness > LATE_AFTER_S).sum()),
        "lateness_ms": _percentiles_ms(lateness),
    }


def _per_second(started: np.ndarray, values: np.ndarray, seconds: int) -> tuple[list, list, list]:
    """Requests per second, and p50 / p99 of `values` (ms) per second, by the second each request left."""
    bucket = np.clip(np.floor(started).astype(int), 0, seconds - 1)
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(seconds + 1))
    counts, p50, p99 = [], [], []
    for s in range(seconds):
        chunk = values[order[bounds[s]:bounds[s + 1]]]
        counts.append(len(chunk))
        q = np.percentile(chunk, (50, 99)) * 1000 if len(chunk) else (None, None)
        p50.append(None if q[0] is None else round(float(q[0]), 2))
        p99.append(None if q[1] is None else round(float(q[1]), 2))
    return counts, p50, p99


def timeline(results: list[Result]) -> dict:
    submits = [r.submit for r in results]
    polls = [r.status for r in results]
    submitted, terminal_at = _concat([r.contracts for r in results], "submitted"), \
        _concat([r.contracts for r in results], "terminal_at")
    ends = [a.max() for a in (_concat(submits, "started"), _concat(polls, "started"), terminal_at[~np.isnan(
        terminal_at)]) if len(a)]
    seconds = int(np.ceil(max(ends, default=0.0))) + 1
    series = {"second": list(range(seconds))}
    for name, parts in (("submit", submits), ("status", polls)):
        counts, p50, p99 = _per_second(_concat(parts, "started"), _concat(parts, "latency"), seconds)
        series |= {f"{name}_per_s": counts, f"{name}_p50_ms": p50, f"{name}_p99_ms": p99}
    edges = np.arange(1, seconds + 1)
    done = np.sort(terminal_at[~np.isnan(terminal_at)])
    series["pending"] = (np.searchsorted(np.sort(submitted), edges) - np.searchsorted(done, edges)).tolist()
    return series


def build(args, results: list[Result], *, started_at, database: dict) -> dict:
    contracts = [r.contracts for r in results]
    submitted, terminal_at = _concat(contracts, "submitted"), _concat(contracts, "terminal_at")
    last_status = np.array([status for c in contracts for status in c.last_status])
    settled = ~np.isnan(terminal_at)
    success = settled & (last_status == "SUCCESS")
    submit_starts = _concat([r.submit for r in results], "started")
    last_submit = float(submit_starts.max()) if len(submit_starts) else 0.0
    all_settled = bool(settled.all())
    summary = {
        "config": {"profile": args.profile, "rate": args.rate, "duration_s": args.duration, "workers": args.workers,
                   "base_url": args.base_url, "drain_timeout_s": args.drain_timeout,
                   "max_poll_rate": args.max_poll_rate, "chain_id": args.chain_id, "no_chart": args.no_chart,
                   "chaos_rate": args.chaos, "watch": args.watch},
        "started_at": started_at.isoformat(),
        "endpoints": {"submit": endpoint_stats([r.submit for r in results]),
                      "status": endpoint_stats([r.status for r in results]),
                      # long-polls: their latency is the time waited for a change, not a request's
                      **({"watch": endpoint_stats([r.watches for r in results])} if args.watch else {}),
                      # their errors are on purpose: no goal counts them
                      **({"chaos": endpoint_stats([r.chaos for r in results])} if args.chaos else {})},
        "contracts": {
            "accepted": len(submitted),
            "last_seen": dict(Counter(last_status.tolist())),
            "settled": int(settled.sum()),
            "not_settled": int((~settled).sum()),
            "submit_to_success_s": _percentiles_s(terminal_at[success] - submitted[success]),
            "submit_to_settled_s": _percentiles_s(terminal_at[settled] - submitted[settled]),
            # polls come once a second, so this is up to a second late
            "drain_s": round(float(terminal_at.max()) - last_submit, 2) if all_settled and len(submitted) else None,
        },
        "timeline": timeline(results),
        "database": database,
    }
    summary["goals"] = goals(summary, args.rate)
    return summary


def goals(summary: dict, target_rate: float) -> dict:
    submit, status = summary["endpoints"]["submit"], summary["endpoints"]["status"]
    unanswered = sum(e["status_codes"].get("no answer", 0) for e in summary["endpoints"].values())
    refused = sum(count for code, count in submit["status_codes"].items() if code.startswith(("4", "5")))

    def p99(endpoint):
        return endpoint["latency_ms"]["p99"] if endpoint["latency_ms"] else None

    def under(endpoint, limit_s):
        return p99(endpoint) is not None and p99(endpoint) < limit_s * 1000

    checked = {
        "rate held": {"value": submit["rate_per_s"],
                      "met": (submit["rate_per_s"] or 0) >= GOAL_RATE_SHARE * target_rate},
        "zero errors": {"value": submit["error_count"] + status["error_count"],
                        "met": submit["error_count"] + status["error_count"] == 0},
        "submit p99 < 100 ms": {"value": p99(submit), "met": under(submit, GOAL_P99_S)},
        "status p99 < 100 ms": {"value": p99(status), "met": under(status, GOAL_P99_S)},
        # under overload
        "every request answered": {"value": unanswered, "met": unanswered == 0},
        "submit p99 < 1 s": {"value": p99(submit), "met": under(submit, GOAL_OVERLOAD_P99_S)},
        "refused submissions": {"value": refused, "met": True},  # counted, not a goal: a refusal is an answer
    }
    if (stored := summary["database"].get("refused_in_database")) is not None:  # None: MySQL not checked
        checked["nothing refused stored"] = {"value": stored, "met": stored == 0}
    return checked


def budget_use(start: dict | None, end: dict | None) -> dict | None:
    """The scanners' calls per second over the run against what their budget allows."""
    if not start or not end or end["at"] <= start["at"]:
        return None
    rate = (end["calls"] - start["calls"]) / (end["at"] - start["at"])
    return {"capacity_per_s": end["capacity_per_s"], "calls_per_s": round(rate, 1),
            "share": round(rate / end["capacity_per_s"], 3) if end["capacity_per_s"] else None}


def process_usage(start: dict, end: dict, samples: list[tuple[float, dict]]) -> dict:
    names = list(end)
    return {
        "rss_mib_start": {name: start.get(name, {}).get("rss_mib") for name in names},
        "rss_mib_end": {name: end[name]["rss_mib"] for name in names},
        "cpu_s": {name: round(end[name]["cpu_s"] - start.get(name, {}).get("cpu_s", 0.0), 1) for name in names},
        "rss_timeline": {"second": [t for t, _ in samples],
                         **{name: [sample.get(name, {}).get("rss_mib") for _, sample in samples] for name in names}},
    }


def write_json(summary: dict, path: Path) -> None:
    path.write_text(json.dumps(summary, indent=1) + "\n")


def write_chart(summary: dict, path: Path) -> None:
    series, config = summary["timeline"], summary["config"]
    seconds = series["second"]
    figure = Figure(figsize=(11, 10))
    FigureCanvasAgg(figure)  # PNG output without pyplot's global state
    rates, latency, memory = figure.subplots(3, 1)
    figure.suptitle(f"ethsource load test: {config['profile']}, {config['rate']:g} submissions/s for "
                    f"{config['duration_s']:g} s, {config['workers']} workers  ({summary['started_at'][:19]}Z)")
    rates.plot(seconds, series["submit_per_s"], label="submit /s")
    rates.plot(seconds, series["status_per_s"], label="status /s")
    rates.axhline(config["rate"], color="grey", linestyle=":", label="target submit rate")
    rates.set_ylabel("requests / s")
    backlog = rates.twinx()
    backlog.plot(seconds, series["pending"], color="tab:red", alpha=0.5, label="pending contracts")
    backlog.set_ylabel("pending contracts")
    handles = rates.get_legend_handles_labels()[0] + backlog.get_legend_handles_labels()[0]
    rates.legend(handles=handles, loc="upper right", fontsize="small")
    for endpoint, color in (("submit", "tab:blue"), ("status", "tab:orange")):
        for quantile, style in (("p50", "-"), ("p99", "--")):
            values = [np.nan if v is None else v for v in series[f"{endpoint}_{quantile}_ms"]]
            latency.plot(seconds, values, style, color=color, label=f"{endpoint} {quantile}")
    latency.axhline(GOAL_P99_S * 1000, color="grey", linestyle=":", label="p99 goal")
    latency.set_yscale("log")
    latency.set_ylabel("latency (ms), by second sent")
    latency.legend(loc="upper right", fontsize="small", ncol=3)
    usage = summary.get("processes", {}).get("rss_timeline", {})
    for name, values in usage.items():
        if name != "second":
            memory.plot(usage["second"], values, label=name)
    memory.set_ylabel("RSS (MiB)")
    memory.set_xlabel("seconds since the first submission")
    memory.legend(loc="upper left", fontsize="x-small", ncol=4)
    for axis in (rates, latency, memory):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _cell(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def human_summary(summary: dict, output_dir: Path) -> str:
    config, contracts, database = summary["config"], summary["contracts"], summary.get("database", {})
    lines = [f"{config['profile']}: {config['rate']:g} submissions/s for {config['duration_s']:g} s, "
             f"{config['workers']} workers -> {config['base_url']}",
             f"{'endpoint':<9}{'requests':>9}{'rate/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
             f"{'late':>7}  status codes / errors"]
    for name, stats in summary["endpoints"].items():
        latency = stats["latency_ms"] or {}
        codes = " ".join(f"{code}:{count}" for code, count in stats["status_codes"].items())
        errors = " ".join(f"{kind}:{count}" for kind, count in stats["errors"].items())
        lines.append(f"{name:<9}{stats['requests']:>9}{_cell(stats['rate_per_s']):>9}"
                     + "".join(f"{_cell(latency.get(k), 1):>9}" for k in ("p50", "p90", "p99", "max"))
                     + f"{stats['late']:>7}  {codes} {errors}".rstrip())
    to_success = contracts["submit_to_success_s"] or {}
    lines.append(f"contracts: {contracts['accepted']} accepted, last seen {contracts['last_seen']}; "
                 f"submit->SUCCESS p50 {_cell(to_success.get('p50'), 2)} s, p99 {_cell(to_success.get('p99'), 2)} s; "
                 + (f"drained {contracts['drain_s']} s after the last submit" if contracts["drain_s"] is not None
                    else f"{contracts['not_settled']} not settled {config['drain_timeout_s']:g} s after the end"))
    if database.get("checked"):
        lines.append(f"database: {database['database']}; "
                     + ("agrees with the polls" if database["agrees"] else
                        f"{database['disagreeing']} differ from the polls' last view")
                     + f"; missing {database['missing']}; refused but stored {database['refused_in_database']}"
                       f"; unanswered but stored {database['unanswered_in_database']}")
    else:
        lines.append(f"database: not checked ({database.get('reason')})")
    if budget := summary.get("budget"):
        lines.append(f"scanner budget: {budget['calls_per_s']} calls/s of {budget['capacity_per_s']} allowed "
                     f"({_cell(budget['share'] and budget['share'] * 100, 0)} %), over the whole run")
    processes = summary.get("processes", {})
    lines.append("processes (RSS MiB start -> end, CPU s): " + ", ".join(
        f"{name} {_cell(processes['rss_mib_start'][name], 0)}->{_cell(processes['rss_mib_end'][name], 0)} "
        f"{processes['cpu_s'][name]:.0f}s" for name in processes.get("rss_mib_end", {})))
    lines.append("goals: " + ", ".join(f"{name} {'MET' if goal['met'] else 'NOT met'} ({_cell(goal['value'])})"
                                       for name, goal in summary["goals"].items()))
    machine = summary.get("machine", {})
    lines.append(f"machine: {machine.get('cpus')} CPUs, load average {machine.get('load_average_start')} at start, "
                 f"{machine.get('load_average_end')} at end")
    lines.append(f"report: {output_dir}/report.json" + ("" if config.get("no_chart") else f", {output_dir}/chart.png"))
    return "\n".join(lines)


class StatusLine:
    """A one-line live view on stderr: rewritten in place on a terminal, a line every 10 s otherwise."""

    def __init__(self, args, start_at: float):
        self.total = int(args.rate * args.duration)
        self.start_at = start_at
        self.tty = sys.stderr.isatty()
        self.every = 1.0 if self.tty else 10.0
        self.last = (start_at, 0, 0)
        self.next_at = start_at + self.every

    def show(self, progress: dict[int, dict]) -> None:
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + self.every
        total = {key: sum(p[key] for p in progress.values()) for key in next(iter(progress.values()))}
        then, submitted, polls = self.last
        elapsed = max(now - then, 1e-6)
        self.last = (now, total["submitted"], total["polls"])
        text = (f"{now - self.start_at:6.0f} s  submitted {total['submitted']}/{self.total} "
                f"({(total['submitted'] - submitted) / elapsed:.0f}/s)  polls {total['polls']} "
                f"({(total['polls'] - polls) / elapsed:.0f}/s)  pending {total['pending']}  "
                f"late {total['late']}  errors {total['submit_errors']}")
        sys.stderr.write(f"\r{text}\033[K" if self.tty else text + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
