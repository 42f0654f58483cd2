"""Shared fixtures: three personas per site (HC's alice/bob/charlie), images, and a tiny real model bundle.

No TensorFlow at import: every test module loads this file, and most never run a model. mlcore.data, .bundle and
.train (which import TensorFlow) are imported by the functions that train, when a test first asks for a bundle
(tests/test_conftest.py holds this file to it)."""

from __future__ import annotations

import dataclasses
import io
from typing import TYPE_CHECKING

import numpy as np
import PIL.Image
import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from mlcore.config import ModelConfig
from tests.factories import PASSWORD, MembershipFactory, PatientFactory, SiteFactory, StudyFactory

if TYPE_CHECKING:
    from mlcore.data import Dataset


@pytest.fixture(autouse=True)
def _fast_hasher_and_private_dirs(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = settings.STORAGES | {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media", "base_url": None},
        }
    }
    settings.MEDSITE_MODEL_ROOT = tmp_path / "models"
    settings.MEDSITE_AUDIT_CHECKPOINT_FILE = tmp_path / "audit" / "checkpoints.jsonl"
    # Tests write rows with factories, behind the services' back: cached list pages are switched on only where a
    # test is about them (tests/diagnosis/test_listings.py).
    settings.MEDSITE_LIST_CACHE_SECONDS = 0
    for alias in ("default", "shared", "listings"):
        _empty(caches[alias])


def _empty(cache) -> None:
    """Forget what earlier tests left (throttle counts, used TOTP codes, list versions). A Redis cache may share its
    database with the test broker, so only its own keys go, never FLUSHDB."""
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture
def site(db):
    return SiteFactory(name="St Elsewhere")


@pytest.fixture
def other_site(db):
    return SiteFactory(name="County General")


def with_totp(user):
    """Give the user an activated TOTP authenticator, as the MFA requirement for their role expects."""
    TOTP.activate(user, generate_totp_secret())
    return user


def _member(site, role):
    user = MembershipFactory(site=site, role=role).user
    return with_totp(user) if role in settings.MEDSITE_MFA_REQUIRED_ROLES else user


@pytest.fixture
def clinician(site):
    return _member(site, Role.CLINICIAN)


@pytest.fixture
def radiologist(site):
    return _member(site, Role.RADIOLOGIST)


@pytest.fixture
def site_admin(site):
    return _member(site, Role.ADMIN)


@pytest.fixture
def outsider(other_site):
    """A clinician at another site: must see 404 for this site's records."""
    return _member(other_site, Role.CLINICIAN)


@pytest.fixture
def patient(site):
    return PatientFactory(site=site)


@pytest.fixture
def study(patient):
    return StudyFactory(patient=patient)


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def password():
    return PASSWORD


def png_bytes(size=(64, 64), mode="L", bright_centre=True) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 60, size=(size[1], size[0]), dtype=np.uint8)
    if bright_centre:
        pixels[size[1] // 4 : -size[1] // 4, size[0] // 4 : -size[0] // 4] = 220
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def png_upload():
    def _make(name="chest.png", **kwargs):
        return SimpleUploadedFile(name, png_bytes(**kwargs), content_type="image/png")

    return _make


def tiny_dataset(classes=("normal", "pneumonia")) -> Dataset:
    """The toy images tiny bundles train on (16x16). With two classes, class 1 has a bright centre; with more,
    class k has a bright square at position k."""
    from mlcore.data import Dataset, Split  # TensorFlow: only for the tests that train

    def split(n, data_seed):
        rng = np.random.default_rng(data_seed)
        images = rng.integers(0, 60, size=(len(classes) * n, 16, 16), dtype=np.uint8)
        if len(classes) == 2:
            images[n:, 4:12, 4:12] = 220  # png_bytes(bright_centre=True) looks like class 1
        for k in range(1, len(classes) if len(classes) > 2 else 1):
            row, col = divmod(k - 1, 2)
            images[k * n : (k + 1) * n, 2 + 6 * row : 8 + 6 * row, 2 + 6 * col : 8 + 6 * col] = 220
        return Split(images, np.repeat(np.arange(len(classes)), n))

    return Dataset(classes=tuple(classes), train=split(20, 1), val=split(8, 2), test=None, source_sha256="0" * 64)


def train_tiny_bundle(folder, *, task="chest-xray", classes=("normal", "pneumonia"), seed=42, scope_for=None):
    """A real, trained Keras bundle on tiny_dataset (seconds on a CPU). A different seed gives another sha256.
    scope_for(result, data) -> mlcore.scope.Scope gives the bundle a scope (default: none)."""
    from mlcore.bundle import save_bundle  # TensorFlow: only for the tests that train
    from mlcore.train import train

    data = tiny_dataset(classes)
    config = ModelConfig(task=task, classes=data.classes, image_size=16, epochs=2, batch_size=8, seed=seed)
    result = train(config, data)
    if scope_for is not None:
        result = dataclasses.replace(result, scope=scope_for(result, data))
    return save_bundle(result, folder).path


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """A real, trained Keras bundle for the chest-xray task (16x16 toy images, seconds on a CPU)."""
    return train_tiny_bundle(tmp_path_factory.mktemp("bundles"))
