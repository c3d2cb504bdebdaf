"""What counts as free text naming an erased person (crm.lib.erasure.Erasure.mentioned_in and
scrubbed_query), used by the holders of saved views and export filters."""

import datetime

import pytest

from crm.lib.erasure import Erasure

PERSON = Erasure(
    customer_ids=(7,),
    at=datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC),
    names=("李梅", "Mei Li"),
    emails=("li.mei@example.cn",),
    phones=("+8615866610550",),
)


@pytest.mark.parametrize(
    "text",
    [
        "李梅",
        "客户 李梅 投诉",
        "mei li",
        "LI.MEI@EXAMPLE.CN",
        "15866610550",
        "158 6661 0550",
        "+86 158-6661-0550",
        "calls 6661 0550 today",  # seven digits or more of the number
    ],
)
def test_these_name_the_person(text):
    assert PERSON.mentioned_in(text)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "李", "Mei", "Li Mei", "mei@example.cn", "T-000123", "2026", "0550", "vip"],
)
def test_these_do_not(text):
    assert not PERSON.mentioned_in(text)


def test_a_saved_query_loses_only_the_parameters_naming_the_person():
    assert PERSON.scrubbed_query("q=158+6661+0550&stage=lead&tag=vip") == "stage=lead&tag=vip"
    assert PERSON.scrubbed_query("q=%E6%9D%8E%E6%A2%85") == ""
    assert PERSON.scrubbed_query("q=Wang&tag=vip") == "q=Wang&tag=vip"  # untouched, same text
    # Not a query string at all (a command line's filter): the whole text goes when it names them.
    assert PERSON.scrubbed_query("li.mei@example.cn") == ""


def test_a_short_latin_name_is_not_found_inside_longer_words():
    """A person named "Al" is in "Al Wang" and "call al", not in "All leads" or "potential":
    erasing them leaves other saved lists and their names alone."""
    al = Erasure(customer_ids=(8,), at=PERSON.at, names=("Al",))
    assert al.mentioned_in("Al Wang") and al.mentioned_in("call al")
    assert not al.mentioned_in("All leads") and not al.mentioned_in("potential")
    assert al.scrubbed_query("stage=potential&q=al") == "stage=potential"
