"""The /status page: learning curves, versions and queue, as plain HTML with inline SVG.

No JavaScript and no assets: it renders the same in a browser, in a terminal's HTML viewer
and in a screenshot. Every string from the store is escaped.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import Service

WIDTH, HEIGHT, PAD = 640, 260, 44
STATUS_COLORS = {"serving": "#1a7f37", "superseded": "#0969da", "rejected": "#cf222e"}


def status_page(service: Service) -> str:
    metric = service.config.evaluation.metric
    queue = {"pending": service.huey.pending_count(), "scheduled": service.huey.scheduled_count()}
    sections = []
    for row in service.store.projects():
        project = row["project"]
        versions = service.store.versions(project)
        runs = service.store.runs(project, limit=5)
        sections.append(_project_section(service, row, versions, runs, metric))
    body = "\n".join(sections) or "<p>No annotation has arrived yet.</p>"
    name = escape(service.config.name)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}: status</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1f2328; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }}
th, td {{ border-bottom: 1px solid #d0d7de; padding: .3em .7em; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }} td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.serving {{ color: #1a7f37; font-weight: 600; }} .rejected {{ color: #cf222e; }} .muted {{ color: #656d76; }}
svg text {{ font: 11px system-ui, sans-serif; fill: #656d76; }}
</style></head>
<body>
<h1>{name}</h1>
<p>Queue: {queue['pending']} training(s) waiting, {queue['scheduled']} scheduled.
Promotion: {escape(service.config.promotion.policy)} on {escape(metric)}.</p>
{body}
</body></html>
"""


def _project_section(service: Service, row: dict[str, Any], versions: list[dict[str, Any]],
                     runs: list[dict[str, Any]], metric: str) -> str:
    project = escape(row["project"])
    served = escape(row["version"] or service.registry.served_version(row["project"]))
    state = "training" if row["running"] else ("queued" if row["pending"] else "idle")
    annotations = service.store.count_annotations(row["project"])
    version_rows = "\n".join(
        f"<tr><td class='{escape(v['status'])}'>{escape(v['version'])}</td><td>{escape(v['status'])}</td>"
        f"<td>{escape(v['kind'])}</td><td class='num'>{v['n_annotations']}</td>"
        f"<td class='num'>{escape(_number(v['metrics'].get(metric)))}</td>"
        f"<td class='muted'>{escape(v['created_at'])}</td><td class='muted'>{escape(v['reason'])}"
        f"{'' if v['path'] else ' (file pruned)'}</td></tr>"
        for v in reversed(versions)
    )
    run_rows = "\n".join(
        f"<tr><td>{escape(r['started_at'])}</td><td>{escape(r['trigger'])}</td><td>{escape(r['status'])}</td>"
        f"<td class='num'>{escape(_number(r['duration_s']))} s</td><td class='muted'>{escape(r['detail'] or '')}</td></tr>"
        for r in runs
    )
    return f"""<section id="project-{project}">
<h2>Project {project}</h2>
<p>Serving <strong>{served}</strong> · {annotations} annotations · training {state}</p>
{_notes(service, row["project"])}
{learning_curve(versions, metric, service.target.metrics.get(metric, True))}
<h3>Versions</h3>
<table><tr><th>version</th><th>status</th><th>kind</th><th>annotations</th><th>{escape(metric)}</th>
<th>created</th><th>why</th></tr>
{version_rows or "<tr><td colspan='7' class='muted'>no model trained yet</td></tr>"}</table>
<h3>Recent trainings</h3>
<table><tr><th>started</th><th>trigger</th><th>outcome</th><th>duration</th><th>detail</th></tr>
{run_rows or "<tr><td colspan='5' class='muted'>none yet</td></tr>"}</table>
</section>"""


def _notes(service: Service, project: str) -> str:
    """What the project's annotations lack, and how many were not used and why."""
    notes = [escape(gap) for gap in service.target.gaps(service.store.answer_counts(project))]
    contact = service.store.contact(project)
    if contact and contact["status"] == "failed":
        notes.append(f"<strong>Existing annotations not imported</strong>: {escape(contact['problem'])}")
    elif contact and contact["status"] == "imported":
        notes.append(f"{contact['stored']} annotations imported from Label Studio at {escape(contact['url'])}")
    skipped = service.store.skipped(project)
    if skipped:
        notes.append("not used: " + ", ".join(f"{n} {escape(reason)}" for reason, n in skipped.items()))
    return "".join(f'<p class="muted">{note}</p>' for note in notes)


def learning_curve(versions: list[dict[str, Any]], metric: str, higher_is_better: bool = True) -> str:
    """An SVG plot of the metric against the number of annotations, one dot per measured version."""
    points = [(v["n_annotations"], float(v["metrics"][metric]), v) for v in versions
              if isinstance(v["metrics"].get(metric), (int, float))]
    if not points:
        return f'<p class="muted">No version has a measured {escape(metric)} yet: the learning curve appears from the first measured training.</p>'
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_low, x_high = min(xs), max(max(xs), min(xs) + 1)
    # a score (accuracy, F1, R2) on 0..1; an error or a loss (MAE, log loss) from 0 up to its largest
    y_low, y_high = (min(0.0, min(ys)), max(1.0, max(ys))) if higher_is_better else (0.0, max(ys) * 1.1 or 1.0)

    def sx(x: float) -> float:
        return PAD + (x - x_low) / (x_high - x_low) * (WIDTH - 2 * PAD)

    def sy(y: float) -> float:
        return HEIGHT - PAD + (y - y_low) / (y_high - y_low) * (2 * PAD - HEIGHT)

    served = [(sx(x), sy(y)) for x, y, v in points if v["status"] != "rejected"]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in served)
    dots = "\n".join(
        f'<circle class="point {escape(v["status"])}" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4.5" '
        f'fill="{"white" if v["status"] == "rejected" else STATUS_COLORS.get(v["status"], "#0969da")}" '
        f'stroke="{STATUS_COLORS.get(v["status"], "#0969da")}" stroke-width="2">'
        f'<title>{escape(v["version"])}: {escape(metric)} {y:.3f} on {x} annotations ({escape(v["status"])})</title></circle>'
        for x, y, v in points
    )
    ticks = "\n".join(
        f'<text x="{PAD - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:.2f}</text>'
        f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eaeef2"/>'
        for t in (y_low, (y_low + y_high) / 2, y_high)
    )
    return f"""<svg class="learning-curve" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"
aria-label="{escape(metric)} against annotations">
{ticks}
<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#8c959f"/>
<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#8c959f"/>
<text x="{PAD}" y="{HEIGHT - PAD + 16}">{x_low}</text>
<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" text-anchor="end">{x_high}</text>
<text x="{WIDTH / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle">annotations</text>
<text x="12" y="{PAD - 14}">{escape(metric)}</text>
<polyline fill="none" stroke="#0969da" stroke-width="2" points="{line}"/>
{dots}
</svg>"""


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
