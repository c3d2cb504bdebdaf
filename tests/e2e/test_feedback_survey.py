"""A customer answers a survey on a phone (390 x 844) in Chromium: the link from the email,
a tap on a score, a comment, sent; the page fits the screen, the answer is stored once, and a
detractor's answer has opened its follow-up ticket."""

import uuid

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Browser, expect

from support import feedback_services
from support.feedback_selectors import feedback_settings
from support.models import Ticket
from support.models_feedback import SurveyInvitation, SurveyResponse
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_browser import tenant_url
from tests.testkit.cleanup import customers_delete
from tests.tickets.feedback_kit import surveyable

pytestmark = [pytest.mark.e2e]


def _overflow(page) -> int:  # type: ignore[no-untyped-def]
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def test_a_customer_answers_an_nps_survey_on_a_phone(
    browser: Browser, live_server_url, committed_db, acme
):
    base = tenant_url(live_server_url, "acme")
    with schema_context(acme.schema):
        feedback_settings()
        person = surveyable(f"Mia Chen {uuid.uuid4().hex[:6]}")
        (pk,) = feedback_services.survey_invitations_decide(
            actor=None,
            occasions=[
                feedback_services.Occasion(
                    customer_id=person.pk, key=f"e2e:{uuid.uuid4().hex}", kind="nps"
                )
            ],
        )
        token = feedback_services.survey_invitation_claim(actor=None, invitation_id=pk)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="en-GB", is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{base}/survey/{token}/")
        expect(page.get_by_role("heading", name="How likely are you to recommend")).to_be_visible()
        assert _overflow(page) <= 1, "the survey fits a phone"
        page.get_by_role("radio", name="3", exact=True).tap()
        expect(page.get_by_role("radio", name="3", exact=True)).to_be_checked()
        page.get_by_label("Anything you would like to tell us?").fill("送货太慢了，客服态度差")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "survey-phone.png"), full_page=True)
        page.get_by_role("button", name="Send my answer").tap()
        expect(page.get_by_role("heading", name="Thank you!")).to_be_visible()
        assert _overflow(page) <= 1
        assert errors == [], errors

        # Opened again: answered already (a 410, which the console reports as such).
        page.goto(f"{base}/survey/{token}/")
        expect(page.get_by_role("heading", name="You have answered this survey")).to_be_visible()

        with schema_context(acme.schema):
            response = SurveyResponse.objects.get(customer=person)
            assert (response.score, response.comment) == (3, "送货太慢了，客服态度差")
            assert response.detractor and response.follow_up is not None
            assert response.follow_up.customer_id == person.pk
    finally:
        context.close()
        with schema_context(acme.schema):
            follow_ups = list(
                SurveyResponse.objects.filter(customer=person).values_list("follow_up", flat=True)
            )
            SurveyResponse.objects.filter(customer=person).delete()
            SurveyInvitation.objects.filter(customer=person).delete()
            Ticket.objects.filter(pk__in=[f for f in follow_ups if f]).delete()
            customers_delete([person.pk])
