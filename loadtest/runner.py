"""The load run: fixtures through the API, N closed-loop asyncio clients for a fixed time, then a count-back.

Traffic (whatever of it the running API documents in ``/openapi.json``):

- ``incident``   ``POST /incidents`` as a signed-in customer (each client rotates a few identities, so the
  per-actor rate limit is exercised but not the point); each client reports into its own area.
- ``attendance`` ``PUT /admin/schedules/{id}/attendance/{date}/{student_id}``: several clients share each
  schedule (contention on the same items and the schedule's revision), but every (date, student) key
  has one writer, so the last acknowledged status is what must be read back.
- ``optimise``   ``POST /admin/media/{id}/optimise`` on a few videos (202 queued, or 409 when already queued).
- ``list``       admin list reads (students, schedules, incidents, jobs, media).

A write is *lost* when the server acknowledged it (2xx) and the API cannot show it afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from academy_cli.client import AsyncApiClient

# ftyp + moov (a 1 s mvhd) + mdat: passes the upload's type sniff and box check; ffmpeg fails it fast
FAKE_MP4 = (
    b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42"
    + (116).to_bytes(4, "big")
    + b"moov"
    + (108).to_bytes(4, "big")
    + b"mvhd"
    + bytes(12)
    + (1000).to_bytes(4, "big")
    + (1000).to_bytes(4, "big")
    + bytes(80)
    + (520).to_bytes(4, "big")
    + b"mdat"
    + bytes(512)
)
STATUSES = ("present", "absent", "late")
LOOPBACK = ("127.", "localhost", "::1", "[::1]")
Mint = Callable[[str, str], str]


@dataclass
class Config:
    url: str
    clients: int = 50
    duration_s: float = 60.0
    students: int = 10
    schedules: int = 5
    weeks: int = 26
    videos: int = 4
    timeout_s: float = 30.0
    seed: int = 1
    warmup_s: float = 0.0  # traffic before the measured rounds (its writes are counted back, its timings are not)
    mix: dict[str, int] = field(default_factory=lambda: {"incident": 3, "attendance": 3, "list": 3, "optimise": 1})

    def __post_init__(self) -> None:
        host = urlsplit(self.url).hostname or ""
        if not host.startswith(LOOPBACK):
            raise ValueError(f"load runs only target this machine (127.0.0.1/localhost/::1), not {host!r}")


@dataclass
class Fixtures:
    run: str
    customer_id: str
    students: list[str] = field(default_factory=list)
    schedules: dict[str, list[str]] = field(default_factory=dict)  # schedule id -> its session dates
    videos: list[str] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)


@dataclass
class Ledger:
    """Every write the server acknowledged, to be found again afterwards."""

    incidents: dict[str, list[tuple[str, bool]]] = field(default_factory=lambda: defaultdict(list))  # area -> (id, stored)
    attendance: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (schedule, date, student) -> status
    jobs: dict[str, str] = field(default_factory=dict)  # job id -> video id


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    unexpected: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)

    timeline: list[tuple[float, str, float]] = field(default_factory=list)  # (monotonic end, op, seconds)

    def record(self, op: str, status: int, seconds: float) -> None:
        self.timeline.append((time.monotonic(), op, seconds))
        self.latencies[op].append(seconds)
        self.statuses[op][status] += 1


@dataclass
class Report:
    config: Config
    elapsed_s: float
    stats: Stats
    lost: dict[str, list[str]]
    verified: dict[str, int]
    floor: Report | None = None  # the same traffic against the floor stack (academy_cli/load_floor.py), same run

    @property
    def server_errors(self) -> int:
        return sum(n for c in self.stats.statuses.values() for s, n in c.items() if s >= 500)

    @property
    def lost_writes(self) -> int:
        return sum(len(v) for v in self.lost.values())

    @property
    def ok(self) -> bool:
        return not (self.server_errors or self.lost_writes or self.stats.unexpected or self.stats.transport_errors)

    def rows(self) -> list[dict[str, Any]]:
        """Per operation and overall: requests, throughput, p50/p99/max latency (ms), statuses."""
        out = []
        every = [x for xs in self.stats.latencies.values() for x in xs]
        groups = [*sorted(self.stats.latencies.items()), ("all", every)]
        for op, xs in groups:
            if not xs:
                continue
            statuses = self.stats.statuses[op] if op != "all" else sum(self.stats.statuses.values(), Counter())
            out.append(
                {
                    "op": op,
                    "requests": len(xs),
                    "rps": len(xs) / self.elapsed_s,
                    "p50_ms": statistics.median(xs) * 1000,
                    "p99_ms": percentile(xs, 99) * 1000,
                    "max_ms": max(xs) * 1000,
                    "statuses": dict(sorted(statuses.items())),
                }
            )
        return out

    def overall(self) -> dict[str, Any]:
        """The ``all`` row (every operation together)."""
        return next(r for r in self.rows() if r["op"] == "all")

    def goals(self) -> list[dict[str, Any]]:
        """The load's goals against the floor measured in the same run (issue 20), each with ok."""
        ours = self.overall()
        spread = ours["p99_ms"] / ours["p50_ms"]
        out = [
            {"name": "p99 / p50 (ours)", "value": spread, "goal": "<= 3", "ok": spread <= 3},
            {"name": "5xx", "value": self.server_errors, "goal": "0", "ok": self.server_errors == 0},
            {"name": "lost writes", "value": self.lost_writes, "goal": "0", "ok": self.lost_writes == 0},
        ]
        if self.floor is not None:
            ratio = ours["rps"] / self.floor.overall()["rps"]
            out.insert(0, {"name": "throughput, ours / floor's", "value": ratio, "goal": ">= 0.7", "ok": ratio >= 0.7})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "clients": self.config.clients,
            "duration_s": self.config.duration_s,
            "elapsed_s": self.elapsed_s,
            "rows": self.rows(),
            "server_errors": self.server_errors,
            "lost_writes": self.lost_writes,
            "lost": {k: v[:20] for k, v in self.lost.items()},
            "verified": self.verified,
            "unexpected": self.stats.unexpected[:20],
            "transport_errors": self.stats.transport_errors[:20],
            "ok": self.ok,
            "floor": {"elapsed_s": self.floor.elapsed_s, "rows": self.floor.rows()} if self.floor is not None else None,
            "goals": self.goals(),
            "timeline": [[round(t, 3), op, round(x * 1000, 1)] for t, op, x in self.stats.timeline],
        }

    def table(self, label: str) -> list[str]:
        lines = [
            f"{label}: {self.config.clients} clients for {self.elapsed_s:.1f} s",
            f"{'op':12} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses",
        ]
        for r in self.rows():
            lines.append(
                f"{r['op']:12} {r['requests']:>9} {r['rps']:>8.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['max_ms']:>8.1f}  "
                f"{r['statuses']}"
            )
        return lines

    def render(self) -> str:
        lines = self.table(f"ours ({self.config.url})")
        if self.floor is not None:
            lines += self.floor.table("floor (bare routes making the same AWS calls, same process)")
        lines.append(f"{'goal':32} {'value':>8}  {'goal':>6}  ok")
        for g in self.goals():
            value = f"{g['value']:.2f}" if isinstance(g["value"], float) else str(g["value"])
            lines.append(f"{g['name']:32} {value:>8}  {g['goal']:>6}  {'yes' if g['ok'] else 'NO'}")
        counted = ", ".join(f"{k} {v}" for k, v in sorted(self.verified.items()))
        lines.append(f"5xx: {self.server_errors}   lost writes: {self.lost_writes}   writes counted back: {counted}")
        for kind, items in self.lost.items():
            lines += [f"LOST {kind}: {x}" for x in items[:10]]
        lines += [f"UNEXPECTED {x}" for x in self.stats.unexpected[:10]]
        lines += [f"TRANSPORT {x}" for x in self.stats.transport_errors[:10]]
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p99 is a latency that happened)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# --- fixtures ------------------------------------------------------------------------------------


