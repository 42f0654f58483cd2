"""Faults while uploads are in flight: the worker SIGKILLed mid-inference, Redis restarted, PostgreSQL restarted,
the media disk full. Each accepted upload (HTTP 201) must end `done` with exactly one prediction by the active
version; a refused upload must leave no row and no file behind. The figures go to var/faults/.

Timeline of each scenario: client threads upload for PRE seconds, the fault is injected (uploads go on), it
ends, uploads go on for POST seconds, then the harness waits (at most SETTLE seconds) for every image to settle.
"""

import time
from collections import Counter

import pytest

from tests.faults.stack import WORKER_NAME, Stack, Uploader

pytestmark = pytest.mark.live

PRE, POST, SETTLE = 4.0, 4.0, 75.0
UPLOAD_FOLDERS = ("images/", "display/", "deidentified/")


def _scenario(stack: Stack, name: str, label: str, fault) -> dict:
    study = stack.ids["studies"][name]
    url = f"http://127.0.0.1:{stack.web_port}/api/v1/studies/{study}/images/"
    orphans_before = stack.media.files() - stack.referenced_files()
    uploader = Uploader(url, stack.ids["token"], counter=stack.counter).start()
    try:
        time.sleep(PRE)
        info = fault(stack)
        time.sleep(POST)
    finally:
        uploads = uploader.stop()
    images = stack.wait_settled(study, SETTLE)
    settled = time.time()
    fault_start, fault_end = info.pop("fault_start"), info.pop("fault_end")

    accepted = [pk for u in uploads if u.status == 201 for pk in u.images]
    refused = [u for u in uploads if u.status != 201]
    once = [
        pk
        for pk in accepted
        if pk in images
        and images[pk]["status"] == "done"
        and images[pk]["predictions"] == images[pk]["active_predictions"] == 1
    ]
    lost = {pk: images.get(pk, {}).get("status", "missing") for pk in accepted if pk not in once}
    orphans = stack.media.files() - stack.referenced_files() - orphans_before
    predicted_at = [images[pk]["predicted_at"] for pk in once]
    before_end = [images[pk]["predicted_at"] for u in uploads if u.started < fault_end for pk in u.images if pk in once]
    next_prediction = stack.first_prediction_after(fault_end)
    messages: dict[str, list[str]] = {}
    for u in refused:
        found = messages.setdefault(str(u.status), [])
        if u.message[:160] not in found and len(found) < 3:
            found.append(u.message[:160])
    return {
        "fault": label,
        "outage_s": round(fault_end - fault_start, 2),
        "uploads": len(uploads),
        "uploads_during_fault": sum(1 for u in uploads if fault_start <= u.started <= fault_end),
        "accepted": len(accepted),
        "refused": dict(Counter(str(u.status) for u in refused)),
        "refused_messages": messages,
        "predicted_once": len(once),
        "lost": lost,
        "duplicates": [pk for pk, image in images.items() if image["predictions"] > 1],
        "rows_not_acknowledged": sorted(set(images) - set(accepted)),
        "unacknowledged_statuses": dict(Counter(images[pk]["status"] for pk in set(images) - set(accepted))),
        "orphan_upload_files": sum(1 for f in orphans if f.startswith(UPLOAD_FOLDERS)),
        "orphan_heatmaps": sum(1 for f in orphans if f.startswith("heatmaps/")),
        "recovery_next_prediction_s": round(next_prediction - fault_end, 2) if next_prediction else None,
        "recovery_backlog_s": round(max(0.0, max(before_end) - fault_end), 2) if before_end else None,
        "recovery_all_done_s": round(max(0.0, max(predicted_at) - fault_end), 2) if predicted_at else None,
        "upload_http_max_s": round(max(u.ended - u.started for u in uploads), 2),
        "scenario_s": round(settled - uploads[0].started, 1),
        "requeued_by_sweep": stack.requeued_since(fault_start),
        **info,
    }


def _check(result: dict, stack: Stack) -> None:
    logs = stack.logs()
    assert result["accepted"] > 0, logs
    assert not result["lost"], f"accepted images not predicted exactly once: {result['lost']}\n{logs}"
    assert not result["duplicates"], result["duplicates"]
    # A refused upload leaves nothing behind: no row the client was not told about, no stored file.
    assert not result["rows_not_acknowledged"], result
    assert result["orphan_upload_files"] == 0, result
    assert stack.worker.poll() is None, logs  # the worker is alive at the end


def test_worker_sigkill_mid_inference(stack, results):
    def fault(stack: Stack) -> dict:
        deadline = time.monotonic() + 30
        while not stack.processing() and time.monotonic() < deadline:
            time.sleep(0.002)
        started = time.time()
        stack.kill_worker()
        held = stack.query(
            "SELECT id FROM diagnosis_image WHERE status = 'processing' AND claimed_by = %s", (WORKER_NAME,)
        )
        time.sleep(2)
        restarted = stack.start_worker()
        ready = stack.wait_worker_ready()
        return {
            "fault_start": started,
            "fault_end": restarted,
            "held_at_kill": len(held),
            "worker_ready_s": round(ready - restarted, 2),
            "notes": f"{len(held)} image(s) held in processing at the kill; fault end = the restart (same node "
            f"name); the new worker was ready {ready - restarted:.1f} s later",
        }

    result = _scenario(stack, "worker_sigkill", "Worker SIGKILL mid-inference, restarted", fault)
    results("worker_sigkill", result)
    assert result["held_at_kill"] > 0, "the kill came too late: no image was being processed"
    _check(result, stack)


def test_redis_restart(stack, results):
    def fault(stack: Stack) -> dict:
        started = time.time()
        stack.redis.stop()  # no persistence (--save "" --appendonly no): queued messages are lost
        time.sleep(3)
        stack.redis.start()
        return {
            "fault_start": started,
            "fault_end": time.time(),
            "notes": "Redis runs without persistence, so the restart loses every queued message",
        }

    result = _scenario(stack, "redis_restart", "Redis restarted (3 s down, messages lost)", fault)
    results("redis_restart", result)
    _check(result, stack)


def test_postgres_restart(stack, results):
    def fault(stack: Stack) -> dict:
        started = time.time()
        stack.pg.stop("fast")
        time.sleep(3)
        stack.pg.start()
        return {"fault_start": started, "fault_end": time.time()}

    result = _scenario(stack, "postgres_restart", "PostgreSQL restarted (fast stop, 3 s down)", fault)
    results("postgres_restart", result)
    _check(result, stack)


def test_media_disk_full(stack, results):
    def fault(stack: Stack) -> dict:
        started = time.time()
        filled = stack.media.fill()
        time.sleep(5)
        stack.media.free()
        return {
            "fault_start": started,
            "fault_end": time.time(),
            "notes": f"a filler file of {filled / 2**20:.1f} MiB filled the tmpfs for 5 s, then was removed",
        }

    result = _scenario(stack, "media_disk_full", "Media disk full (tmpfs, 5 s)", fault)
    results("media_disk_full", result)
    assert result["refused"], "no upload was refused while the disk was full"
    _check(result, stack)
