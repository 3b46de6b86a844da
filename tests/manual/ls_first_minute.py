"""Manual check of the first minute with a real Label Studio, as the README's quick start has it.

Import a sample's tasks *with* their annotations, connect the backend and set nothing else: the
backend must import those annotations on its own (with the address and token Label Studio's
/setup sends), train, upload the new version's predictions and make that version the project's
prediction source, so that every unlabeled task has a prediction and ordering by prediction
score puts the least certain first. Needs only `requests`.

Start Label Studio and a freshly rendered backend (empty MODEL_DIR) as tests/manual/ls_e2e.py's
docstring says, then:

    python tests/manual/ls_first_minute.py --sample samples/topics --backend-url http://127.0.0.1:9091
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import requests


def call(session: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
    response = session.request(method, url, timeout=120, **kwargs)
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {url} -> {response.status_code}: {response.text[:500]}")
    return response.json() if response.content else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", required=True, type=Path)
    parser.add_argument("--backend-url", default="http://127.0.0.1:9090")
    parser.add_argument("--ls-url", default="http://127.0.0.1:8080")
    parser.add_argument("--token", default="abcdef0123456789", help="a legacy API token of Label Studio's")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for predictions")
    args = parser.parse_args()
    ls_url, backend_url = args.ls_url.rstrip("/"), args.backend_url.rstrip("/")
    ls = requests.Session()
    ls.headers["Authorization"] = f"Token {args.token}"
    failures: list[str] = []

    def check(ok: bool, what: str, detail: Any = "") -> None:
        print(f"   {'PASS' if ok else 'FAIL'}  {what}" + (f"  [{detail}]" if detail != "" else ""))
        if not ok:
            failures.append(what)

    config = (args.sample / "labeling_config.xml").read_text(encoding="utf-8")
    tasks = json.loads((args.sample / "tasks.json").read_text(encoding="utf-8"))
    annotated = sum(bool(t.get("annotations")) for t in tasks)
    project = call(ls, "POST", f"{ls_url}/api/projects",
                   json={"title": f"first minute {args.sample.name} {time.strftime('%H:%M:%S')}", "label_config": config})
    pid = project["id"]
    imported = call(ls, "POST", f"{ls_url}/api/projects/{pid}/import", json=tasks)
    check(imported.get("annotation_count") == annotated, f"imported {len(tasks)} tasks, {annotated} annotated",
          imported.get("annotation_count"))
    started = time.monotonic()
    ml = call(ls, "POST", f"{ls_url}/api/ml", json={"url": backend_url, "project": pid, "title": "mlgen"})
    check(ml.get("state") == "CO", "the backend is Connected", ml.get("state"))

    def ready() -> dict[str, Any] | None:
        row = next((p for p in call(requests, "GET", f"{backend_url}/metrics")["projects"]
                    if p["project"] == str(pid)), None)
        source = ((row or {}).get("label_studio") or {}).get("prediction_source") or {}
        return row if row and source.get("version") == row["model_version"] else None

    row = None
    while time.monotonic() - started < args.timeout and row is None:
        time.sleep(1)
        row = ready()
    elapsed = time.monotonic() - started
    check(row is not None, "annotations imported, a model trained and made the prediction source, by itself",
          f"{elapsed:.1f} s after connecting" if row else (None if row else "timed out"))
    if row is None:
        print(json.dumps(call(requests, "GET", f"{backend_url}/metrics"), indent=1)[:3000])
        return 1
    check(row["annotations"] == annotated, "the backend holds every imported annotation", row["annotations"])
    print(f"   backend: {row['model_version']}, {row['label_studio']}")
    version = row["model_version"]
    project = call(ls, "GET", f"{ls_url}/api/projects/{pid}")
    check(project["model_version"] == version, "the project's prediction source is the served version",
          project["model_version"])
    listed = call(ls, "GET", f"{ls_url}/api/tasks/", params={
        "project": pid, "page_size": len(tasks) + 10, "fields": "all",
        "query": json.dumps({"ordering": ["tasks:predictions_score"]})})
    listed = listed.get("tasks", []) if isinstance(listed, dict) else listed
    unlabeled = [t for t in listed if not t.get("annotations")]
    predicted = [t for t in unlabeled if any(p.get("model_version") == version for p in t.get("predictions") or [])]
    check(len(predicted) == len(unlabeled), "every unlabeled task has a prediction of the served version",
          f"{len(predicted)}/{len(unlabeled)}")
    scores = [t["predictions_score"] for t in listed if t.get("predictions_score") is not None]
    check(len(scores) >= len(unlabeled) and scores == sorted(scores),
          "ordering by prediction score ascending lists the least certain first",
          f"{len(scores)} scored, first {[round(s, 3) for s in scores[:5]]}, last {[round(s, 3) for s in scores[-3:]]}")
    print(f"\n{'PASS' if not failures else 'FAIL'}: {len(failures)} failed check(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