def _session_dates(start: date, weeks: int) -> list[str]:
    return [(start + timedelta(weeks=w)).isoformat() for w in range(weeks)]


async def create_fixtures(api: AsyncApiClient, cfg: Config, mint: Mint, documented: set[tuple[str, str]]) -> Fixtures:
    run = datetime.now(UTC).strftime("%H%M%S") + f"{random.Random().randrange(1000):03d}"
    fx = Fixtures(run=run, customer_id=f"load-{run}")
    customer = mint("customer", fx.customer_id)
    for i in range(cfg.students):
        s = await api.call("POST", "/admin/students", {"customer_id": fx.customer_id, "name": f"Load {i}"}, ok=(201,))
        fx.students.append(s["id"])
    if ("POST", "/admin/schedules") in documented:
        today = datetime.now(UTC).date()
        first = today - timedelta(weeks=cfg.weeks)
        for i in range(cfg.schedules):
            starts = datetime(first.year, first.month, first.day, 8 + i, 0, tzinfo=UTC)
            body = {
                "title": f"Load class {i}",
                "student_ids": fx.students,
                "starts_at": starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ends_at": (starts + timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "recurrence": "weekly",
                "until": (first + timedelta(weeks=cfg.weeks - 1)).isoformat(),
            }
            sched = await api.call("POST", "/admin/schedules", body, ok=(201,))
            fx.schedules[sched["id"]] = _session_dates(first, cfg.weeks)
    if ("POST", "/customer/videos") in documented and ("POST", "/admin/media/{video_id}/optimise") in documented:
        for i in range(cfg.videos):
            fx.videos.append(await _video(api, customer, fx.students[i % len(fx.students)]))
    for path in ("/admin/students", "/admin/schedules", "/admin/incidents", "/admin/jobs", "/admin/media"):
        if ("GET", path) in documented:
            fx.lists.append(f"{path}?limit=20")
    return fx


