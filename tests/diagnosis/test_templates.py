"""The web UI's templates and static JavaScript: CSP-safe markup, role-appropriate navigation, the drop zone,
the viewer, the live results region, and what each page shows to each persona."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from diagnosis.models import Image, Prediction, Review
from tests.conftest import with_totp
from tests.factories import MembershipFactory, PatientFactory

pytestmark = pytest.mark.django_db

JS_DIR = Path(settings.BASE_DIR) / "diagnosis" / "static" / "js"
JS_FILES = sorted(JS_DIR.glob("*.js"))
TAG = re.compile(r"<[a-zA-Z][^>]*>", re.S)


def csp_violations(html: str) -> list[str]:
    """What the Content-Security-Policy (script-src/style-src 'self', no 'unsafe-inline') would block."""
    problems = []
    for match in re.finditer(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I):
        attrs, body = match.groups()
        if "src=" not in attrs and "application/json" not in attrs:
            problems.append(f"inline script: {match.group(0)[:80]}")
        elif body.strip() and "application/json" not in attrs:
            problems.append(f"script with both src and a body: {match.group(0)[:80]}")
    for tag in TAG.findall(html):
        if re.search(r"\son[a-z]+\s*=", tag, re.I):
            problems.append(f"inline event handler: {tag[:80]}")
        if re.search(r"\sstyle\s*=", tag, re.I):
            problems.append(f"style attribute: {tag[:80]}")
        if re.search(r"""=\s*["']?\s*javascript:""", tag, re.I):
            problems.append(f"javascript: URL: {tag[:80]}")
    if re.search(r"<style\b", html, re.I):
        problems.append("inline <style> element")
    return problems


class _Controls(HTMLParser):
    """Collects form controls and how each is labelled."""

    def __init__(self):
        super().__init__()
        self.label_depth = 0
        self.label_for = set()
        self.ids = []
        self.controls = []
        self.button = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.append(attrs["id"])
        if tag == "label":
            self.label_depth += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        elif tag in ("input", "select", "textarea") and attrs.get("type") != "hidden":
            self.controls.append({"tag": tag, "attrs": attrs, "in_label": self.label_depth > 0, "text": ""})
        elif tag == "button":
            self.button = {"tag": tag, "attrs": attrs, "in_label": False, "text": ""}
            self.controls.append(self.button)

    def handle_endtag(self, tag):
        if tag == "label":
            self.label_depth -= 1
        elif tag == "button":
            self.button = None

    def handle_data(self, data):
        if self.button is not None:
            self.button["text"] += data


def unlabelled_controls(html: str) -> list[str]:
    parser = _Controls()
    parser.feed(html)
    missing = []
    for control in parser.controls:
        attrs = control["attrs"]
        labelled = (
            attrs.get("aria-label")
            or attrs.get("aria-labelledby")
            or control["in_label"]
            or (attrs.get("id") and attrs["id"] in parser.label_for)
            or control["text"].strip()
            or (attrs.get("type") == "submit" and attrs.get("value"))
        )
        if not labelled:
            missing.append(f"<{control['tag']} {attrs}>")
    return missing


def duplicate_ids(html: str) -> list[str]:
    parser = _Controls()
    parser.feed(html)
    return sorted({i for i in parser.ids if parser.ids.count(i) > 1})


def main_nav(html: str) -> str:
    match = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)
    assert match, "no main navigation"
    return match.group(1)


def nav_items(html: str) -> set[str]:
    return set(re.findall(r'data-nav="([a-z-]+)"', main_nav(html)))


def _bad_file(name: str):
    return SimpleUploadedFile(name, b"not an image at all", content_type="application/octet-stream")


def make_image(study, **fields) -> Image:
    defaults = {
        "file": "images/x.png",
        "display_file": "display/x.png",
        "original_name": "x.png",
        "format": "PNG",
        "width": 64,
        "height": 48,
        "bits": 8,
        "sha256": str(Image.objects.count()).rjust(64, "0"),
        "status": Image.Status.DONE,
    }
    return Image.objects.create(study=study, **defaults | fields)


