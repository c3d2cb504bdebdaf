"""Recompute name_sort: Chinese names now lead with their pinyin unspaced ("ouyangnana")."""

import unicodedata

from django.db import migrations
from pypinyin import lazy_pinyin


# Frozen (issue 14): crm.lib.contacts.name_sort_key as this migration ran it, copied here so that
# later edits of that function cannot change what this migration does.
def name_sort_key(name: str) -> str:
    folded = unicodedata.normalize("NFKC", name).casefold().strip()
    if any("\u3400" <= ch <= "\u9fff" for ch in folded):
        pinyin = "".join(part.strip() for part in lazy_pinyin(folded) if part.strip())
        return f"{pinyin} {folded}"[:600].rstrip()
    return folded[:600].rstrip()


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
