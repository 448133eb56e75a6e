"""A stand-in for GitHub's REST API on 127.0.0.1, over TLS, for the real `gh` CLI to talk to.

`gh` speaks to a host other than github.com as to GitHub Enterprise: HTTPS to `/api/v3/`, with the
token from GH_ENTERPRISE_TOKEN. So the server makes its own certificate authority (`ca.pem`, given to
`gh` through SSL_CERT_FILE) and a certificate for 127.0.0.1. It answers the endpoints the project
calls (pull requests, issues and their comments, workflow dispatch and enable), keeps what they
create, records every call (method, path, query, body, whether the token was right), and answers
errors the way GitHub does: 401 `Bad credentials`, 404 `Not Found`, 422 `Validation Failed` for a
second open pull request from the same head or a head branch that the bare origin does not have.
"""

from __future__ import annotations

import datetime
import json
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DOCS = "https://docs.github.com/rest"


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost: (ca.pem, server.pem, server-key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitops-ml test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@dataclass
class State:
    """What the fake GitHub holds: pull requests, issues, comments, dispatches, enabled workflows, calls."""

    origin: Path  # the bare repository that stands for the GitHub repository's branches
    tokens: set[str]
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    dispatches: list[dict[str, Any]] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    counter: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_number(self) -> int:
        self.counter += 1
        return self.counter

    def branch_sha(self, branch: str) -> str | None:
        result = subprocess.run(["git", "--git-dir", str(self.origin), "rev-parse", "--verify", "--quiet",
                                 f"refs/heads/{branch}"], capture_output=True, text=True, check=False)  # fmt: skip
        return result.stdout.strip() or None

    def has_workflow(self, name: str) -> bool:
        blob = f"refs/heads/main:.github/workflows/{name}"
        found = subprocess.run(["git", "--git-dir", str(self.origin), "cat-file", "-e", blob], capture_output=True)
        return found.returncode == 0

    def open_pulls(self) -> list[dict[str, Any]]:
        return [p for p in self.pulls.values() if p["state"] == "open"]


def _error(status: int, message: str, **extra: Any) -> tuple[int, Any]:
    return status, {"message": message, "documentation_url": DOCS, **extra}


def answer(state: State, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    """GitHub's answer to one call: (status, JSON body or None)."""
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if parts[:2] != ["api", "v3"] or len(parts) < 5 or parts[2] != "repos":
        return _error(404, "Not Found")
    owner, repo, rest = parts[3], parts[4], parts[5:]
    full = f"{owner}/{repo}"
    if rest == ["pulls"] and method == "GET":
        found = [p for p in state.open_pulls() if query.get("state", "open") in ("open", "all")]
        if "head" in query:
            found = [p for p in found if f"{owner}:{p['head']['ref']}" == query["head"]]
        if "base" in query:
            found = [p for p in found if p["base"]["ref"] == query["base"]]
        return 200, [_pull_view(state, p) for p in found]
    if rest == ["pulls"] and method == "POST":
        head, base = str(body.get("head", "")), str(body.get("base", ""))
        if not body.get("title"):
            return _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "title",
                                                             "code": "missing_field"}])  # fmt: skip
        if state.branch_sha(head) is None:
            return _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "head",
                                                             "code": "invalid"}])  # fmt: skip
        if state.branch_sha(base) is None:
            return _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "base",
                                                             "code": "invalid"}])  # fmt: skip
        if any(p["head"]["ref"] == head and p["base"]["ref"] == base for p in state.open_pulls()):
            return _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "code": "custom",
                          "message": f"A pull request already exists for {owner}:{head}."}])  # fmt: skip
        number = state.next_number()
        state.pulls[number] = {"number": number, "state": "open", "title": body["title"], "body": body.get("body"),
                               "head": {"ref": head}, "base": {"ref": base}, "repo": full}  # fmt: skip
        return 201, _pull_view(state, state.pulls[number])
    if len(rest) == 2 and rest[0] == "pulls" and rest[1].isdigit():
        pull = state.pulls.get(int(rest[1]))
        if pull is None:
            return _error(404, "Not Found")
        if method == "PATCH":
            pull.update({k: body[k] for k in ("title", "body", "state") if k in body})
        elif method != "GET":
            return _error(404, "Not Found")
        return 200, _pull_view(state, pull)
    if rest == ["issues"] and method == "GET":
        labels = set(filter(None, query.get("labels", "").split(",")))
        found = [i for i in state.issues.values() if i["state"] == query.get("state", "open")]
        found = [i for i in found if labels <= {label["name"] for label in i["labels"]}]
        return 200, found[: int(query.get("per_page", 30))]
    if rest == ["issues"] and method == "POST":
        if not body.get("title"):
            return _error(422, "Validation Failed")
        number = state.next_number()
        state.issues[number] = {"number": number, "state": "open", "title": body["title"], "body": body.get("body"),
                                "labels": [{"name": n} for n in body.get("labels", [])]}  # fmt: skip
        return 201, state.issues[number]
    if len(rest) == 2 and rest[0] == "issues" and rest[1].isdigit():
        issue = state.issues.get(int(rest[1]))
        if issue is None:
            return _error(404, "Not Found")
        if method == "PATCH":
            issue.update({k: body[k] for k in ("title", "body", "state") if k in body})
        return 200, issue
    if len(rest) == 3 and rest[0] == "issues" and rest[1].isdigit() and rest[2] == "comments":
        number = int(rest[1])
        if number not in state.pulls and number not in state.issues:
            return _error(404, "Not Found")
        comments = state.comments.setdefault(number, [])
        if method == "GET":
            return 200, comments
        if method == "POST":
            comment = {"id": len(comments) + 1000 * number, "body": body.get("body", "")}
            comments.append(comment)
            return 201, comment
    if len(rest) == 3 and rest[:2] == ["issues", "comments"] and method == "PATCH":
        for comments in state.comments.values():
            for comment in comments:
                if str(comment["id"]) == rest[2]:
                    comment["body"] = body.get("body", "")
                    return 200, comment
        return _error(404, "Not Found")
    if len(rest) == 4 and rest[:2] == ["actions", "workflows"]:
        workflow = rest[2]
        if not state.has_workflow(workflow):  # GitHub knows the workflow files of the default branch
            return _error(404, "Not Found")
        if rest[3] == "dispatches" and method == "POST":
            if not body.get("ref"):
                return _error(422, "Invalid request: ref is required")
            state.dispatches.append({"workflow": workflow, "ref": body["ref"]})
            return 204, None
        if rest[3] == "enable" and method == "PUT":
            state.enabled.append(workflow)
            return 204, None
    return _error(404, "Not Found")


