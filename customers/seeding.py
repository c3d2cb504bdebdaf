"""Demo customers, their phones, emails, orders, consent and timeline: realistic, deterministic
for a seed, and fast enough for benchmark tenants of a million customers (COPY, not ORM saves).

Seeded rows are not audited: the audit triggers are switched off for the seeding transaction,
since nobody did anything to these records."""

import datetime
import io
import random
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.db import connection, transaction

from crm.accounts.models import Team, User
from crm.lib.contacts import name_sort_key
from crm.lib.tenancy import current_schema
from crm.tenants.models import Tenant
from crm.tenants.seeding import SeedOptions
from customers import schema
from customers.models import Customer

SEED_PREFIX = "DEMO-"
_CN_FAMILY = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_CN_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧巧美玲桂兰霞平刚桂英辉鹏婷燕斌宇浩凯健"
    "俊帆帅旭宁龙林欣雪梅晨阳"
)
_LATIN_GIVEN = [
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "Lucas",
    "Mia",
    "Ethan",
    "Sophie",
    "James",
    "Chloe",
    "Daniel",
    "Grace",
    "Henry",
    "Isla",
    "Jack",
    "Lily",
    "Oscar",
    "Ruby",
    "Leo",
]
_LATIN_FAMILY = [
    "Smith",
    "Brown",
    "Wilson",
    "Taylor",
    "Martin",
    "Lee",
    "Walker",
    "Wright",
    "Green",
    "Hall",
    "Wood",
    "Clarke",
    "Scott",
    "Young",
    "King",
    "Hughes",
    "Evans",
    "Chan",
    "Ng",
]
_COMPANIES = [
    "贸易有限公司",
    "科技有限公司",
    "餐饮管理有限公司",
    "Trading Ltd",
    "Design Studio",
    "Florist",
]
_CITIES = [
    ("上海", "上海"),
    ("北京", "北京"),
    ("广州", "广东"),
    ("深圳", "广东"),
    ("杭州", "浙江"),
    ("成都", "四川"),
    ("南京", "江苏"),
    ("武汉", "湖北"),
    ("Hong Kong", ""),
    ("London", ""),
]
_STREETS = [
    "南京路",
    "淮海中路",
    "人民路",
    "中山路",
    "解放路",
    "建国路",
    "High Street",
    "Queen's Road",
]
_TAGS = ["vip", "会员", "wholesale", "birthday-club", "newsletter", "团购", "corporate", "student"]
_SOURCES = [
    ("store", "walk-in"),
    ("wechat", "mini-program"),
    ("web", "organic"),
    ("referral", "friend"),
    ("tmall", "marketplace"),
    ("event", "trade fair"),
]
_STORES = ["上海旗舰店", "北京三里屯店", "广州天河店", "Online"]
_MOBILE_PREFIXES = [
    "130",
    "131",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "158",
    "186",
    "188",
]


def _copy(table: str, columns: Iterable[str], rows: Iterator[tuple[object, ...]]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_cell(value) for value in row) + "\n")
    buffer.seek(0)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: COPY is not part of Django's API
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            while chunk := buffer.read(1 << 20):
                copy.write(chunk)


