"""`{% memo %}` (crm.lib.memo_tag): a block is drawn once per key, the key always carries the
tenant's schema and the language, and a key that leaves out what the block shows is caught."""

import re

import pytest
from django.template import TemplateSyntaxError, engines
from django.test import override_settings
from django.urls import reverse
from django.utils import translation
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.lib import memo_tag
from tests.conftest import client_for


class Counter:
    """Counts how often the block around it is drawn."""

    def __init__(self) -> None:
        self.drawn = 0

    def __str__(self) -> str:
        self.drawn += 1
        return f"drawn {self.drawn}"


def draw(source: str, **context: object) -> str:
    return engines["django"].from_string("{% load memo %}" + source).render(context)


@pytest.fixture(autouse=True)
def _fresh():
    memo_tag.forget_all()
    yield
    memo_tag.forget_all()


@override_settings(TEMPLATE_MEMO_VERIFY=False)
def test_a_block_is_drawn_once_per_key(acme, globex, db):
    counter = Counter()
    block = '{% memo "demo" who %}{{ counter }} for {{ who }}{% endmemo %}'
    with schema_context(acme.schema):
        assert draw(block, counter=counter, who="li") == "drawn 1 for li"
        assert draw(block, counter=counter, who="li") == "drawn 1 for li"
        assert draw(block, counter=counter, who="wang") == "drawn 2 for wang"
        with translation.override("zh-hans"):
            assert draw(block, counter=counter, who="li") == "drawn 3 for li"
    with schema_context(globex.schema):  # another tenant never gets acme's block
        assert draw(block, counter=counter, who="li") == "drawn 4 for li"


def test_a_key_that_leaves_out_what_the_block_shows_fails(acme, db):
    block = '{% memo "demo" %}{{ shown }}{% endmemo %}'
    with schema_context(acme.schema):
        assert draw(block, shown="one") == "one"
        assert draw(block, shown="one") == "one"
        with pytest.raises(memo_tag.MemoKeyIncomplete):
            draw(block, shown="two")


def test_blocks_refuse_csrf_tokens_and_keys_that_are_not_plain_values(acme, db):
    with pytest.raises(TemplateSyntaxError, match="csrf_token"):
        draw('{% memo "form" %}<form>{% csrf_token %}</form>{% endmemo %}')
    with pytest.raises(TemplateSyntaxError, match="name"):
        draw("{% memo %}x{% endmemo %}")
    with schema_context(acme.schema), pytest.raises(TemplateSyntaxError, match="User"):
        draw('{% memo "who" user %}{{ user }}{% endmemo %}', user=User.objects.first())


def _frame(page: str) -> tuple[str, str]:
    """(the main navigation, the signed-in user's name link) of a page."""
    nav = re.search(r'<ul class="main-nav">(.*?)</ul>', page, re.S)
    whoami = re.search(r'<li class="whoami">(.*?)</li>', page, re.S)
    assert nav and whoami
    return nav.group(1), whoami.group(1)


@override_settings(TEMPLATE_MEMO_VERIFY=False)
def test_the_page_frame_follows_each_reader(acme, db):
    """The navigation and name of one reader never show on another's page, as served."""
    admin_link = f'href="{reverse("admin_console:staff_list")}"'
    exports_link = f'href="{reverse("transfer:exports")}"'
    frames = {}
    for role in ("admin", "viewer", "marketing", "admin", "viewer"):
        page = client_for(acme, role).get(reverse("customers:home")).content.decode()
        frames[role] = _frame(page)
    assert admin_link in frames["admin"][0] and admin_link not in frames["viewer"][0]
    assert exports_link in frames["marketing"][0] and exports_link not in frames["viewer"][0]
    assert acme.admin.get_full_name() in frames["admin"][1]
    assert acme.viewer.get_full_name() in frames["viewer"][1]
    assert acme.admin.get_full_name() not in frames["viewer"][1]
    current = f'href="{reverse("customers:home")}" aria-current="page"'
    assert current in frames["viewer"][0]
    with schema_context(acme.schema):
        User.objects.filter(pk=acme.viewer.pk).update(full_name="改名的人")
    viewer = client_for(acme, "viewer")
    assert "改名的人" in _frame(viewer.get(reverse("customers:home")).content.decode())[1]
    support = _frame(viewer.get(reverse("support:home")).content.decode())[0]
    assert current not in support
    assert f'href="{reverse("support:home")}" aria-current="page"' in support


@override_settings(TEMPLATE_MEMO_VERIFY=False)
def test_a_page_seen_again_draws_from_the_blocks_it_drew(acme, db):
    """Keys are stable: seeing the same page again adds no block (a key naming a new object
    each time, such as a lazy label's repr, would miss every time and fill the memory)."""
    manager = client_for(acme, "manager")
    urls = [reverse("customers:home"), reverse("customers:home") + "?q=%E7%8E%8B&stage=active"]
    for url in urls:
        assert manager.get(url).status_code == 200
    drawn = dict(memo_tag._remembered)
    for url in urls:
        assert manager.get(url).status_code == 200
    assert memo_tag._remembered == drawn
    assert {key[0] for key in drawn} >= {"site-nav", "customer-filter-fields", "customer-list-head"}