@pytest.fixture
def dicom_prediction(study, model_version, radiologist):
    image = make_image(
        study,
        format="DICOM",
        original_name="chest.dcm",
        bits=12,
        photometric="MONOCHROME1",
        frames=1,
        transfer_syntax="1.2.840.10008.1.2.1",
        deidentified_file="deidentified/x.dcm",
    )
    prediction = Prediction.objects.create(
        image=image,
        model_version=model_version,
        label="pneumonia",
        probabilities={"normal": 0.2, "pneumonia": 0.8},
        abnormality=0.8,
        threshold=0.5,
        inference_ms=41.7,
    )
    Review.objects.create(prediction=prediction, reviewer=radiologist, decision="correct", label="normal", note="old")
    Review.objects.create(prediction=prediction, reviewer=radiologist, decision="confirm", label="pneumonia")
    return prediction


def page_urls(patient, study):
    """(persona, url) for every page of the UI."""
    return [
        ("clinician", reverse("diagnosis:home")),
        ("clinician", reverse("diagnosis:patient_detail", args=[patient.pk])),
        ("clinician", reverse("diagnosis:patient_create")),
        ("clinician", reverse("diagnosis:patient_update", args=[patient.pk])),
        ("clinician", reverse("diagnosis:study_create", args=[patient.pk])),
        ("clinician", reverse("diagnosis:study_update", args=[study.pk])),
        ("clinician", reverse("diagnosis:study_detail", args=[study.pk])),
        ("clinician", reverse("diagnosis:study_results", args=[study.pk])),
        ("clinician", reverse("diagnosis:dicom_import")),
        ("radiologist", reverse("diagnosis:study_detail", args=[study.pk])),
        ("radiologist", reverse("diagnosis:study_results", args=[study.pk])),
        ("radiologist", reverse("diagnosis:worklist")),
        ("radiologist", reverse("mfa_index")),
        ("radiologist", reverse("diagnosis:patient_create")),  # 403 page
        ("site_admin", reverse("diagnosis:home")),
        (None, reverse("account_login")),
    ]


@pytest.fixture
def every_page(request, login, client, patient, study, dicom_prediction):
    make_image(study, status=Image.Status.QUEUED, sha256="f" * 64)  # something pending: the polling markup
    pages = []
    for persona, url in page_urls(patient, study):
        if persona is None:
            client.logout()
        else:
            login(request.getfixturevalue(persona))
        response = client.get(url)
        assert response.status_code in (200, 403), (persona, url, response.status_code)
        pages.append((persona, url, response.content.decode()))
    return pages


def test_csp_checker_catches_what_the_policy_blocks():
    assert csp_violations('<script src="/static/a.js" defer></script><p class="x">ok</p>') == []
    for bad in [
        "<script>alert(1)</script>",
        '<button onclick="go()">Go</button>',
        '<div style="color:red">x</div>',
        "<style>p{}</style>",
        '<a href="javascript:go()">x</a>',
    ]:
        assert csp_violations(bad), bad


def test_every_page_is_csp_safe(every_page):
    for persona, url, html in every_page:
        assert csp_violations(html) == [], (persona, url)


def test_every_page_labels_its_controls_and_has_unique_ids(every_page):
    for persona, url, html in every_page:
        assert unlabelled_controls(html) == [], (persona, url)
        assert duplicate_ids(html) == [], (persona, url)


def test_every_full_page_has_landmarks_skip_link_and_htmx_config(every_page):
    for _persona, url, html in every_page:
        if "/results/" in url:
            assert "<html" not in html  # the partial is a fragment
            continue
        assert '<html lang="en" data-theme="' in html  # the theme is on the first paint
        assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html
        assert "<header" in html and "<footer" in html
        assert """<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>""" in html


