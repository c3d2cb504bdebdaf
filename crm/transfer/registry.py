"""What can be imported: the kinds apps register, their fields, and the automatic column mapping.

An app registers its import kinds in ``AppConfig.ready`` (customers registers "customers"; orders,
tickets and points adjustments follow the same way)::

    from crm.transfer.registry import register_import_kind
    register_import_kind(CustomersImport())

The engine (crm.transfer.services) owns the job: the file, the mapping, the batches, the one
transaction of a commit, progress, the rejected-rows report, locking, undo's time limit and the
audit entries. A kind owns the meaning of a row. The protocol a kind implements:

``key: str`` and ``label`` (lazily translated)
    "customers", _("Customers"). The key is stored on ImportJob.kind and in MappingTemplate.kind.

``fields: Sequence[ImportField]``
    What a column can be mapped to, read in the tenant's context (a property may add the
    tenant's custom fields). ``required`` fields must be mapped before a check; ``aliases`` are
    extra header spellings for the automatic mapping (see ``propose_mapping``).

``options: tuple[ImportOption, ...]``
    The choices a user makes besides the mapping (how rows match existing records, whether
    matched records are updated, whether records missing elsewhere are created ...). The engine
    stores the chosen values in ImportJob.options (every declared key, defaults filled in), the
    wizard shows one input per option and the import_records command one flag per option (see
    ImportOption). The kind reads them back with ``job.option(key)``. "Import valid rows only"
    is the engine's own (ImportJob.valid_only), for every kind.

``start(job, *, write: bool) -> ImportRun``
    A run over one file. The engine reads the file in batches of ``BATCH_ROWS`` source rows
    and calls ``run.batch(rows)`` for each, in file order; the run keeps what it needs across
    batches (keys already seen, to reject duplicates inside the file). With ``write=False`` (the
    dry run) it only decides; with ``write=True`` it is called inside the commit's single
    transaction and writes the accepted rows of the batch (bulk: COPY or one statement per
    batch, see crm.transfer.bulk) and records an ImportChange per created or updated record
    (``bulk.changes_copy`` / ``bulk.changes_record_updates``, or their ``*_operation``
    forms for a ``bulk.BackgroundWriter``). The audit triggers are quiet meanwhile (the job, its
    ImportChange rows and the engine's audit entries tell the story). It re-reads the
    database at write time: what it decides then is what counts. It returns a
    ``BatchOutcome``: counts of new, updated and unchanged rows and a ``Rejection`` (row
    number, field key or "", reason) per rejected row.
    With ``write=True`` in all-or-nothing mode the engine stops at the first batch with a
    rejection and rolls everything back, so a run may write a batch's valid rows even when some
    of its rows are rejected.

``finish() -> None`` (on the run; ImportRun's does nothing)
    Called once after the last batch when every batch went through (not after a failure, nor
    when all-or-nothing stops at a rejected row): what a run still owes its last batch (a
    batch kind tells its app's listeners what the last batch wrote).

``close() -> None`` (on the run; ImportRun's does nothing)
    Called once after the last batch, also when the run fails: a run that writes in the
    background (``bulk.BackgroundWriter``: a batch's writes overlap the checks of the next) waits
    for its last writes here and raises their error.

``undo_blocker(job) -> str | None``
    Why this job's changes cannot be undone (records changed, deleted, merged or erased since,
    later records hanging off created ones); None when undo may go ahead. The engine checks the
    time limit and the job's status itself. ``bulk.created_dependents_blocker`` and
    ``bulk.changed_since_blocker`` do the common checks.

``undo_lock(job) -> None`` (ImportKind's locks nothing)
    Inside undo's transaction, before ``undo_blocker`` is asked again: lock the job's records
    (SELECT ... FOR UPDATE), so nobody changes them between the check and the undo.

``undo(job) -> None``
    Inside that transaction (after ``undo_blocker`` said None): remove what the job created and
    restore what it updated from the ImportChange before-images.

A kind that writes through its app's own services, row by row, subclasses
crm.transfer.row_kinds.RowImportKind instead: it says how to parse a row, find its record and
call the service, and the rest (keys repeated in the file, a savepoint per row, the records
kept for undo, undo itself) is done there. A kind with many rows to write
subclasses crm.transfer.batch_kinds.BatchImportKind: it parses and decides row by row
and writes each batch through its app's bulk service; the second read connection, the keys
repeated in the file, the records kept for undo and undo itself are done there.

Values in cells come as text (crm.transfer.reading); crm.transfer.values parses them with
messages a user can act on.
"""

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils import translation
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from crm.transfer.models import ImportJob