async def _video(api: AsyncApiClient, customer: str, student_id: str) -> str:
    body = {"student_id": student_id, "filename": "proof.mp4", "content_type": "video/mp4", "size_bytes": len(FAKE_MP4)}
    created = await api.call("POST", "/customer/videos", body, token=customer, ok=(201,))
    video_id = created["video"]["id"]
    upload = created["upload"]
    form = await api.post_form(upload["url"], upload["fields"], {"file": ("proof.mp4", FAKE_MP4)})
    if form.status_code >= 300:
        raise RuntimeError(f"video upload → {form.status_code}: {form.text[:200]}")
    await api.call("POST", f"/customer/videos/{video_id}/complete", token=customer, ok=(202,))
    return str(video_id)


# --- the timed run -------------------------------------------------------------------------------


class Client:
    """One closed-loop client: picks an operation by weight, sends it, records the outcome, repeats."""

    def __init__(self, index: int, cfg: Config, fx: Fixtures, mint: Mint, api: AsyncApiClient, admin: str) -> None:
        self.index = index
        self.api = api
        self.fx = fx
        self.rng = random.Random(cfg.seed * 1000 + index)
        self.admin = admin
        self.reporters = itertools.cycle([mint("customer", f"load-{fx.run}-c{index}-{j}") for j in range(4)])
        self.area = f"load.r{fx.run}.c{index}"
        self.statuses = itertools.cycle(STATUSES[index % 3 :] + STATUSES[: index % 3])
        self.keys = itertools.cycle(self._my_keys(cfg)) if fx.schedules else None
        ops = {
            "incident": cfg.mix.get("incident", 0),
            "attendance": cfg.mix.get("attendance", 0) if fx.schedules else 0,
            "list": cfg.mix.get("list", 0) if fx.lists else 0,
            "optimise": cfg.mix.get("optimise", 0) if fx.videos else 0,
        }
        self.ops = [op for op, weight in ops.items() for _ in range(weight)]

    def _my_keys(self, cfg: Config) -> list[tuple[str, str, str]]:
        """This client's (schedule, date, student) keys: clients share schedules, never keys."""
        schedule_ids = sorted(self.fx.schedules)
        mine = schedule_ids[self.index % len(schedule_ids)]
        peers = [c for c in range(cfg.clients) if c % len(schedule_ids) == self.index % len(schedule_ids)]
        rank = peers.index(self.index)
        keys = [(mine, d, s) for d in self.fx.schedules[mine] for s in self.fx.students]
        return keys[rank :: len(peers)] or keys[:1]

    async def run(self, until: float, stats: Stats, ledger: Ledger) -> None:
        handlers: dict[str, Callable[[Stats, Ledger], Awaitable[None]]] = {
            "incident": self.incident,
            "attendance": self.attendance,
            "list": self.list,
            "optimise": self.optimise,
        }
        while time.monotonic() < until:
            op = self.rng.choice(self.ops)
            try:
                await handlers[op](stats, ledger)
            except httpx.HTTPError as exc:
                stats.transport_errors.append(f"{op}: {type(exc).__name__}: {exc}")

    async def _send(self, stats: Stats, op: str, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
        started = time.perf_counter()
        resp = await self.api.send(method, path, body, token=token)
        stats.record(op, resp.status_code, time.perf_counter() - started)
        return resp

    def _unexpected(self, stats: Stats, op: str, resp: httpx.Response) -> None:
        stats.unexpected.append(f"{op} {resp.request.method} {resp.request.url.path} → {resp.status_code}: {resp.text[:200]}")

    async def incident(self, stats: Stats, ledger: Ledger) -> None:
        body = {
            "area": self.area,
            "message": "Upload failed (load run)",
            "location": "/console/customer/homework",
            "http_status": 503,
            "context": {"client": self.index, "password": "never-stored"},
        }
        resp = await self._send(stats, "incident", "POST", "/incidents", next(self.reporters), body)
        if resp.status_code == 202:
            data = resp.json()
            ledger.incidents[self.area].append((data["id"], bool(data.get("stored", True))))
        elif resp.status_code != 429:  # rate limited: refused, not written; counted in the statuses
            self._unexpected(stats, "incident", resp)

    async def attendance(self, stats: Stats, ledger: Ledger) -> None:
        assert self.keys is not None
        schedule_id, day, student_id = next(self.keys)
        status = next(self.statuses)
        path = f"/admin/schedules/{schedule_id}/attendance/{day}/{student_id}"
        resp = await self._send(stats, "attendance", "PUT", path, self.admin, {"status": status, "note": f"c{self.index}"})
        if resp.status_code == 200 and resp.json().get("status") == status:
            ledger.attendance[(schedule_id, day, student_id)] = status
        elif resp.status_code != 409:  # 409: refused (schedule busy); the previous value must stand
            self._unexpected(stats, "attendance", resp)

    async def list(self, stats: Stats, ledger: Ledger) -> None:
        path = self.rng.choice(self.fx.lists)
        resp = await self._send(stats, "list", "GET", path, self.admin)
        if resp.status_code != 200 or "items" not in resp.json():
            self._unexpected(stats, "list", resp)

    async def optimise(self, stats: Stats, ledger: Ledger) -> None:
        video_id = self.rng.choice(self.fx.videos)
        resp = await self._send(stats, "optimise", "POST", f"/admin/media/{video_id}/optimise", self.admin)
        if resp.status_code == 202:
            ledger.jobs[resp.json()["job_id"]] = video_id
        elif resp.status_code != 409:
            self._unexpected(stats, "optimise", resp)


# --- count back ----------------------------------------------------------------------------------


async def count_back(api: AsyncApiClient, fx: Fixtures, ledger: Ledger) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Find every acknowledged write through the API: (lost by kind, verified counts by kind)."""
    lost: dict[str, list[str]] = defaultdict(list)
    verified: Counter[str] = Counter()
    for area, acked in ledger.incidents.items():
        groups = (await api.call("GET", f"/admin/incidents?area={area}&limit=100"))["items"]
        counted = sum(int(g["count"]) for g in groups)
        if counted < len(acked):
            lost["incidents"].append(f"{area}: {len(acked)} accepted, groups count {counted}")
        seen = {i["id"] for g in groups for i in await api.pages(f"/admin/incidents/groups/{g['group_id']}")}
        missing = [incident_id for incident_id, stored in acked if stored and incident_id not in seen]
        lost["incidents"] += [f"{area}: incident {m} accepted as stored, not found" for m in missing]
        verified["incidents"] += len(acked) - len(missing)
    for schedule_id in fx.schedules:
        rows = await api.pages(f"/admin/schedules/{schedule_id}/attendance")
        found = {(schedule_id, r["date"], r["student_id"]): r["status"] for r in rows}
        for key, status in ledger.attendance.items():
            if key[0] != schedule_id:
                continue
            if found.get(key) != status:
                lost["attendance"].append(f"{key}: last acknowledged {status}, read back {found.get(key)}")
            else:
                verified["attendance"] += 1
    sem = asyncio.Semaphore(16)

    async def job(job_id: str, video_id: str) -> None:
        async with sem:
            resp = await api.send("GET", f"/admin/jobs/{job_id}")
        if resp.status_code != 200 or video_id not in resp.text:
            lost["jobs"].append(f"job {job_id} for video {video_id}: {resp.status_code}")
        else:
            verified["jobs"] += 1

    await asyncio.gather(*(job(j, v) for j, v in ledger.jobs.items()))
    return {k: v for k, v in lost.items() if v}, dict(verified)


async def _traffic(
    cfg: Config, fx: Fixtures, mint: Mint, api: AsyncApiClient, admin: str, seconds: float, stats: Stats, ledger: Ledger
) -> float:
    """``cfg.clients`` clients for ``seconds`` against ``api``, recorded into ``stats``/``ledger``: the time taken."""
    clients = [Client(i, cfg, fx, mint, api, admin) for i in range(cfg.clients)]
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(*(c.run(until, stats, ledger) for c in clients))
    return time.monotonic() - started


async def run_load(
    cfg: Config, mint: Mint, log: Callable[[str], None] = print, floor_url: str | None = None, rounds: int = 3
) -> Report:
    """Fixtures, then ``cfg.clients`` clients for ``cfg.duration_s`` seconds, each write counted back.

    With ``floor_url`` (a stack started with ``--load-floor-port``), the same clients also send the same
    traffic for the same time to the floor (academy_cli/load_floor.py), whose figures go in
    ``Report.floor``: in ``rounds`` alternating rounds (ours, floor, ours, floor …), so that whatever
    else the machine does weighs on both alike. ``cfg.warmup_s`` of traffic to each comes first and is
    not measured: the first requests of each route pay the process's lazy imports and first clients
    (a cold start, which the benchmarks measure on their own), and 50 of them at once made every
    slowest-1 % request of a run.
    """
    admin = mint("admin", "load-admin")
    rounds = rounds if floor_url is not None else 1
    stats, elapsed = Stats(), 0.0
    f_stats, f_elapsed = Stats(), 0.0
    lost: dict[str, list[str]] = defaultdict(list)
    verified: Counter[str] = Counter()
    async with (
        AsyncApiClient(cfg.url, admin, timeout_s=cfg.timeout_s, max_connections=cfg.clients + 16) as api,
        AsyncApiClient(floor_url or cfg.url, admin, timeout_s=cfg.timeout_s, max_connections=cfg.clients + 16) as floor_api,
    ):
        doc = await api.call("GET", "/openapi.json")
        documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
        fx = await create_fixtures(api, cfg, mint, documented)
        log(
            f"fixtures: {len(fx.students)} students, {len(fx.schedules)} schedules, {len(fx.videos)} videos, "
            f"{len(fx.lists)} lists (run {fx.run})"
        )

        async def ours(seconds: float, into: Stats) -> float:
            # counted back before the floor runs: its replays write the same items again
            ledger = Ledger()
            took = await _traffic(cfg, fx, mint, api, admin, seconds, into, ledger)
            round_lost, round_verified = await count_back(api, fx, ledger)
            for kind, items in round_lost.items():
                lost[kind] += items
            verified.update(round_verified)
            return took

        if cfg.warmup_s > 0:
            log(f"warm-up: {cfg.warmup_s:.0f} s of the same traffic, not measured …")
            await ours(cfg.warmup_s, Stats())
            if floor_url is not None:
                await _traffic(cfg, fx, mint, floor_api, admin, cfg.warmup_s, Stats(), Ledger())
        for r in range(rounds):
            elapsed += await ours(cfg.duration_s / rounds, stats)
            if floor_url is not None:
                log(f"round {r + 1}/{rounds}: ours done and counted back; the same traffic against the floor ({floor_url}) …")
                f_elapsed += await _traffic(cfg, fx, mint, floor_api, admin, cfg.duration_s / rounds, f_stats, Ledger())
        log(f"traffic done in {elapsed:.1f} s, every acknowledged write counted back")
    report = Report(cfg, elapsed, stats, dict(lost), dict(verified))
    if floor_url is not None:
        report.floor = Report(cfg, f_elapsed, f_stats, {}, {})
    return report
