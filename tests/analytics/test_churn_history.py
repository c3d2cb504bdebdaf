"""What the model reads from orders (analytics.churn): purchase days in the tenant's time zone,
x, t_x and T hand-checked, several orders on one day as one purchase, only completed orders,
and nothing after the as-of date."""

import datetime

import pytest

from analytics.churn import churn_refresh
from analytics.models_churn import ChurnFit, ChurnScore
from customers.models import Order
from tests.analytics.churn_kit import at, customer, order, score
from tests.tickets.factory import in_tenant

AS_OF = datetime.date(2026, 6, 30)


@pytest.mark.django_db
def test_frequency_recency_and_age_by_hand(globex):
    # globex keeps Asia/Shanghai time (UTC+8).
    with in_tenant(globex):
        ann = customer("Ann")
        # Purchase days 1 Jan, 15 Jan (two orders), 12 Feb; a cancelled order later is ignored.
        order(ann, at(datetime.date(2026, 1, 1), 10, "Asia/Shanghai"))
        order(ann, at(datetime.date(2026, 1, 15), 9, "Asia/Shanghai"))
        order(ann, at(datetime.date(2026, 1, 15), 20, "Asia/Shanghai"))
        order(ann, at(datetime.date(2026, 2, 12), 12, "Asia/Shanghai"))
        order(
            ann, at(datetime.date(2026, 3, 1), 12, "Asia/Shanghai"), status=Order.Status.CANCELLED
        )
        # 17:00 UTC on 1 Mar is 01:00 on 2 Mar in Shanghai: two purchase days, not one.
        bo = customer("Bo")
        order(bo, at(datetime.date(2026, 3, 1), 10, "UTC"))
        order(bo, at(datetime.date(2026, 3, 1), 17, "UTC"))
        # One purchase only: x = 0, t_x = 0.
        cy = customer("Cy")
        order(cy, at(datetime.date(2026, 6, 2), 12, "Asia/Shanghai"))

        summary = churn_refresh(as_of=AS_OF)

        a = score(ann)
        assert a.frequency == 2  # 1 Jan, 15 Jan, 12 Feb: two repeat purchase days
        assert a.recency_weeks == pytest.approx(42 / 7)  # 1 Jan -> 12 Feb
        assert a.age_weeks == pytest.approx(180 / 7)  # 1 Jan -> 30 Jun
        b = score(bo)
        assert (b.frequency, b.recency_weeks) == (1, pytest.approx(1 / 7))
        assert b.age_weeks == pytest.approx(121 / 7)  # 1 Mar -> 30 Jun
        c = score(cy)
        assert (c.frequency, c.recency_weeks, c.age_weeks) == (0, 0, pytest.approx(4))
        assert summary["customers"] == 3 and summary["repeaters"] == 2
        fit = ChurnFit.objects.latest()
        assert fit.first_purchase_day == datetime.date(2026, 1, 1)
        assert fit.last_purchase_day == datetime.date(2026, 6, 2)


@pytest.mark.django_db
def test_the_as_of_date_includes_its_own_orders_and_excludes_later_ones(acme):
    # acme keeps Europe/London time (UTC+1 in summer).
    with in_tenant(acme):
        dee = customer("Dee")
        order(dee, at(datetime.date(2026, 6, 1), 12, "Europe/London"))
        order(dee, at(AS_OF, 23, "Europe/London"))  # late on the as-of date: counts
        order(dee, at(AS_OF + datetime.timedelta(days=1), 0, "Europe/London"))  # next day: not
        order(dee, at(datetime.date(2026, 8, 1), 12, "Europe/London"), amount="9999")
        eve = customer("Eve")
        order(eve, at(datetime.date(2026, 7, 2), 12, "Europe/London"))  # only after the date

        churn_refresh(as_of=AS_OF)

        d = score(dee)
        assert (d.frequency, d.recency_weeks, d.age_weeks) == (
            1,
            pytest.approx(29 / 7),
            pytest.approx(29 / 7),
        )
        assert not ChurnScore.objects.filter(customer_id=eve.pk).exists()

        # A later as-of date sees them all.
        churn_refresh(as_of=datetime.date(2026, 8, 31))
        assert score(dee).frequency == 3 and score(eve).frequency == 0


@pytest.mark.django_db
def test_each_refresh_replaces_the_scores(acme):
    with in_tenant(acme):
        fay = customer("Fay")
        order(fay, at(datetime.date(2026, 5, 1)))
        churn_refresh(as_of=AS_OF)
        assert score(fay).as_of == AS_OF
        later = AS_OF + datetime.timedelta(days=7)
        churn_refresh(as_of=later)
        assert ChurnScore.objects.filter(customer_id=fay.pk).count() == 1
        assert score(fay).as_of == later and score(fay).age_weeks == pytest.approx(67 / 7)
        assert ChurnFit.objects.filter(as_of__in=[AS_OF, later]).count() == 2
