"""Inbound email through the real endpoint over HTTP: `POST /inbound/email/<secret>` served
by gunicorn (the production WSGI server), at a sustained 20 messages a second (issue 16's
goal), mixed new tickets and replies threaded into earlier ones, in GB2312 (with GBK
characters), GBK, Big5 and UTF-8, quoted-printable and base64, each with an attachment.

Builds its own database (crm_bench_support_inbound by default, dropped and recreated at the
start and dropped at the end unless --keep) and files folder. It provisions one tenant, `bench`,
with --customers customers (each with an email, through customers' service) and --tickets
tickets opened by email beforehand (their Message-IDs are what replies answer), then starts
gunicorn (--workers sync workers, 1 thread each, --preload) on a free port, and warms it up
with 10 unmeasured messages per worker.

Two phases, both through the same server:
- sustained: an open-loop sender (the arrival schedule does not wait for answers, as relays
  do not) posts one message every 1/--rate seconds for --seconds; latency is measured from each
  message's scheduled moment, so a server falling behind shows as growing latency. Sustained
  means every message answered 2xx, the achieved rate within 2 % of the target, and p95 under
  a second.
- capacity (the baseline the goal is measured against): as many messages as --concurrency
  senders can get answered back to back, --capacity-messages of them: how far above the goal
  the endpoint's ceiling is on this machine.

    .venv/bin/python bench/support_inbound.py [--rate 20] [--seconds 60] [--workers 4]
        [--concurrency 4] [--capacity-messages 400] [--write-docs] [--keep]
"""

import argparse
import base64
import http.client
import os
import quopri
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    ROOT,
    add_common_arguments,
    app_environment,
    bench_database,
    bullet,
    check_db_name,
    code_state,
    command_line,
    machine_info,
    paragraph,
    parser,
    section_markers,
    setup_django,
    tenant_build,
    verdict,
    write_docs,
)

SLUG = "bench"
GOAL_RATE = 20.0
GOAL_P95_MS = 1000.0
# (label, body charset, transfer encoding, text): GB2312-labelled mail holding GBK characters
# (镕, 啰) is what Chinese clients really send.
SAMPLES = [
    (
        "gb2312",
        "quoted-printable",
        "包裹没到（镕）",
        "您好，朱镕基路的门店 啰嗦一句：我的包裹还没有到。",
    ),
    ("gbk", "base64", "退货退款 {n}", "退货退款申请，订单号 {n}，请尽快处理。"),
    ("big5", "base64", "訂單 {n} 出貨", "請問訂單 {n} 何時出貨？謝謝。"),
    ("utf-8", "quoted-printable", "Order {n} 包裹 ✓", "Order {n}: 包裹 damaged ✓ please help"),
]
ATTACHMENT = os.urandom(24 * 1024)


def parse_args() -> argparse.Namespace:
    p = parser(__doc__)
    p.add_argument("--rate", type=float, default=GOAL_RATE, help="messages a second")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the sustained phase")
    p.add_argument("--customers", type=int, default=2_000)
    p.add_argument("--tickets", type=int, default=500, help="tickets replies thread into")
    p.add_argument("--reply-share", type=float, default=0.5, help="share of replies")
    p.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    p.add_argument("--concurrency", type=int, default=4, help="senders in the capacity phase")
    p.add_argument("--capacity-messages", type=int, default=400)
    add_common_arguments(
        p,
        db_default="crm_bench_support_inbound",
        db_help="database to (re)create; must contain 'bench'",
        keep_help="keep the database afterwards",
    )
    args = p.parse_args()
    check_db_name(p, args)
    return args


def _encoded_word(text: str, charset: str) -> str:
    codec = "gb18030" if charset in ("gb2312", "gbk") else charset
    return f"=?{charset}?B?{base64.b64encode(text.encode(codec)).decode()}?="


