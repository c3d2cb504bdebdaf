from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def customers_home(request: HttpRequest) -> HttpResponse:
    return render(request, "customers/home.html")