# Source rows per batch: one lookup query per batch and per key, constant memory.
BATCH_ROWS = 5000


@dataclass(frozen=True)
class ImportField:
    key: str
    label: Any  # lazily translated
    required: bool = False
    aliases: tuple[str, ...] = ()
    help: Any = ""
    # The crm.accounts.masking kind of the values ("phone", "email", "birthday", "address"), or
    # "" for a field that is not personal data: rejected rows quote its cells masked.
    personal: str = ""


@dataclass(frozen=True)
class SourceRow:
    """One data row of the file: its number as the user sees it, the cells by field key (mapped
    columns only, as text), and every cell of the row in file order (for the rejected CSV)."""

    number: int
    values: dict[str, str]
    cells: list[str]


@dataclass(frozen=True)
class Rejection:
    row: int
    field: str  # the field key, "" for the row as a whole
    reason: str


@dataclass
class BatchOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def add(self, other: "BatchOutcome") -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected.extend(other.rejected)

    def tally(
        self,
        rows: Iterable[Any],
        decide: Callable[[Any], Rejection | None],
        new: Sized,
        changed: Sized,
    ) -> None:
        """Count each row by what `decide` did with it: a Rejection it returned, else a record
        it appended to `new` (created) or to `changed` (updated), else nothing (unchanged)."""
        for row in rows:
            before = (len(new), len(changed))
            rejection = decide(row)
            if rejection is not None:
                self.rejected.append(rejection)
            elif len(new) > before[0]:
                self.created += 1
            elif len(changed) > before[1]:
                self.updated += 1
            else:
                self.unchanged += 1


@dataclass(frozen=True)
class ImportOption:
    """One choice a kind offers besides the mapping: a yes/no flag (no ``choices``) or one of
    ``choices`` ((value, label) pairs).

    ``requires`` names, per choice, the field the file must map for it (matching by phone needs
    the phone column): a file that maps one of these fields but not the chosen one's is refused
    at configuration, and the upload proposes the first choice whose field the file maps.
    ``touches`` names the kinds whose records the job also writes while the flag is on (orders
    that create missing customers touch "customers"): the engine then refuses to run the job
    beside a running import or undo of those kinds. ``flag`` is the import_records option
    ("--match"); by default "--" and the key with dashes. A flag whose default is on is also
    offered as "--no-<flag>"."""

    key: str
    label: Any
    help: Any = ""
    default: Any = False
    choices: tuple[tuple[str, Any], ...] = ()
    requires: tuple[tuple[str, str], ...] = ()
    touches: tuple[str, ...] = ()
    flag: str = ""

    @property
    def is_choice(self) -> bool:
        return bool(self.choices)

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.key.replace("_", "-")

    def required_field(self, value: str) -> str | None:
        return dict(self.requires).get(value)

    def clean(self, value: Any) -> Any:
        """The value as stored; ValueError when it is not one of the choices."""
        if not self.is_choice:
            return bool(value)
        value = str(value)
        if value not in dict(self.choices):
            raise ValueError(value)
        return value

    def display(self, value: Any) -> Any:
        if self.is_choice:
            return dict(self.choices).get(value, value)
        return _("Yes") if value else _("No")


