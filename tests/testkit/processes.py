"""The real web server and Celery worker, run as subprocesses against the test database."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def service_env(db_name: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = env.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm")
    env["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + db_name
    env["DJANGO_PASSWORD_HASHERS"] = "django.contrib.auth.hashers.MD5PasswordHasher"
    env["PYTHONUNBUFFERED"] = "1"
    # The browser tests' server checks every {% memo %} block's key, as the suite does.
    env["TEMPLATE_MEMO_VERIFY"] = "1"
    env.update(extra)
    return env


class Managed:
    """A child process whose output goes to a log file, stopped on exit."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def assert_running(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"process exited with {self.process.returncode}:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_worker(env: dict[str, str], log_dir: Path, queue: str) -> Managed:
    worker = Managed(
        "celery-worker",
        [
            str(BIN / "celery"),
            "-A",
            "crm",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
        ],
        env,
        log_dir,
    )
    from crm.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        worker.assert_running()
        if app.control.ping(destination=[f"{queue}@{os.uname().nodename}"], timeout=0.5):
            return worker
    worker.stop()
    raise RuntimeError(f"the Celery worker did not answer within 60 s:\n{worker.log_tail()}")


def start_web(env: dict[str, str], log_dir: Path, port: int) -> Managed:
    web = Managed(
        "web",
        [
            str(BIN / "gunicorn"),
            "crm.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--timeout",
            "60",
            "--access-logfile",
            "-",
        ],
        env,
        log_dir,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        web.assert_running()
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/login/", headers={"Host": f"localhost:{port}"}
            )
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return web
        except OSError:
            time.sleep(0.2)
    web.stop()
    raise RuntimeError(f"the web server did not start within 60 s:\n{web.log_tail()}")