def test_scripts_and_styles_are_static_files_that_exist(every_page):
    referenced = set()
    for _, _, html in every_page:
        referenced |= set(re.findall(r'<script src="/static/([^"]+)"', html))
        referenced |= set(re.findall(r'<link rel="stylesheet" href="/static/([^"]+)"', html))
    assert {"vendor/htmx.min.js", "js/upload.js", "js/viewer.js", "js/results.js", "css/medsite.css"} <= referenced
    for path in referenced:
        assert finders.find(path), path


def test_error_pages_are_csp_safe_and_say_why(login, clinician, radiologist, outsider, study, prediction):
    client = login(clinician)
    upload = client.post(
        reverse("diagnosis:study_upload", args=[study.pk]),
        {"files": _bad_file("notes.txt")},
    )
    assert upload.status_code == 400 and "notes.txt" in upload.content.decode()
    imported = client.post(reverse("diagnosis:dicom_import"), {"site": study.site.pk, "files": _bad_file("a.jpg")})
    assert imported.status_code == 400 and 'role="alert"' in imported.content.decode()
    review = login(radiologist).post(reverse("diagnosis:review_submit", args=[prediction.pk]), {"label": "banana"})
    assert review.status_code == 400
    missing = login(outsider).get(reverse("diagnosis:study_detail", args=[study.pk]))
    assert missing.status_code == 404 and "Not found" in missing.content.decode()
    for response in (upload, imported, review, missing):
        html = response.content.decode()
        assert csp_violations(html) == [] and unlabelled_controls(html) == []


def test_clinician_nav(login, clinician):
    html = login(clinician).get(reverse("diagnosis:home")).content.decode()
    assert nav_items(html) == {"patients", "import", "mfa", "api-tokens", "logout"}
    nav = main_nav(html)
    assert f'href="{reverse("diagnosis:dicom_import")}"' in nav and f'href="{reverse("mfa_index")}"' in nav
    assert f'action="{reverse("account_logout")}"' in nav
    assert 'aria-current="page">Patients<' in nav


def test_radiologist_nav_puts_worklist_first(login, radiologist):
    html = login(radiologist).get(reverse("diagnosis:worklist")).content.decode()
    assert nav_items(html) == {"worklist", "adjudication", "patients", "mfa", "api-tokens", "logout"}
    nav = main_nav(html)
    assert nav.index('data-nav="worklist"') < nav.index('data-nav="patients"')
    assert 'aria-current="page">Worklist<' in nav


def test_staff_see_admin_and_others_do_not(login, site_admin):
    client = login(site_admin)
    assert nav_items(client.get(reverse("diagnosis:home")).content.decode()) == {
        "patients",
        "mfa",
        "api-tokens",
        "logout",
    }
    site_admin.is_staff = True
    site_admin.save(update_fields=["is_staff"])
    html = client.get(reverse("diagnosis:home")).content.decode()
    assert "admin" in nav_items(html) and f'href="{reverse("admin:index")}"' in main_nav(html)


def test_member_of_two_sites_gets_both_roles_links(login, clinician, other_site):
    MembershipFactory(user=clinician, site=other_site, role="radiologist")
    with_totp(clinician)  # radiologists must have MFA before they see anything else
    html = login(clinician).get(reverse("diagnosis:home")).content.decode()
    assert nav_items(html) == {"worklist", "adjudication", "patients", "import", "mfa", "api-tokens", "logout"}
    assert html.count('data-nav="worklist"') == 1


def test_anonymous_sees_no_nav_and_login_still_works(client, clinician, password):
    html = client.get(reverse("account_login")).content.decode()
    assert '<nav aria-label="Main">' not in html and "Log in" in html
    assert '<label for="id_login">' in html and '<label for="id_password">' in html
    response = client.post(reverse("account_login"), {"login": clinician.email, "password": password})
    assert response.status_code == 302 and response["Location"] == reverse("diagnosis:start")


