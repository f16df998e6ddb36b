"""The one table: figures, ratios to the references of the same run, targets met or missed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    measure: str
    figure: str
    compared: str = ""
    target: str = ""
    verdict: str = ""


def render(figures: dict[str, Any], connections: int) -> str:
    rows = _rows(figures, connections)
    headers = Row("measure", "figure", "compared in this run", "target", "verdict")
    table = [headers, *rows]
    widths = [max(len(getattr(r, f)) for r in table) for f in Row.__dataclass_fields__]
    lines = []
    for index, row in enumerate(table):
        cells = [
            getattr(row, f).ljust(w) for f, w in zip(Row.__dataclass_fields__, widths, strict=True)
        ]
        lines.append(" | ".join(cells).rstrip())
        if index == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _rows(figures: dict[str, Any], connections: int) -> list[Row]:
    return [
        *_rate_rows(figures, connections),
        *_latency_rows(figures),
        *_worker_rows(figures),
        *_growth_rows(figures),
    ]


def _rate_rows(figures: dict[str, Any], connections: int) -> list[Row]:
    ref = figures.get("reference", {})
    raw = figures.get("reference_raw", {})
    moto = figures.get("moto", {})
    ref_post = ref.get("post", {}).get("rate", math.nan)
    ref_get = ref.get("get", {}).get("rate", math.nan)
    raw_post = raw.get("post", {}).get("rate", math.nan)
    raw_get = raw.get("get", {}).get("rate", math.nan)
    moto_detach = moto.get("detach", {}).get("rate", math.nan)
    moto_describe = moto.get("describe", {}).get("rate", math.nan)
    rows = [
        Row(
            "1. reference (bare Starlette app): POST /s, GET /s",
            f"{ref_post:,.0f} / {ref_get:,.0f}",
            f"p99 {ref.get('post', {}).get('p99_ms', math.nan):.1f} ms; {_cpu(ref)}",
        ),
        Row(
            "1. bare ASGI callable (no framework): POST /s, GET /s",
            f"{raw_post:,.0f} / {raw_get:,.0f}",
            f"p99 {raw.get('post', {}).get('p99_ms', math.nan):.1f} ms; {_cpu(raw)}",
        ),
        Row(
            "1. moto: DetachVolume /s, DescribeVolumes /s",
            f"{moto_detach:,.0f} / {moto_describe:,.0f}",
            f"{_errors(moto.get('detach', {}))}; {_cpu(moto, 'detach', 'describe')}",
        ),
    ]
    for store in ("sqlite", "postgresql"):
        found = figures.get(f"localecs_{store}")
        if found is None:
            rows.append(Row(f"1. localecs {store}", "n/a (no PostgreSQL URL)"))
            continue
        batch, show = found["batch"], found["show_job"]
        primary = store == "sqlite"
        rows += [
            Row(
                f"1. {store}: batch-detach submissions /s",
                f"{batch['rate']:,.0f}",
                f"{_ratio(batch['rate'], ref_post)} of reference "
                f"({_ratio(batch['rate'], raw_post)} of bare ASGI), "
                f"{_times(batch['rate'], moto_detach)} moto; {_errors(batch)}; "
                f"{batch.get('cpu_us', math.nan):,.0f} us CPU/request",
                ">= 25 % ref, >= 10x moto" if primary else "",
                _rate_verdict(batch["rate"], 0.25 * ref_post, 10 * moto_detach) if primary else "",
            ),
            Row(
                f"1. {store}: show_job /s",
                f"{show['rate']:,.0f}",
                f"{_ratio(show['rate'], ref_get)} of reference "
                f"({_ratio(show['rate'], raw_get)} of bare ASGI), "
                f"{_times(show['rate'], moto_describe)} moto; {_errors(show)}; "
                f"{show.get('cpu_us', math.nan):,.0f} us CPU/request",
                ">= 50 % ref, >= 10x moto" if primary else "",
                _rate_verdict(show["rate"], 0.5 * ref_get, 10 * moto_describe) if primary else "",
            ),
        ]
        # The p99 target holds for each kind of request: a verdict of its own for each.
        for name, load in (("batch", batch), ("show_job", show)):
            rows.append(
                Row(
                    f"1. {store}: {name} p50 / p99 at {connections} connections",
                    f"{load['p50_ms']:.1f} / {load['p99_ms']:.1f} ms",
                    "",
                    "p99 < 25 ms" if primary else "",
                    _below_verdict(load["p99_ms"], 25, "ms") if primary else "",
                )
            )
        one = found.get("show_job_one_thread")
        if one is not None:
            rows.append(
                Row(
                    f"1. {store}: show_job, wrk on one thread",
                    f"{one['rate']:,.0f} /s, "
                    f"p50 / p99 {one['p50_ms']:.1f} / {one['p99_ms']:.1f} ms",
                    f"{connections} connections; {_errors(one)}",
                )
            )
    return rows


def _latency_rows(figures: dict[str, Any]) -> list[Row]:
    rows = []
    for store in ("sqlite", "postgresql"):
        for size, found in figures.get(f"e2e_{store}", {}).items():
            target = size == "16" and store == "sqlite"
            rows.append(
                Row(
                    f"2. {store}: end to end, {size}-server batch",
                    f"p50 {found['p50_ms']:.1f} ms, p99 {found['p99_ms']:.1f} ms",
                    f"{found['samples']} jobs, polling every 1 ms",
                    "p50 < 50 ms" if target else "",
                    _below_verdict(found["p50_ms"], 50, "ms") if target else "",
                )
            )
    return rows


def _worker_rows(figures: dict[str, Any]) -> list[Row]:
    rows = []
    drain = figures.get("localecs_sqlite", {}).get("workers")
    if drain is not None:
        rows.append(
            Row(
                "3. sqlite: worker sub-jobs /s (1 process, 4 threads)",
                f"{drain['rate']:,.0f}",
                f"{drain['failed']:.0f} failed",
            )
        )
    scale_out = figures.get("pg_scale_out")
    if not scale_out:
        return [*rows, Row("3. postgresql: worker sub-jobs /s", "n/a (PostgreSQL not run)")]
    for count, found in scale_out.items():
        rows.append(
            Row(
                f"3. postgresql: {count} worker process(es)",
                f"{found['sub_jobs_per_second']:,.0f} sub-jobs/s",
                f"pick-up p50 {found['pickup_p50_ms']:.1f} ms, p99 {found['pickup_p99_ms']:.1f} ms;"
                f" {found['sub_jobs']:,.0f} sub-jobs",
            )
        )
    return rows


def _growth_rows(figures: dict[str, Any]) -> list[Row]:
    rows = []
    growth = figures.get("growth")
    if growth is not None:
        for name in ("show_job", "block_devices", "list_volumes"):
            empty, full = growth["empty"][name], growth["full"][name]
            ratio = full / empty if empty else math.nan
            rows.append(
                Row(
                    f"4. growth: {name} p50 empty -> full",
                    f"{empty:.2f} -> {full:.2f} ms",
                    f"ratio {ratio:.2f}",
                    "< 1.5",
                    _below_verdict(ratio, 1.5, ""),
                )
            )
    idle = figures.get("rss_idle_mib")
    if idle is not None:
        met = idle * 1.048576 < 150  # MiB to MB
        rows.append(
            Row("5. memory: idle server RSS", f"{idle:.0f} MiB", "", "< 150 MB", _verdict(met))
        )
    if growth is not None:
        full = growth["rss_full_mib"]
        rows.append(Row("5. memory: server holding (4)'s data, RSS", f"{full:.0f} MiB"))
    return rows


def _cpu(found: dict[str, Any], first: str = "post", second: str = "get") -> str:
    """The server's CPU time per request of the two loads, in microseconds."""
    a = found.get(first, {}).get("cpu_us", math.nan)
    b = found.get(second, {}).get("cpu_us", math.nan)
    return f"{a:,.0f} / {b:,.0f} us CPU/request"


def _ratio(value: float, reference: float) -> str:
    return f"{100 * value / reference:.0f} %" if reference else "n/a"


def _times(value: float, reference: float) -> str:
    return f"{value / reference:.1f}x" if reference else "n/a"


def _errors(found: dict[str, Any]) -> str:
    text = f"{found.get('non_2xx', 0)} non-2xx"
    if found.get("repeated", 0) > 0:
        text += " (the load outran the pool of valid requests)"
    return text


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _rate_verdict(rate: float, *floors: float) -> str:
    """Met, or missed by the factor the rate would have to grow by to meet every floor."""
    need = max(floors)
    if rate >= need:
        return "met"
    return f"MISSED: needs {need:,.0f}/s, {need / rate:.1f}x this" if rate else "MISSED"


def _below_verdict(value: float, limit: float, unit: str) -> str:
    if value < limit:
        return "met"
    return f"MISSED by {value - limit:,.2f}{(' ' + unit) if unit else ''} ({value / limit:.1f}x)"
