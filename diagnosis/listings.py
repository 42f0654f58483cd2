"""Cached pages of the two busiest lists: the radiologists' worklist and the study API.

A page is kept in the web process's own memory (the "listings" cache: it holds names and MRNs, so it never goes
to Redis) for at most MEDSITE_LIST_CACHE_SECONDS (5 s by default), under a key made of the user's sites, each
site's *data version* and what varies the page (filters, page number, host). The data versions are counters in
the "shared" cache (Redis), one per site and kind of page, that the services bump once their transaction has
committed, for what people do: `studies_changed` for a new study or upload (the study list), `results_changed`
for a review or edited demographics (both lists). What people do therefore shows at once, in every web process;
what the workers do (an image being analysed, its prediction, a failure) shows when the page ages out, within
MEDSITE_LIST_CACHE_SECONDS, so a stream of results does not rebuild every page for every result. The study page
and the image API, which people watch for a result, are never cached. The callers still write one audit event
per request, hit or miss.
"""

import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.conf import settings
from django.core.cache import caches
from django.db import transaction

from accounts.models import Site

logger = logging.getLogger(__name__)
T = TypeVar("T")


WORKLIST, STUDIES = "worklist", "studies"  # the pages cached, each with its own data version per site


def _version_key(kind: str, site_id: int) -> str:
    return f"list-version:{kind}:{site_id}"


def studies_changed(site_id: int) -> None:
    """Someone added a study or an image: mark the site's study-list pages out of date once the current
    transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _bump(site_id, [STUDIES]))


def results_changed(site_id: int) -> None:
    """Someone reviewed a result or edited a patient or study: both lists, once the transaction commits."""
    transaction.on_commit(lambda: _bump(site_id, [STUDIES, WORKLIST]))


def _bump(site_id: int, kinds: list[str]) -> None:
    shared = caches["shared"]
    for kind in kinds:
        key = _version_key(kind, site_id)
        try:
            try:
                shared.incr(key)
            except ValueError:  # not there yet (a new site, or the cache was emptied): any new value will do
                shared.set(key, time.time_ns(), None)
        except Exception as exc:  # the shared cache is unreachable: pages age out after MEDSITE_LIST_CACHE_SECONDS
            logger.warning("Could not mark site %s's %s pages out of date (%s)", site_id, kind, type(exc).__name__)


def _versions(kind: str, site_ids: list[int]) -> dict[int, int]:
    shared = caches["shared"]
    keys = {_version_key(kind, pk): pk for pk in site_ids}
    found = shared.get_many(keys)
    for key in keys.keys() - found.keys():
        # A counter that starts from the clock never repeats one that was lost, so no old page matches it.
        shared.add(key, time.time_ns(), None)
        found[key] = shared.get(key)
    return {pk: found[key] for key, pk in keys.items()}


def cached_page(kind: str, sites: Iterable[Site], variant: object, build: Callable[[], T]) -> T:
    """`build()`'s result for this kind of page (WORKLIST or STUDIES), these sites and this variant, from this
    process's memory while no site's data version for that kind changed."""
    seconds = settings.MEDSITE_LIST_CACHE_SECONDS
    if seconds <= 0:
        return build()
    try:
        versions = _versions(kind, sorted(site.pk for site in sites))
    except Exception as exc:  # no shared cache, no way to know a page is current: build it
        logger.warning("List cache unavailable (%s); building the page", type(exc).__name__)
        return build()
    key = hashlib.sha256(repr((kind, sorted(versions.items()), variant)).encode()).hexdigest()
    local = caches["listings"]
    page = local.get(key)
    if page is None:
        page = build()
        # Each page lives a random 75-100 % of its time, so the web processes, which all start at once, do not
        # go on rebuilding the same page at the same moment (one stall for everyone instead of four).
        local.set(key, page, seconds * random.uniform(0.75, 1.0))
    return page