def raw_message(n: int, sender: str, reply_to: str | None) -> bytes:
    """One message: a CJK subject and body in the sample's charset, a 24 KB attachment."""
    charset, transfer, title, text = SAMPLES[n % len(SAMPLES)]
    codec = "gb18030" if charset in ("gb2312", "gbk") else charset
    body = text.format(n=n).encode(codec)
    payload = (
        base64.encodebytes(body).decode()
        if transfer == "base64"
        else quopri.encodestring(body).decode()
    )
    boundary = uuid.uuid4().hex
    subject = ("Re: " if reply_to else "") + title.format(n=n)
    headers = [
        f"From: =?utf-8?B?{base64.b64encode('王芳'.encode()).decode()}?= <{sender}>",
        "To: support@bench.localhost",
        f"Subject: {_encoded_word(subject, charset)}",
        f"Message-ID: <{uuid.uuid4().hex}@mail.example.cn>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
    ]
    if reply_to:
        headers += [f"In-Reply-To: <{reply_to}>", f"References: <{reply_to}>"]
    name = "".join(f"%{b:02X}" for b in f"照片{n}.jpg".encode())
    parts = [
        f'--{boundary}\r\nContent-Type: text/plain; charset="{charset}"\r\n'
        f"Content-Transfer-Encoding: {transfer}\r\n\r\n{payload}\r\n",
        f"--{boundary}\r\nContent-Type: image/jpeg\r\n"
        f"Content-Disposition: attachment; filename*=UTF-8''{name}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.encodebytes(ATTACHMENT).decode()}\r\n",
        f"--{boundary}--\r\n",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + "".join(parts)).encode("ascii")


@dataclass
class Setup:
    schema: str
    secret: str
    emails: list[str]
    threads: list[str]  # Message-IDs of the tickets' opening mails


def build(args: argparse.Namespace) -> Setup:
    from django_tenants.utils import schema_context

    from customers.services import CustomerInput, customer_create
    from support.mail_inbound import inbound_mail_receive
    from support.mail_parsing import mail_parse
    from support.mail_settings import inbound_secret_ensure

    print("provisioning the bench tenant ...", flush=True)
    schema = tenant_build(SLUG, "Bench Support")
    emails = [f"customer{i}@example.cn" for i in range(args.customers)]
    threads: list[str] = []
    with schema_context(schema):
        print(f"{args.customers:,} customers ...", flush=True)
        for i, address in enumerate(emails):
            customer_create(actor=None, data=CustomerInput(name=f"顾客 {i}", emails=[address]))
        print(f"{args.tickets:,} tickets opened by email ...", flush=True)
        for i in range(args.tickets):
            mail = mail_parse(raw_message(i, emails[i % len(emails)], None))
            inbound_mail_receive(actor=None, mail=mail)
            threads.append(mail.message_id)
        secret = inbound_secret_ensure(actor=None)
    return Setup(schema, secret, emails, threads)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen:
    handle = log.open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "crm.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "60",
            # Django is loaded once, before the workers fork (as in production): no worker
            # spends the first seconds of the measurement importing the project.
            "--preload",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not start within 60 s")


@dataclass
class Phase:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, outcome: str, ms: float) -> None:
        with self.lock:
            self.latencies_ms.append(ms)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else 0.0

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)


class Sender:
    def __init__(self, port: int, setup: Setup, reply_share: float) -> None:
        self.port = port
        self.setup = setup
        self.path = f"/inbound/email/{setup.secret}"
        self.host = f"{SLUG}.localhost:{port}"
        self.reply_share = reply_share
        self.random = random.Random(16)
        self.lock = threading.Lock()
        self.counter = 0

    def next_message(self) -> bytes:
        with self.lock:
            self.counter += 1
            n = 100_000 + self.counter
            reply = self.random.random() < self.reply_share
            thread = self.random.choice(self.setup.threads) if reply else None
            sender = self.random.choice(self.setup.emails)
        return raw_message(n, sender, thread)

    def post(self, raw: bytes) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(
                "POST",
                self.path,
                body=raw,
                headers={"Host": self.host, "Content-Type": "message/rfc822"},
            )
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        outcome = "?"
        if b'"result"' in data:
            outcome = data.split(b'"result": "', 1)[-1].split(b'"', 1)[0].decode()
        return response.status, outcome


def sustained(sender: Sender, rate: float, seconds: float) -> Phase:
    """Open loop: message i is due at start + i / rate whatever happened to the others."""
    phase = Phase()
    total = int(rate * seconds)
    messages = [sender.next_message() for _ in range(total)]

    def send(i: int, due: float) -> None:
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        status, outcome = sender.post(messages[i])
        phase.record(status, outcome, (time.monotonic() - due) * 1000)

    start = time.monotonic() + 0.5
    with ThreadPoolExecutor(max_workers=64) as pool:
        for i in range(total):
            pool.submit(send, i, start + i / rate)
    phase.elapsed = max(time.monotonic() - start, total / rate)
    return phase


def capacity(sender: Sender, messages: int, concurrency: int) -> Phase:
    """Closed loop: `concurrency` senders, each posting its next message on an answer."""
    phase = Phase()
    queue = [sender.next_message() for _ in range(messages)]
    lock = threading.Lock()

    def run() -> None:
        while True:
            with lock:
                if not queue:
                    return
                raw = queue.pop()
            began = time.monotonic()
            status, outcome = sender.post(raw)
            phase.record(status, outcome, (time.monotonic() - began) * 1000)

    start = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.elapsed = time.monotonic() - start
    return phase


