"""``make bench``: run every ``bench/bench_*.py`` and print one table of measured ratios.

Each module exposes ``run() -> list[dict]``; a row has ``name``, ``value``, ``unit``, and for a
comparison ``baseline`` (measured in the same run) with ``ratio`` and ``goal``. Results also go to
``bench/results.json`` (not committed). ``python -m bench NAME`` runs only modules matching NAME.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    wanted = argv[1:] or None
    rows: list[dict] = []
    failures = 0
    for mod in sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_")):
        if wanted and not any(w in mod for w in wanted):
            continue
        print(f"== {mod}", flush=True)
        started = time.monotonic()
        try:
            module_rows = importlib.import_module(f"bench.{mod}").run()
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            failures += 1
            continue
        for r in module_rows:
            r.setdefault("module", mod)
        rows += module_rows
        print(f"   ({time.monotonic() - started:.1f} s)", flush=True)
    print()
    print(f"{'benchmark':58} {'value':>14} {'baseline':>14} {'ratio':>7} {'goal':>8}  ok")
    for r in rows:
        ratio = r.get("ratio")
        goal = r.get("goal")
        ok = "" if goal is None or ratio is None else ("yes" if ratio <= goal else "NO")
        base = r.get("baseline")
        print(
            f"{r['name'][:58]:58} {_fmt(r['value'], r.get('unit', '')):>14} "
            f"{_fmt(base, r.get('unit', '')) if base is not None else '':>14} "
            f"{f'{ratio:.2f}' if ratio is not None else '':>7} {f'<= {goal}' if goal is not None else '':>8}  {ok}"
        )
    (HERE / "results.json").write_text(json.dumps(rows, indent=2))
    return 1 if failures else 0


def _fmt(value: float, unit: str) -> str:
    if isinstance(value, float):
        return f"{value:.3g} {unit}".strip()
    return f"{value} {unit}".strip()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
