"""Recompute name_sort: Chinese names now lead with their pinyin unspaced ("ouyangnana")."""

from django.db import migrations

from crm.lib.contacts import name_sort_key


def recompute(apps, schema_editor):
    customer_model = apps.get_model("customers", "Customer")
    batch = []
    for customer in customer_model.objects.only("id", "name", "name_sort").iterator(chunk_size=2000):
        key = name_sort_key(customer.name)
        if key != customer.name_sort:
            customer.name_sort = key
            batch.append(customer)
        if len(batch) >= 2000:
            customer_model.objects.bulk_update(batch, ["name_sort"])
            batch = []
    if batch:
        customer_model.objects.bulk_update(batch, ["name_sort"])


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_saved_views")]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop)]