# Names the wizard's form and the engine use themselves: no option may take them.
RESERVED_OPTION_KEYS = frozenset({"valid_only", "save_as", "mapping", "kind", "file"})


class ImportRun(ABC):
    """A run over one file (see the module's docstring)."""

    @abstractmethod
    def batch(self, rows: Sequence[SourceRow]) -> BatchOutcome: ...

    def finish(self) -> None:  # noqa: B027 - most runs have nothing left to do
        """After the last batch of a run that went through (not called when it fails)."""

    def close(self) -> None:  # noqa: B027 - most runs have nothing to finish
        """After the last batch, also when the run fails (a run writing in the background waits
        for its last writes here)."""


class ImportKind(ABC):
    """What an app registers to make its records importable (see the module's docstring)."""

    key: str
    label: Any
    options: tuple[ImportOption, ...] = ()

    @property
    @abstractmethod
    def fields(self) -> Sequence[ImportField]: ...

    @abstractmethod
    def start(self, job: "ImportJob", *, write: bool) -> ImportRun: ...

    @abstractmethod
    def undo_blocker(self, job: "ImportJob") -> str | None: ...

    def undo_lock(self, job: "ImportJob") -> None:  # noqa: B027 - locking nothing is a default
        """Lock the job's records inside undo's transaction (nothing by default)."""

    @abstractmethod
    def undo(self, job: "ImportJob") -> None: ...

    def option(self, key: str) -> ImportOption | None:
        return next((o for o in self.options if o.key == key), None)


_KINDS: dict[str, ImportKind] = {}


def register_import_kind(kind: ImportKind) -> None:
    for option in kind.options:
        if option.key in RESERVED_OPTION_KEYS or option.key.startswith("col_"):
            raise ValueError(f"import option key {option.key!r} is reserved")
    _KINDS[kind.key] = kind


def unregister_import_kind(key: str) -> None:
    """Remove a kind (tests that declare a kind of their own)."""
    _KINDS.pop(key, None)


def import_kinds() -> list[ImportKind]:
    return list(_KINDS.values())


def import_kind(key: str) -> ImportKind:
    """The registered kind; KeyError when there is none."""
    return _KINDS[key]


# --- automatic mapping ------------------------------------------------------------------------

_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def header_key(text: str) -> str:
    """A header as compared for mapping: compatibility-normalised (full-width letters), case
    folded, without spaces, punctuation and underscores ("E-mail" = "email", "手机号：" = "手机号",
    "Postal code" = "postal_code")."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text).casefold())


def _labels(label: Any) -> list[str]:
    names = [str(label)]
    for language in ("en", "zh-hans"):
        with translation.override(language):
            names.append(str(label))
    return names


def field_names(f: ImportField) -> list[str]:
    """Every spelling that maps a header to the field: key, label in both languages, aliases."""
    return [f.key, *_labels(f.label), *f.aliases]


def propose_mapping(fields: Iterable[ImportField], headers: Sequence[str]) -> dict[str, str]:
    """{header: field key or ""}: each header matched against each field's spellings; a field is
    given to the first header that names it (a second such column is skipped)."""
    lookup: dict[str, str] = {}
    for f in fields:
        for name in field_names(f):
            lookup.setdefault(header_key(name), f.key)
    used: set[str] = set()
    mapping: dict[str, str] = {}
    for header in headers:
        key = lookup.get(header_key(header), "") if header.strip() else ""
        if key and key in used:
            key = ""
        if key:
            used.add(key)
        mapping[header] = key
    return mapping


def mapping_fits(
    mapping: dict[str, str], headers: Sequence[str], fields: Iterable[ImportField]
) -> bool:
    """Whether a saved mapping suits a file: it names exactly these headers and still maps
    every required field to one of them."""
    if set(mapping) != set(headers):
        return False
    keys = {f.key for f in fields}
    mapped = {v for v in mapping.values() if v}
    if not mapped <= keys:
        return False
    return all(f.key in mapped for f in fields if f.required)
