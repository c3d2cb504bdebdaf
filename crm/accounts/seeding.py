"""Demo staff: the four logins printed by `make run`, plus a team of agents."""

import random

from django.contrib.auth.hashers import make_password

from crm.accounts import roles
from crm.accounts.models import Team, User
from crm.accounts.services import staff_create
from crm.tenants.seeding import SeedOptions

DEMO_PASSWORD = "crm-demo-2026"  # noqa: S105 - printed on purpose; demo tenants only

DEMO_LOGINS = (
    ("admin@example.com", "Alex Morgan", roles.ADMIN),
    ("manager@example.com", "王芳", roles.MANAGER),
    ("agent@example.com", "Li Wei", roles.AGENT),
    ("viewer@example.com", "陈静", roles.VIEWER),
)

_GIVEN = ["Emily", "Daniel", "Sofia", "Kenji", "Priya", "Lucas", "Mei", "Omar"]
_FAMILY = ["Carter", "Nguyen", "Rossi", "Tanaka", "Sharma", "Silva", "Lin", "Haddad"]
_CJK_FAMILY = ["张", "刘", "杨", "黄", "赵", "周", "吴", "徐"]
_CJK_GIVEN = ["伟", "娜", "敏", "强", "磊", "洋", "艳", "杰", "婷", "超"]


def _create(email: str, name: str, role: str, password_hash: str) -> None:
    user = staff_create(actor=None, email=email, full_name=name, role=role, password=None)
    user.password = password_hash
    user.save(update_fields=["password"])


def staff_seed(rng: random.Random, options: SeedOptions) -> str:
    # Hashing is slow on purpose; every demo account shares the one password, so hash it once.
    password_hash = make_password(DEMO_PASSWORD)
    created = 0
    for email, name, role in DEMO_LOGINS:
        if not User.objects.filter(email=email).exists():
            _create(email, name, role, password_hash)
            created += 1
    for index in range(6):
        if rng.random() < 0.5:
            name = rng.choice(_CJK_FAMILY) + rng.choice(_CJK_GIVEN) + rng.choice(_CJK_GIVEN)
        else:
            name = f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}"
        role = roles.AGENT if index < 4 else roles.MARKETING
        email = f"staff{index + 1}@example.com"
        if not User.objects.filter(email=email).exists():
            _create(email, name, role, password_hash)
            created += 1
    teams = _seed_teams()
    return f"{created} staff accounts created, {User.objects.count()} in all; {teams} teams"


_TEAMS = {
    "上海旗舰店 Shanghai flagship": (
        "agent@example.com",
        "staff1@example.com",
        "staff2@example.com",
    ),
    "Online support 在线客服": ("staff3@example.com", "staff4@example.com"),
}


def _seed_teams() -> int:
    for name, emails in _TEAMS.items():
        team, created = Team.objects.get_or_create(name=name)
        if created:
            team.members.set(User.objects.filter(email__in=emails))
    return Team.objects.count()