def line(name: str, phase: Phase) -> str:
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(phase.outcomes.items()))
    return (
        f"| {name} | {phase.count} | {phase.ok} | {phase.rate:.1f} msg/s"
        f" | {statistics.median(phase.latencies_ms):.0f} ms | {phase.pct(95):.0f} ms"
        f" | {phase.pct(99):.0f} ms | {outcomes} |"
    )


def report(steady: Phase, ceiling: Phase) -> str:
    return "\n".join(
        [
            "| phase | messages | 2xx | rate | p50 | p95 | p99 | outcomes |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            line("sustained (open loop)", steady),
            line("capacity (closed loop)", ceiling),
        ]
    )


def is_sustained(steady: Phase, rate: float) -> bool:
    return steady.ok == steady.count and steady.rate >= rate * 0.98 and steady.pct(95) < GOAL_P95_MS


def docs_section(
    args: argparse.Namespace, steady: Phase, ceiling: Phase, info: dict[str, str], load: str
) -> str:
    start, end = section_markers("support_inbound")
    ok = is_sustained(steady, args.rate)
    return "\n".join(
        [
            start,
            "## Support: inbound email (`bench/support_inbound.py`)",
            "",
            paragraph(
                f"Goal (issue 16): inbound email at {GOAL_RATE:.0f} messages a second sustained,"
                " through the real endpoint (`POST /inbound/email/<secret>`, gunicorn with"
                f" {args.workers} sync workers, over HTTP), mixed new tickets and replies"
                " threaded by In-Reply-To, in GB2312/GBK/Big5/UTF-8 with quoted-printable and"
                " base64, each with a 24 KB attachment written to the tenant's files."
                f" {verdict(ok)}: {steady.count} messages at {steady.rate:.1f} msg/s, all"
                f" answered{'' if steady.ok == steady.count else ' (NOT all 2xx)'}, p95"
                f" {steady.pct(95):.0f} ms from each message's scheduled moment; the baseline,"
                f" the endpoint's ceiling on this machine with {args.concurrency} senders back"
                f" to back, is {ceiling.rate:.1f} msg/s ({ceiling.rate / GOAL_RATE:.1f}x the"
                " goal)."
            ),
            "",
            report(steady, ceiling),
            "",
            bullet(
                f"Data: {args.customers:,} customers with emails, {args.tickets:,} tickets opened"
                f" by email before the run; replies {args.reply_share:.0%} of the messages."
            ),
            bullet(f"Machine load while it ran: {load} (the machine is shared)."),
            bullet(f"Command: `{command_line()}`"),
            bullet(f"Code: {code_state(('crm', 'customers', 'support'))}"),
            bullet(
                f"Machine: {info['cpu']}, {info['nproc']} cores, {info['ram']};"
                f" {info['postgres_short']}; {info['date']}"
            ),
            end,
        ]
    )


def main() -> int:
    args = parse_args()
    media = Path(tempfile.mkdtemp(prefix="crm-bench-inbound-"))
    with bench_database(args.db_name, keep=args.keep) as bench_url:
        env = app_environment(bench_url, media, "crm-bench-inbound")
        setup_django(env)
        setup = build(args)
        port = free_port()
        server = start_server(env, port, args.workers, media / "gunicorn.log")
        try:
            sender = Sender(port, setup, args.reply_share)
            # Warm-up (not measured): every worker's first requests (connections, templates).
            capacity(sender, 10 * args.workers, 2 * args.workers)
            print(f"sustained: {args.rate:.0f} msg/s for {args.seconds:.0f} s ...", flush=True)
            steady = sustained(sender, args.rate, args.seconds)
            load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"capacity: {args.capacity_messages} messages ...", flush=True)
            ceiling = capacity(sender, args.capacity_messages, args.concurrency)
        finally:
            server.terminate()
            server.wait(timeout=30)
        info = machine_info()
        print()
        print(report(steady, ceiling))
        print(
            f"sustained {args.rate:.0f} msg/s: {verdict(is_sustained(steady, args.rate))}"
            f" ({steady.rate:.1f} msg/s achieved, p95 {steady.pct(95):.0f} ms);"
            f" capacity {ceiling.rate:.1f} msg/s = {ceiling.rate / GOAL_RATE:.1f}x the goal;"
            f" load {load} on {len(os.sched_getaffinity(0))} cores"
        )
        if args.write_docs:
            write_docs("support_inbound", docs_section(args, steady, ceiling, info, load))
            print("wrote docs/benchmarks.md")
    shutil.rmtree(media, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