def test_wrong_password_shows_the_error(client, clinician):
    response = client.post(reverse("account_login"), {"login": clinician.email, "password": "not-it-at-all"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_clinician_study_page_has_drop_zone_and_fallback_form(login, clinician, study):
    html = login(clinician).get(reverse("diagnosis:study_detail", args=[study.pk])).content.decode()
    form = re.search(r"<form class=\"dropzone\"[^>]*>", html).group(0)
    assert f'data-upload-url="/api/v1/studies/{study.pk}/images/"' in form
    assert f'action="{reverse("diagnosis:study_upload", args=[study.pk])}"' in form
    assert 'method="post"' in form and 'enctype="multipart/form-data"' in form
    assert 'data-refresh="#results"' in form
    dropzone = html[html.index(form) : html.index("</form>", html.index(form))]
    assert 'name="csrfmiddlewaretoken"' in dropzone
    assert re.search(r'<input type="file" name="files" id="upload-files"[^>]* multiple', dropzone)
    assert '<label for="upload-files"' in dropzone and '<button type="submit"' in dropzone
    assert 'role="status" aria-live="polite" data-upload-summary' in dropzone
    assert f'data-results-url="{reverse("diagnosis:study_results", args=[study.pk])}"' in html
    assert f'href="{reverse("diagnosis:study_update", args=[study.pk])}"' in html


def test_radiologist_study_page_has_no_upload_and_no_edit(login, radiologist, study):
    html = login(radiologist).get(reverse("diagnosis:study_detail", args=[study.pk])).content.decode()
    assert "data-dropzone" not in html and "/upload/" not in html
    assert reverse("diagnosis:study_update", args=[study.pk]) not in html


def test_import_page_has_the_same_drop_zone_with_site(login, clinician, site):
    html = login(clinician).get(reverse("diagnosis:dicom_import")).content.decode()
    form = re.search(r"<form class=\"dropzone\"[^>]*>", html).group(0)
    assert 'data-upload-url="/api/v1/imports/"' in form
    assert f'action="{reverse("diagnosis:dicom_import")}"' in form
    assert 'data-study-url="/studies/0/"' in form
    dropzone = html[html.index(form) : html.index("</form>", html.index(form))]
    assert '<select name="site"' in dropzone and f'<option value="{site.pk}"' in dropzone
    assert 'name="files"' in dropzone


def test_viewer_markup_is_labelled_and_honest(login, radiologist, study, dicom_prediction):
    html = login(radiologist).get(reverse("diagnosis:study_detail", args=[study.pk])).content.decode()
    dialog = re.search(r"<dialog id=\"viewer\".*?</dialog>", html, re.S).group(0)
    assert 'aria-labelledby="viewer-title"' in dialog
    assert unlabelled_controls(dialog) == []
    for action in ["zoom-in", "zoom-out", "fit", "reset"]:
        assert f'data-viewer-action="{action}"' in dialog
    assert '<label for="viewer-level">' in dialog and '<label for="viewer-window">' in dialog
    assert '<label for="viewer-preset">' in dialog
    assert "data-viewer-invert" in dialog and "data-viewer-zoom" in dialog
    assert "data-viewer-w" in dialog and "data-viewer-l" in dialog
    # The presets depend on what viewer.js loads (a DICOM's stored values: per modality, in its units; a PNG: the 8-bit
    # display levels), so the markup holds none and promises no unit until then (issue 23).
    assert '<select id="viewer-preset" data-viewer-preset aria-keyshortcuts="w"></select>' in dialog
    assert "On the display image's values, 0–255." in dialog
    assert not re.search(r"Hounsfield|\bHU\b|\b(lung|bone|brain|mediastinum) window", dialog, re.I)
    for key in ["<kbd>i</kbd>", "<kbd>r</kbd>", "<kbd>+</kbd>", "<kbd>w</kbd>", "<kbd>h</kbd>"]:
        assert key in dialog
    display = reverse("diagnosis:image_display", args=[dicom_prediction.image.pk])
    pixels = reverse("diagnosis:image_pixels", args=[dicom_prediction.image.pk])
    assert re.search(rf'<a class="thumb" id="open-\d+" href="{display}" data-viewer-open', html)
    assert f'data-viewer-pixels="{pixels}"' in html  # a DICOM image: the viewer windows its stored values


def test_results_show_ai_result_dicom_metadata_downloads_and_review_history(
    login, radiologist, study, dicom_prediction
):
    image = dicom_prediction.image
    html = login(radiologist).get(reverse("diagnosis:study_results", args=[study.pk])).content.decode()
    assert 'data-testid="ai-label">pneumonia<' in html
    assert "0.800" in html and "0.200" in html and 'class="prob-fill" x="0" y="1" width="80"' in html
    assert dicom_prediction.model_version.short_sha in html and "41.7 ms" in html
    assert "operating threshold 0.500" in html
    for value in ["MONOCHROME1", "1.2.840.10008.1.2.1", "Photometric interpretation", "Transfer syntax", "Frames"]:
        assert value in html
    assert f'href="{reverse("diagnosis:image_original", args=[image.pk])}"' in html
    assert f'href="{reverse("diagnosis:image_deidentified", args=[image.pk])}"' in html
    assert html.index("Confirmed as pneumonia") < html.index("Corrected as normal")  # newest first
    assert "(superseded)" in html
    assert f'action="{reverse("diagnosis:review_submit", args=[dicom_prediction.pk])}"' in html
    assert 'hx-preserve="true"' in html


def test_clinician_sees_results_without_review_form(login, clinician, study, prediction):
    html = login(clinician).get(reverse("diagnosis:study_results", args=[study.pk])).content.decode()
    assert f'data-testid="ai-label">{prediction.label}<' in html
    assert "/review/" not in html
    assert reverse("diagnosis:image_deidentified", args=[prediction.image.pk]) not in html  # PNG: none


def test_results_poll_only_while_pending_and_announce_through_a_stable_live_region(login, clinician, study):
    client = login(clinician)
    image = make_image(study, status=Image.Status.QUEUED)
    results_url = reverse("diagnosis:study_results", args=[study.pk])
    pending = client.get(results_url).content.decode()
    assert 'hx-trigger="every 2s"' in pending and f'hx-get="{results_url}"' in pending
    assert 'data-announce="Image 1: queued"' in pending
    page = client.get(reverse("diagnosis:study_detail", args=[study.pk])).content.decode()
    announcer = page.index('id="results-announcer"')
    assert page.index('aria-live="polite"', announcer) < page.index('<div id="results"')
    image.status = Image.Status.DONE
    image.save()
    assert "hx-trigger" not in client.get(results_url).content.decode()


def test_study_and_patient_pages_show_status_and_edit_links(login, clinician, radiologist, patient, study):
    client = login(clinician)
    html = client.get(reverse("diagnosis:patient_detail", args=[patient.pk])).content.decode()
    assert '<th scope="col">Status</th>' in html and "status-registered" in html and "Registered" in html
    assert f'href="{reverse("diagnosis:patient_update", args=[patient.pk])}"' in html
    assert f'action="{reverse("diagnosis:study_create", args=[patient.pk])}"' in html
    study_html = client.get(reverse("diagnosis:study_results", args=[study.pk])).content.decode()
    assert 'data-testid="study-status">Registered<' in study_html
    html = login(radiologist).get(reverse("diagnosis:patient_detail", args=[patient.pk])).content.decode()
    assert reverse("diagnosis:patient_update", args=[patient.pk]) not in html
    assert reverse("diagnosis:study_create", args=[patient.pk]) not in html


def test_patient_list_search_is_labelled_and_filters(login, clinician, patient, site):
    PatientFactory(site=site, name="Other Person")
    html = login(clinician).post(reverse("diagnosis:home"), {"q": patient.mrn}).content.decode()
    assert '<label for="patient-search">' in html and f'value="{patient.mrn}"' in html
    assert patient.name in html and "Other Person" not in html


def test_edit_forms_say_what_they_edit(login, clinician, patient, study):
    client = login(clinician)
    html = client.get(reverse("diagnosis:patient_update", args=[patient.pk])).content.decode()
    assert "<h1>Edit patient</h1>" in html and f'value="{patient.mrn}"' in html
    html = client.get(reverse("diagnosis:study_update", args=[study.pk])).content.decode()
    assert "<h1>Edit study</h1>" in html and 'value="CHEST"' in html
    html = client.get(reverse("diagnosis:patient_create")).content.decode()
    assert "<h1>Register patient</h1>" in html and '<label for="id_mrn">' in html


def test_worklist_shows_patient_study_label_top_probability_and_wait(login, radiologist, study, prediction):
    html = login(radiologist).get(reverse("diagnosis:worklist")).content.decode()
    row = re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)
    assert study.patient.name in row and study.patient.mrn in row and "CHEST" in row
    assert '<strong>pneumonia</strong> <span class="wl-ai-value">P(abnormal) 0.80</span>' in row
    assert "minute" in row and "<time datetime=" in row
    assert f'href="{reverse("diagnosis:study_read", args=[study.pk])}"' in row


# ---- JavaScript: syntax, and the pure functions behind the upload, viewer and announcer ----

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")

NODE_HARNESS = """
const vm = require("vm"), fs = require("fs");
const context = { window: {} };
vm.createContext(context);
for (const file of process.argv.slice(1)) vm.runInContext(fs.readFileSync(file, "utf8"), context, { filename: file });
const { buildLut } = context.window.MedSiteViewer;
const describe = context.window.MedSiteUpload.describeResponse;
const lut = (c, w, inv) => Array.from(buildLut(c, w, inv));
console.log(JSON.stringify({
  identity: lut(128, 256, false),
  inverted: lut(128, 256, true),
  narrow: lut(128, 128, false),
  threshold: lut(100, 1, false),
  created: describe(201, JSON.stringify({ images: [{ id: 1, study: 7 }], errors: [] })),
  refused: describe(400, JSON.stringify({ images: [], errors: [{ file: "a.png", message: "a.png is empty." }] })),
  forbidden: describe(403, JSON.stringify({ detail: "Your role at this site does not allow this." })),
  fields: describe(400, JSON.stringify({ site: ["This field is required."] })),
  tooLarge: describe(413, "<html>Request Entity Too Large</html>"),
  network: describe(0, ""),
  changes: context.window.MedSiteResults.changes(["Image 1: queued", "Image 2: queued"],
                                                 ["Image 1: AI label normal", "Image 2: queued"]),
}));
"""


@needs_node
@pytest.mark.parametrize("path", JS_FILES, ids=lambda path: path.name)
def test_javascript_parses(path):
    result = subprocess.run([NODE, "--check", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@needs_node
def test_javascript_uses_no_eval_or_inline_styles():
    for path in JS_FILES:
        source = path.read_text()
        forbidden = r"\beval\(|new Function\(|\.style\.|setAttribute\(\s*[\"']style|innerHTML\s*="
        assert not re.search(forbidden, source), path


@needs_node
def test_javascript_behaviour():
    files = [str(JS_DIR / name) for name in ("viewer.js", "upload.js", "results.js")]
    result = subprocess.run([NODE, "-e", NODE_HARNESS, *files], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["identity"] == list(range(256))  # "Full range" leaves the display values alone
    assert out["inverted"] == [255 - v for v in range(256)]
    narrow = out["narrow"]
    assert narrow[63] == 0 and narrow[192] == 255 and narrow[128] in (127, 128, 129)  # middle half stretched
    assert all(a <= b for a, b in zip(narrow, narrow[1:], strict=False))
    assert out["threshold"][99] == 0 and out["threshold"][100] == 255
    assert out["created"]["ok"] is True and out["created"]["images"][0]["study"] == 7
    assert out["refused"] == {"ok": False, "message": "a.png is empty.", "images": []}
    assert out["forbidden"]["ok"] is False and out["forbidden"]["message"].startswith("Your role")
    assert out["fields"]["ok"] is False and "This field is required." in out["fields"]["message"]
    assert out["tooLarge"]["ok"] is False and "413" in out["tooLarge"]["message"]
    assert out["network"]["ok"] is False and "network" in out["network"]["message"]
    assert out["changes"] == ["Image 1: AI label normal"]
