"""Structure the next apps rely on: the tenant admin site lives below every app, migrations
mean the same thing forever (they run frozen SQL, not live project code), and every benchmark
shares one harness."""

import ast
from pathlib import Path

from django.apps import apps
from django.db.migrations import RunSQL
from django.db.migrations.loader import MigrationLoader

from crm.accounts import audit_sql
from crm.accounts.admin_site import ReadMostlyAdmin, site

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = {"crm", "customers", "support", "loyalty", "analytics", "tests", "bench"}


def _imported_modules(path: Path) -> list[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def test_the_admin_site_is_in_crm_and_apps_register_their_models_with_it():
    source = ROOT / "crm" / "accounts" / "admin_site.py"
    higher = PROJECT_PACKAGES - {"crm"}
    assert [m for m in _imported_modules(source) if m.split(".")[0] in higher] == []
    urls = _imported_modules(ROOT / "crm" / "urls_tenant.py")
    assert "customers.admin" not in urls and "customers" not in urls
    registered = {model._meta.label: admin for model, admin in site._registry.items()}
    assert {"customers.Customer", "customers.Order"} <= registered.keys()
    assert isinstance(registered["customers.Customer"], ReadMostlyAdmin)
    assert isinstance(registered["customers.Order"], ReadMostlyAdmin)


def _migration_files() -> list[Path]:
    files = []
    for config in apps.get_app_configs():
        folder = Path(config.path) / "migrations"
        if folder.is_dir() and Path(config.path).is_relative_to(ROOT):
            files += [p for p in sorted(folder.glob("[0-9]*.py"))]
    return files


# Django's migration writer itself spells a field's validators, a callable default or a manager
# as `<app>.models.<name>` (the autodetector compares them with the models, so they cannot be
# copied into the migration); that one form is allowed. Anything else a migration runs (SQL,
# data fixes) is written into the migration, so later edits of live code cannot change it.
def _allowed(module: str) -> bool:
    return module.split(".")[0] not in PROJECT_PACKAGES or (
        module.endswith(".models") and module.count(".") <= 2
    )


def test_migrations_import_no_live_project_code():
    files = _migration_files()
    assert len(files) > 20  # the walk found the project's migrations
    offending = {
        str(path.relative_to(ROOT)): [m for m in _imported_modules(path) if not _allowed(m)]
        for path in files
    }
    assert {path: modules for path, modules in offending.items() if modules} == {}


def test_the_migration_check_would_catch_a_live_import(tmp_path):
    sample = tmp_path / "0099_sample.py"
    sample.write_text(
        "from django.db import migrations\n"
        "import crm.tenants.models\n"
        "def forward(apps, schema_editor):\n"
        "    from crm.lib.contacts import name_sort_key\n",
        encoding="utf-8",
    )
    assert [m for m in _imported_modules(sample) if not _allowed(m)] == ["crm.lib.contacts"]


def test_the_audit_functions_in_code_are_the_ones_the_last_migration_installs():
    """Migrations carry their own copy of the trigger functions, so editing FUNCTIONS_SQL alone
    would change nothing in any database: it needs a new migration with the new text."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    installed: object = ""
    for key in loader.graph.forwards_plan(loader.graph.leaf_nodes("accounts")[0]):
        if key[0] != "accounts":
            continue
        for operation in loader.graph.nodes[key].operations:
            if isinstance(operation, RunSQL) and "crm_audit_row()" in str(operation.sql):
                installed = operation.sql
    assert installed == audit_sql.FUNCTIONS_SQL
    trigger = audit_sql.audit_trigger("customers_customer", ignore=("updated_at", "name_sort"))
    frozen = loader.graph.nodes[("customers", "0002_audit_triggers")].operations[0]
    assert (frozen.sql, frozen.reverse_sql) == (trigger.sql, trigger.reverse_sql)


BENCH_SCRIPTS = ("customer_list", "import_export", "import_reading", "tenant_provisioning")


def test_every_bench_script_uses_the_harness_and_keeps_no_copy_of_it():
    shared = {"bench_urls", "recreate_database", "drop_database", "command_line", "write_docs"}
    for name in BENCH_SCRIPTS:
        path = ROOT / "bench" / f"{name}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "bench.harness" in _imported_modules(path), name
        assert defined & shared == set(), name
        assert f"<!-- bench:{name}:start -->" not in path.read_text(encoding="utf-8"), name


def test_the_harness_replaces_a_section_and_appends_a_new_one(tmp_path):
    import re

    from bench import harness

    docs = tmp_path / "benchmarks.md"
    start, end = harness.section_markers("alpha")
    harness.write_docs("alpha", f"{start}\nfirst\n{end}", docs=docs)
    assert docs.read_text().startswith(harness.DOCS_HEADER)
    docs.write_text(docs.read_text() + "\n## Old figures\ngone\n")
    harness.write_docs(
        "alpha", f"{start}\nsecond\n{end}", docs=docs, drop=re.compile(r"## Old figures.*", re.S)
    )
    b_start, b_end = harness.section_markers("beta")
    harness.write_docs("beta", f"{b_start}\nother\n{b_end}", docs=docs)
    text = docs.read_text()
    assert "first" not in text and "gone" not in text
    assert text.index("second") < text.index("other") and text.count(start) == 1
