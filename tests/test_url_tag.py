"""`{% url %}` (crm.lib.url_tag) remembers its answers without ever giving another URLconf's,
another script prefix's or another namespace's answer, and behaves as Django's tag otherwise."""

import pytest
from django.template import engines
from django.urls import NoReverseMatch, reverse, set_script_prefix, set_urlconf

from crm.lib import url_tag

TENANT, PUBLIC = "crm.urls_tenant", "crm.urls_public"


class Shown:
    """A value reverse() turns into text, and which is neither a string nor an integer."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def draw(source: str, **context: object) -> str:
    return engines["django"].from_string(source).render(context)


@pytest.fixture(autouse=True)
def _restore_urlconf_and_prefix():
    yield
    set_urlconf(None)
    set_script_prefix("/")


def test_the_builtin_url_tag_is_ours_and_remembers():
    template = engines["django"].from_string("{% url 'customers:view_delete' view_id=7 %}")
    assert isinstance(template.template.nodelist[0], url_tag.RememberedURLNode)
    url_tag._remembered_reverse.cache_clear()
    set_urlconf(TENANT)
    first = template.render({})
    assert template.render({}) == first == reverse("customers:view_delete", kwargs={"view_id": 7})
    info = url_tag._remembered_reverse.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_each_urlconf_and_script_prefix_gets_its_own_answer():
    set_urlconf(TENANT)
    tenant = draw("{% url 'customers:home' %}")
    assert tenant == reverse("customers:home")
    with pytest.raises(NoReverseMatch):  # a tenant's site has no platform console
        draw("{% url 'console:home' %}")
    set_urlconf(PUBLIC)
    assert draw("{% url 'console:home' %}") == reverse("console:home")
    with pytest.raises(NoReverseMatch):  # remembered for the tenant site, not for this one
        draw("{% url 'customers:home' %}")
    set_urlconf(TENANT)
    set_script_prefix("/crm/")
    assert draw("{% url 'customers:home' %}") == "/crm" + tenant == reverse("customers:home")
    set_script_prefix("/")
    assert draw("{% url 'customers:home' %}") == tenant


def test_arguments_escaping_as_var_and_unremembered_values():
    set_urlconf(TENANT)
    expected = reverse("customers:view_delete", args=[42])
    assert draw("{% url 'customers:view_delete' pk %}", pk=42) == expected
    assert draw("{% url 'customers:view_delete' pk %}", pk="42") == expected
    assert draw("{% url name pk %}", name="customers:view_delete", pk=42) == expected
    # A value that is not a string or an integer goes to reverse() without being remembered.
    url_tag._remembered_reverse.cache_clear()
    assert draw("{% url 'customers:view_delete' pk %}", pk=Shown("42")) == expected
    assert url_tag._remembered_reverse.cache_info().currsize == 0
    assert draw("{% url 'missing:view' as link %}[{{ link }}]") == "[]"
    assert draw("{% url 'customers:view_delete' 9 as link %}<{{ link }}>") == (
        "<" + reverse("customers:view_delete", args=[9]) + ">"
    )
    with pytest.raises(NoReverseMatch):
        draw("{% url 'missing:view' %}")
