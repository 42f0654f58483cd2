"""Fault injection (`make test-faults`): not part of `make test`. Collected only when MEDSITE_FAULTS=1.

One private stack (PostgreSQL, Redis, tmpfs media, gunicorn, a worker with beat) serves the four scenarios in
turn; each scenario's figures go to var/faults/results.json and var/faults/results.md as soon as it ends.
"""

import json
import os
import platform
import time
from datetime import UTC, datetime

import pytest

from tests.conftest import train_tiny_bundle
from tests.faults.stack import FAULT_SETTINGS, MEDIA_SIZE, ROOT, Stack

if os.environ.get("MEDSITE_FAULTS") != "1":
    collect_ignore_glob = ["test_*.py"]

SCENARIOS = ["worker_sigkill", "redis_restart", "postgres_restart", "media_disk_full"]
OUT = ROOT / "var" / "faults"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("make test-faults needs root: it mounts a tmpfs for the media and runs PostgreSQL as postgres")
    bundle = train_tiny_bundle(tmp_path_factory.mktemp("bundle"))
    stack = Stack()
    try:
        stack.start(SCENARIOS, bundle)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def results():
    figures: dict[str, dict] = {}
    started = time.time()

    def record(name: str, result: dict) -> None:
        figures[name] = result
        write(figures, started)

    yield record
    write(figures, started)


def write(figures: dict[str, dict], started: float) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()}-core {platform.machine()}, {platform.system()} {platform.release()}",
        "elapsed_s": round(time.time() - started, 1),
        "settings": FAULT_SETTINGS | {"media": f"tmpfs size={MEDIA_SIZE}", "gunicorn_workers": 2},
    }
    ordered = {name: figures[name] for name in SCENARIOS if name in figures}
    (OUT / "results.json").write_text(json.dumps({"meta": meta, "scenarios": ordered}, indent=2) + "\n")
    (OUT / "results.md").write_text(markdown(meta, ordered))


def _s(value) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def markdown(meta: dict, figures: dict[str, dict]) -> str:
    lines = [
        f"Measured {meta['date']} on {meta['machine']}; settings: "
        + ", ".join(f"`{k}={v}`" for k, v in meta["settings"].items()),
        "",
        "| Fault | Outage | Uploads | Accepted (201) | Refused | Predicted once | Lost | Duplicates "
        "| Orphan files | Fault end → next prediction | → backlog done | → all done | Scenario |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in figures.values():
        refused = ", ".join(f"{n} × {code}" for code, n in r["refused"].items()) or "0"
        lines.append(
            f"| {r['fault']} | {_s(r['outage_s'])} | {r['uploads']} ({r['uploads_during_fault']} in the fault) "
            f"| {r['accepted']} | {refused} "
            f"| {r['predicted_once']} | {len(r['lost'])} | {len(r['duplicates'])} "
            f"| {r['orphan_upload_files']} upload, {r['orphan_heatmaps']} heatmap "
            f"| {_s(r['recovery_next_prediction_s'])} | {_s(r['recovery_backlog_s'])} "
            f"| {_s(r['recovery_all_done_s'])} | {_s(r['scenario_s'])} |"
        )
    lines += [
        "",
        "Predicted once: accepted images that ended `done` with exactly one prediction, by the active version. Lost: "
        "accepted images that did not. Duplicates: images with more than one prediction. Orphan files: files in the "
        "media folder that no row refers to, new in the scenario. Fault end → backlog done: every image accepted "
        "before the fault ended has its prediction; → all done: so has every image accepted in the scenario (uploads "
        "go on for a few seconds after the fault). Scenario: first upload to every image settled.",
        "",
    ]
    for r in figures.values():
        for code, messages in r["refused_messages"].items():
            lines.append(f"- {r['fault']}, HTTP {code}: " + " / ".join(f"“{m}”" for m in messages))
        notes = [r["notes"]] if r.get("notes") else []
        notes.append(
            f"{r['requeued_by_sweep']} message(s) re-sent for stalled images by the sweep and the start-up hook "
            "(an image still waiting is re-sent at each sweep; its claim lets one run through)"
        )
        lines.append(f"- {r['fault']}: " + "; ".join(notes))
    return "\n".join(lines) + "\n"