def _pull_view(state: State, pull: dict[str, Any]) -> dict[str, Any]:
    """A pull request as the API shows it: head and base with the commits their branches point at now."""
    view = json.loads(json.dumps(pull))
    view["head"]["sha"] = state.branch_sha(pull["head"]["ref"])
    view["base"]["sha"] = state.branch_sha(pull["base"]["ref"])
    return view


class FakeGitHub:
    """The server, in a thread of the test process; `state` is read directly by the tests."""

    def __init__(self, directory: Path, origin: Path, tokens: set[str]):
        self.directory = directory
        self.ca, cert, key = make_certificates(directory / "tls")
        self.state = State(origin=origin, tokens=tokens)
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # what gh sends for --input -
                    raw = b""
                    while (size := int(self.rfile.readline().strip() or b"0", 16)) > 0:
                        raw += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return raw
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                raw = self._body()
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except json.JSONDecodeError:
                    body = None
                token = (self.headers.get("Authorization") or "").removeprefix("token ").removeprefix("Bearer ")
                with state.lock:
                    authorised = token in state.tokens
                    if not authorised:
                        status, payload = _error(401, "Bad credentials")
                    elif body is None:
                        status, payload = _error(400, "Problems parsing JSON")
                    else:
                        status, payload = answer(state, self.command, url.path, query, body)
                    state.calls.append({"method": self.command, "path": url.path, "query": query, "body": body,
                                        "status": status, "authorised": authorised, "token": token})  # fmt: skip
                    if status == 201 and isinstance(payload, dict) and "number" in payload:
                        for store in (state.pulls, state.issues):
                            if payload["number"] in store:
                                store[payload["number"]]["created_with"] = token
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def env(self) -> dict[str, str]:
        """What points the real `gh` at this server, and nowhere else (the token: tests/runner/bin/gh)."""
        return {
            "GH_HOST": self.host,
            "SSL_CERT_FILE": str(self.ca),
            "GH_NO_UPDATE_NOTIFIER": "1",
            "GH_PROMPT_DISABLED": "1",
            "GH_CONFIG_DIR": str(self.directory / "gh-config"),
        }

    def calls(self, method: str | None = None, contains: str = "") -> list[dict[str, Any]]:
        with self.state.lock:
            return [c for c in self.state.calls if (method is None or c["method"] == method) and contains in c["path"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
