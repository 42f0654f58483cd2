"""The colour theme: the server puts the stored choice on <html data-theme> (first paint right, no inline script),
a page can default to dark, the no-JavaScript toggle stores the choice, and every colour in medsite.css outside
the always-dark viewer comes from a custom property that the dark theme redefines."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.template import RequestContext, Template
from django.test import RequestFactory
from django.urls import reverse

from accounts.theme import COOKIE_NAME

pytestmark = pytest.mark.django_db

CSS = Path(settings.BASE_DIR) / "diagnosis" / "static" / "css" / "medsite.css"


def html_theme(response) -> str:
    return re.search(rb'<html lang="en" data-theme="([a-z]*)">', response.content).group(1).decode()


def test_login_page_follows_the_system_until_a_choice_is_stored(client):
    response = client.get(reverse("account_login"))
    assert html_theme(response) == "system"
    assert b"data-theme-toggle" in response.content
    assert b'aria-pressed="true" data-theme-value="system"' in response.content


@pytest.mark.parametrize("choice", ["light", "dark", "system"])
def test_the_stored_choice_is_on_the_first_paint(client, choice):
    client.cookies[COOKIE_NAME] = choice
    response = client.get(reverse("account_login"))
    assert html_theme(response) == choice
    assert f'aria-pressed="true" data-theme-value="{choice}"'.encode() in response.content


def test_an_unknown_cookie_value_is_ignored(client):
    client.cookies[COOKIE_NAME] = 'dark" onload="x'
    assert html_theme(client.get(reverse("account_login"))) == "system"


def test_a_page_can_default_to_dark_and_a_stored_choice_still_wins():
    template = Template('{% extends "base.html" %}{% block theme_default %}dark{% endblock %}')

    def render(cookie=None):
        request = RequestFactory().get("/")
        request.user = AnonymousUser()
        if cookie:
            request.COOKIES[COOKIE_NAME] = cookie
        return template.render(RequestContext(request))

    assert 'data-theme="dark"' in render()
    assert 'data-theme="light"' in render("light")
    assert 'data-theme="system"' in render("system")


def test_the_toggle_without_javascript_sets_the_cookie_and_goes_back(client):
    response = client.post(reverse("accounts:theme_set"), {"theme": "dark", "next": "/accounts/login/?x=1"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?x=1"
    cookie = response.cookies[COOKIE_NAME]
    assert cookie.value == "dark"
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) >= 300 * 24 * 3600


def test_the_toggle_refuses_other_hosts_and_values(client):
    response = client.post(reverse("accounts:theme_set"), {"theme": "purple", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert COOKIE_NAME not in response.cookies


def test_every_colour_outside_the_viewer_is_a_custom_property():
    css = CSS.read_text()
    rules = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    literal = re.compile(r"#[0-9a-fA-F]{3,8}\b|rgba?\(")
    offenders = []
    for line in rules.splitlines():
        stripped = line.strip()
        if stripped.startswith("--") or stripped.startswith(".viewer") or "--" in stripped.split(":")[0]:
            continue
        if ".allauth img" in stripped:  # a QR code needs a white quiet zone in both themes
            continue
        if literal.search(stripped) and not re.match(r"^\s*--", stripped):
            offenders.append(stripped)
    # custom property definitions on one line (e.g. "--ok: #..; --ok-bg: #..") are the palette itself
    offenders = [line for line in offenders if not re.fullmatch(r"(--[a-z0-9-]+:\s*[^;]+;\s*)+", line)]
    assert offenders == []


def test_the_dark_theme_redefines_every_colour_of_the_light_one():
    css = CSS.read_text()
    light = re.search(r":root \{(.*?)\n\}", css, re.S).group(1)
    dark = re.search(r':root\[data-theme="dark"\] \{(.*?)\n\}', css, re.S).group(1)
    system = re.search(r"@media \(prefers-color-scheme: dark\) \{\s*:root[^{]*\{(.*?)\}", css, re.S).group(1)
    names = lambda block: set(re.findall(r"(--[a-z0-9-]+):\s*#", block))  # noqa: E731
    colours = names(light) - {"--image-bg"}
    assert colours <= names(dark)
    assert names(dark) == names(system)
