"""Every page names its icon, and /favicon.ico (asked by pages that name none) finds it."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_pages_name_the_icon_and_favicon_ico_leads_to_it():
    page = Client().get("/accounts/login/").content.decode()
    assert 'rel="icon" href="/static/favicon.svg"' in page
    answer = Client().get("/favicon.ico")
    assert answer.status_code == 301 and answer["Location"] == "/static/favicon.svg"
