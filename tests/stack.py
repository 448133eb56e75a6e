"""The team stack for tests, as real servers on 127.0.0.1: PostgreSQL (a throwaway cluster made with initdb),
an S3 endpoint (moto's standalone server; MinIO is not installable here) and `mlflow server` on both. Each
stops with the test process (parent-death signal) or when `stop` kills it by PID."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers.service import die_with_parent, free_port, wait_http_ok

BUCKET = "team"
KEYS = {
    "AWS_ACCESS_KEY_ID": "team-access-key",
    "AWS_SECRET_ACCESS_KEY": "team-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def postgres_binary(name: str) -> str:
    """A PostgreSQL server binary: on PATH, or under /usr/lib/postgresql/*/bin (GitHub's runners, Debian)."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found


def _as_postgres_user() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when this process is root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


class PostgreSQL:
    """A throwaway PostgreSQL cluster in `root`, listening on 127.0.0.1:`port` (user `mlflow`, trust auth)."""

    def __init__(self) -> None:
        # its own directory straight under the system temp dir: run as another user (never root), PostgreSQL
        # must be able to reach it, and pytest's temporary directories are private to root
        self.root, self.port = Path(tempfile.mkdtemp(prefix="gitops-ml-postgres-")), free_port()
        self.data = self.root / "pgdata"
        self.user = _as_postgres_user()
        if self.user:
            os.chown(self.root, *self.user)
        self._run(postgres_binary("initdb"), "-D", str(self.data), "-U", "mlflow", "--auth=trust", "-E", "UTF8")
        self.start()

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the cluster's `postgres` database (psycopg 3)."""
        return f"postgresql+psycopg://mlflow@127.0.0.1:{self.port}/postgres"

    def _demote(self) -> None:
        die_with_parent()
        if self.user:
            os.setgid(self.user[1])
            os.setuid(self.user[0])

    def _run(self, *cmd: str) -> None:
        result = subprocess.run(list(cmd), capture_output=True, text=True, preexec_fn=self._demote, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr or result.stdout}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root}"
        self._run(postgres_binary("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast shutdown: what a restart after a crash-free stop looks like)."""
        with_pg_ctl = [postgres_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
        subprocess.run(with_pg_ctl, check=False, capture_output=True, preexec_fn=self._demote, timeout=60)

    def remove(self) -> None:
        """Stop the server and delete the cluster."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class S3:
    """moto's standalone S3 server on 127.0.0.1 with one bucket (its objects live in memory)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        moto = Path(sys.executable).parent / "moto_server"
        self.process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)  # fmt: skip
        wait_http_ok(f"{self.url}/moto-api/", timeout=60, process=self.process)
        import boto3

        keys = {"aws_access_key_id": KEYS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": KEYS["AWS_SECRET_ACCESS_KEY"]}
        s3 = boto3.client("s3", endpoint_url=self.url, region_name=KEYS["AWS_DEFAULT_REGION"], **keys)
        s3.create_bucket(Bucket=BUCKET)

    def stop(self) -> None:
        _stop(self.process)


class MlflowServer:
    """`mlflow server` with PostgreSQL as its backend store and the bucket as its artifact store (proxied)."""

    def __init__(self, database: PostgreSQL, s3: S3, root: Path):
        self.database, self.s3, self.root = database, s3, root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start the server and wait until /health answers."""
        cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.port),
               "--backend-store-uri", self.database.url, "--artifacts-destination", f"s3://{BUCKET}/mlflow",
               "--serve-artifacts", "--workers", "1"]  # fmt: skip
        env = {**os.environ, **KEYS, "MLFLOW_S3_ENDPOINT_URL": self.s3.url, "MLFLOW_DISABLE_TELEMETRY": "true"}
        log = (self.root / "mlflow-server.log").open("ab")
        self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, preexec_fn=die_with_parent,
                                        start_new_session=True)  # fmt: skip
        wait_http_ok(f"{self.url}/health", timeout=120, process=self.process)

    def stop(self) -> None:
        """Stop the server and its workers (its process group)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(os.getpgid(self.process.pid), signal.SIGTERM)
            self.process.wait(30)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def client_env(s3: S3, mlflow: MlflowServer) -> dict[str, str]:
    """What a team member's shell holds: the bucket's keys for DVC, the tracking server's URL for MLflow."""
    return {**KEYS, "MLFLOW_TRACKING_URI": mlflow.url}
