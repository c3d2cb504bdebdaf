"""The public survey page a survey email links to: no login, on the tenant's host, in the
customer's language (or the one they switch to), answered once, until it expires. An unknown
token (another tenant's included: tokens live in each tenant's schema) is a 404."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache

from crm.lib.audit_actor import system_actor
from support import feedback_selectors, feedback_services
from support.feedback_forms import AnswerForm
from support.models_feedback import SurveyInvitation

LANGUAGES = ("en", "zh-hans")


def _language(request: HttpRequest, invitation: SurveyInvitation | None) -> str:
    chosen = request.GET.get("lang", "")
    if chosen in LANGUAGES:
        return chosen
    if invitation is not None and invitation.language in LANGUAGES:
        return invitation.language
    return translation.get_language() or "en"


def _closed(request: HttpRequest, reason: str, language: str, status: int) -> HttpResponse:
    with translation.override(language):
        return render(
            request, "support/feedback/survey_closed.html", {"reason": reason}, status=status
        )


@never_cache
def survey_answer(request: HttpRequest, token: str) -> HttpResponse:
    invitation = feedback_selectors.invitation_for_token(token)
    language = _language(request, invitation)
    if invitation is None:
        return _closed(request, "unknown", language, 404)
    if invitation.answered_at is not None:
        return _closed(request, "answered", language, 410)
    if invitation.expires_at is not None and invitation.expires_at <= timezone.now():
        return _closed(request, "expired", language, 410)
    with translation.override(language):
        form = AnswerForm(
            request.POST if request.method == "POST" else None,
            kind=invitation.kind,
            with_effort=invitation.with_effort,
        )
        if request.method == "POST" and form.is_valid():
            try:
                with system_actor("survey link"):
                    feedback_services.survey_answer(
                        actor=None,
                        token=token,
                        score=form.cleaned_data["score"],
                        effort=form.cleaned_data.get("effort"),
                        comment=form.cleaned_data["comment"],
                    )
            except feedback_services.SurveyClosed as closed:
                return _closed(request, closed.reason, language, 410)
            except SurveyInvitation.DoesNotExist:
                return _closed(request, "unknown", language, 404)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                return render(request, "support/feedback/survey_thanks.html", {})
        return render(
            request,
            "support/feedback/survey.html",
            {
                "invitation": invitation,
                "form": form,
                "language": language,
                "other_language": "en" if language == "zh-hans" else "zh-hans",
            },
        )