def _cell(value: object) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, list):
        return "{" + ",".join('"' + str(v).replace('"', '\\"') + '"' for v in value) + "}"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def _name(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.08:
        return (rng.choice(_CN_FAMILY) + rng.choice(_CN_GIVEN) + rng.choice(_COMPANIES), "company")
    if roll < 0.75:
        given = rng.choice(_CN_GIVEN) + (rng.choice(_CN_GIVEN) if rng.random() < 0.6 else "")
        return (rng.choice(_CN_FAMILY) + given, "individual")
    return (f"{rng.choice(_LATIN_GIVEN)} {rng.choice(_LATIN_FAMILY)}", "individual")


def customers_seed(rng: random.Random, options: SeedOptions) -> str:
    if Customer.objects.filter(external_id__startswith=SEED_PREFIX).exists():
        return f"customers already seeded ({Customer.objects.count()} in all)"
    if options.customers == 0:
        return "no customers asked for"
    tenant = Tenant.objects.get(schema_name=current_schema())
    owners = list(
        User.objects.filter(is_active=True, groups__name="Agent").values_list("pk", flat=True)
    )
    teams = list(Team.objects.values_list("pk", flat=True))
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    tables = [
        "customers_customer",
        "customers_customerphone",
        "customers_customeremail",
        "customers_consentevent",
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER crm_audit")
        cursor.execute("SELECT coalesce(max(id), 0) FROM customers_customer")
        first_id = int(cursor.fetchone()[0]) + 1
        cursor.execute("SELECT coalesce(max(id), 0) FROM customers_order")
        first_order = int(cursor.fetchone()[0]) + 1
        counts = _write(rng, options.customers, first_id, first_order, owners, teams, now, tenant)
        for table in (
            "customers_customer",
            "customers_customerphone",
            "customers_customeremail",
            "customers_order",
            "customers_consentevent",
            "customers_interaction",
        ):
            cursor.execute(  # table names are the constants above
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                f" (SELECT coalesce(max(id), 1) FROM {table}))"
            )
        # Check the deferred foreign keys now: ALTER TABLE refuses while their checks are pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER crm_audit")
    return (
        f"{counts['customers']} customers, {counts['phones']} phones, {counts['emails']} emails, "
        f"{counts['orders']} orders, {counts['consent']} consent events, "
        f"{counts['interactions']} timeline entries"
    )


def _write(
    rng: random.Random,
    total: int,
    first_id: int,
    first_order: int,
    owners: list[int],
    teams: list[int],
    now: datetime.datetime,
    tenant: Tenant,
) -> dict[str, int]:
    customers, phones, emails, orders, consent, interactions = [], [], [], [], [], []
    order_id = first_order
    for index in range(total):
        pk = first_id + index
        name, kind = _name(rng)
        city, region = rng.choice(_CITIES)
        created = now - datetime.timedelta(days=rng.randint(0, 900), seconds=rng.randint(0, 86399))
        birthday = None
        if kind == "individual" and rng.random() < 0.7:
            birthday = datetime.date(
                rng.randint(1950, 2006), rng.randint(1, 12), rng.randint(1, 28)
            )
        source, channel = rng.choice(_SOURCES)
        tags = sorted(set(rng.sample(_TAGS, k=rng.choice([0, 0, 1, 1, 2]))))
        owner = rng.choice(owners) if owners and rng.random() < 0.8 else None
        team = rng.choice(teams) if teams and rng.random() < 0.5 else None
        n_orders = min(int(rng.expovariate(0.35)), 30)
        stage = (
            "lead"
            if n_orders == 0
            else "new"
            if n_orders == 1
            else "loyal"
            if n_orders >= 6
            else rng.choice(["active", "active", "at_risk", "churned"])
        )
        customers.append(
            {
                "id": pk,
                "kind": kind,
                "name": name,
                "name_sort": name_sort_key(name),
                "birthday": birthday,
                "gender": rng.choice(["female", "male", ""]),
                "address": f"{rng.randint(1, 999)}号 {rng.choice(_STREETS)}",
                "city": city,
                "region": region,
                "postal_code": "",
                "country": "CN" if region else "",
                "tags": tags,
                "source": source,
                "channel": channel,
                "owner_id": owner,
                "team_id": team,
                "external_id": f"{SEED_PREFIX}{pk:08d}",
                "stage": stage,
                "stage_override": False,
                "notes": "",
                "created_at": created,
                "updated_at": created,
                "erased_at": None,
                # The language their name is written in (no draw: the demo stays as it was).
                "language": "en" if name.isascii() else "zh-hans",
            }
        )
        if rng.random() < 0.92:
            number = rng.choice(_MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
            phones.append((pk, number, f"+86{number}", f"86{number}", True))
        if rng.random() < 0.6:
            emails.append((pk, f"c{pk}.{rng.choice(['mail', 'shop', 'inbox'])}@example.com", True))
        for _ in range(n_orders):
            ordered = created + datetime.timedelta(
                days=rng.randint(0, 700), seconds=rng.randint(0, 86399)
            )
            if ordered > now:
                ordered = now - datetime.timedelta(days=rng.randint(0, 30))
            amount = Decimal(rng.randint(1900, 250_000)) / 100
            status = "completed" if rng.random() < 0.93 else rng.choice(["refunded", "cancelled"])
            orders.append(
                (
                    order_id,
                    f"SO{order_id:09d}",
                    pk,
                    ordered,
                    amount,
                    tenant.currency,
                    rng.randint(1, 6),
                    rng.choice(["store", "online", "wechat"]),
                    rng.choice(_STORES),
                    status,
                )
            )
            order_id += 1
        if rng.random() < 0.5:
            consent.append(
                (
                    pk,
                    rng.choice(["email", "sms", "phone"]),
                    rng.random() < 0.8,
                    rng.choice(["store sign-up", "web form", "call"]),
                    created,
                )
            )
        if rng.random() < 0.3:
            interactions.append(
                (
                    pk,
                    rng.choice(["call", "visit", "note"]),
                    "staff",
                    rng.choice(
                        [
                            "Asked about delivery",
                            "询问会员积分",
                            "Visited the store",
                            "投诉包装破损",
                            "Follow-up call",
                        ]
                    ),
                    "",
                    created,
                )
            )
    # Every column but the custom fields' (the database default fills them in).
    columns = schema.table_columns(without=("custom",))
    _copy(
        "customers_customer",
        columns,
        (tuple(row[c] for c in columns) for row in customers),
    )
    _copy(
        "customers_customerphone",
        ["customer_id", "raw", "e164", "digits", "is_primary"],
        iter(phones),
    )
    _copy("customers_customeremail", ["customer_id", "email", "is_primary"], iter(emails))
    _copy(
        "customers_order",
        [
            "id",
            "number",
            "customer_id",
            "ordered_at",
            "amount",
            "currency",
            "item_count",
            "channel",
            "store",
            "status",
        ],
        iter(orders),
    )
    _copy(
        "customers_consentevent",
        ["customer_id", "channel", "granted", "source", "at"],
        iter(consent),
    )
    _copy(
        "customers_interaction",
        ["customer_id", "kind", "source", "title", "body", "occurred_at"],
        iter(interactions),
    )
    return {
        "customers": len(customers),
        "phones": len(phones),
        "emails": len(emails),
        "orders": len(orders),
        "consent": len(consent),
        "interactions": len(interactions),
    }
