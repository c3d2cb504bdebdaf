"""Survey fatigue under concurrency: two workers claiming the same customer at the same
moment, on two real connections with committed rows; exactly one wins."""

import threading

from django.db import connections, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from support import feedback_services
from support.models_feedback import SurveyContact
from tests.testkit.cleanup import customers_delete
from tests.tickets.feedback_kit import surveyable


def test_the_fatigue_claim_holds_between_two_concurrent_workers(committed_db, acme):
    with schema_context(acme.schema):
        person = surveyable()
    results: list[set[int]] = []
    barrier = threading.Barrier(2)

    def claim() -> None:
        try:
            with schema_context(acme.schema), transaction.atomic():
                barrier.wait()
                results.append(feedback_services._fatigue_claim([person.pk], timezone.now(), 30))
        finally:
            connections.close_all()

    try:
        workers = [threading.Thread(target=claim) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert sorted(len(r) for r in results) == [0, 1]
    finally:
        with schema_context(acme.schema):
            SurveyContact.objects.filter(customer=person).delete()
            customers_delete([person.pk])
