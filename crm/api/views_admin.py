"""The admin console's "API tokens" page: make a token (its secret shown once), see the
tokens and their last use, revoke one."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.accounts.permissions import acting_user, admin_required
from crm.api import selectors, services
from crm.api.forms import ApiTokenForm
from crm.api.models import ApiToken
from crm.api.scopes import SCOPES

# The new token's secret waits in the admin's session (server-side) for the page after the
# redirect, which takes it out: shown once, and a reload neither shows it again nor makes
# another token.
NEW_TOKEN_KEY = "api_token_new"  # noqa: S105 (a session key, not a secret)


@admin_required
def token_list(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = services.api_token_create(
                actor=acting_user(request),
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                origin=ApiToken.Origin.PAGE,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            request.session[NEW_TOKEN_KEY] = {"id": created.pk, "secret": secret}
            return redirect("api_admin:token_list")
    new = request.session.pop(NEW_TOKEN_KEY, None) if request.method == "GET" else None
    shown = ApiToken.objects.filter(pk=new["id"]).first() if new else None
    return render(
        request,
        "api/token_list.html",
        {
            "tokens": selectors.api_tokens(),
            "form": form,
            "created": shown,
            "secret": new["secret"] if shown and new else None,
            "scope_labels": SCOPES,
        },
    )


@admin_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id)
    services.api_token_revoke(actor=acting_user(request), token=token)
    messages.success(request, _("The token “%(name)s” no longer works.") % {"name": token.name})
    return redirect("api_admin:token_list")
