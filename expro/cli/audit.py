"""``expro audit verify|export|checkpoint``: the tamper-evident audit trail (DATA_FORMATS §5)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from expro import db
from expro.cli.options import EXIT_BAD_INPUT, fail, overwrite_option
from supervision.errors import SupervisionError

if TYPE_CHECKING:
    from supervision.audit import Checkpoint

user_option = click.option("--user", "username", default=None,
                           help="Who acts (工号), recorded in the audit trail; default cli:<OS user>.")


def _seal() -> int:
    """Chain every committed event, in a transaction of its own."""
    from supervision import audit

    with db.transaction() as conn:
        return audit.seal(conn)


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit trail (审计日志): verify, export, daily checkpoint."""


@audit_group.command("verify")
@user_option
def verify(username: str | None) -> None:
    """Seal, recompute the whole chain and the stored checkpoints; exit 1 naming the first bad row."""
    from supervision import audit

    sealed = _seal()
    with db.transaction() as conn:
        report = audit.verify_database(conn)
        protected, guard_text = audit.guard(conn)
        s = report.summary
        audit.append(conn, actor=audit.cli_actor(username), action="audit.verify", object_type="audit_chain",
                     details={"events": s.count, "last_pos": s.last_pos, "last_seq": s.last_seq,
                              "last_hash": s.last_hash.hex(), "breaks": len(report.breaks)},
                     result="intact" if report.intact else "broken")
    click.echo(f"本次封存 / sealed now: {sealed}; 待封存 / still pending (committed meanwhile): {report.pending}")
    click.echo(guard_text)
    if not report.intact:
        first = report.breaks[0]
        click.echo(f"审计链已损坏 / audit chain BROKEN: {len(report.breaks)} 处问题 / problem(s); "
                   f"第一处 / first bad row: seq {first.seq}" + (f" (pos {first.pos})" if first.pos else "")
                   + f": {first.reason}")
        for other in report.breaks[1:20]:
            click.echo(f"  seq {other.seq} (pos {other.pos}): {other.reason}")
        raise SystemExit(1)
    click.echo(f"审计链完整 / audit chain intact: {s.count} 条事件 / events; 最后 / last pos {s.last_pos}, "
               f"seq {s.last_seq}, hash {s.last_hash.hex()}; 校验点相符 / checkpoints matching: {report.checkpoints}")


@audit_group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The JSONL file (one chained event per line).")
@user_option
@overwrite_option
def export(output: Path, username: str | None, overwrite: bool) -> None:
    """Write the whole chain for ``python -m supervision.audit_verify FILE.jsonl``."""
    from supervision import audit

    if output.exists() and not overwrite:
        fail(f"{output} 已存在 / exists; use --overwrite to replace it", EXIT_BAD_INPUT)
    _seal()
    digest = hashlib.sha256()
    count, last = 0, None
    try:
        with db.transaction() as conn:
            with output.open("w", encoding="utf-8", newline="\n") as handle:
                for rec in audit.export_records(conn):
                    line = rec.to_json() + "\n"
                    handle.write(line)
                    digest.update(line.encode("utf-8"))
                    count, last = count + 1, rec
            audit.append(conn, actor=audit.cli_actor(username), action="audit.export", object_type="audit_chain",
                         details={"events": count, "last_pos": last.pos if last else 0,
                                  "last_hash": last.hash.hex() if last else audit.GENESIS_HASH.hex()},
                         attachments=[{"name": output.name, "sha256": digest.hexdigest()}])
    except SupervisionError as exc:
        fail(f"错误 / error: {exc}")
    click.echo(f"已导出 / exported {count} 条事件 / events to {output}"
               + (f"; 最后 / last pos {last.pos}, seq {last.seq}, hash {last.hash.hex()}" if last else "")
               + f"; 文件 / file sha256 {digest.hexdigest()}")
    click.echo(f"核验 / verify: python -m supervision.audit_verify {output}")


def checkpoint_text(cp: Checkpoint) -> str:
    """The printable form of a checkpoint, in Chinese with English alongside."""
    hash_hex = cp.hash.hex()
    return "\n".join([
        "审计日志每日校验点 / Audit trail daily checkpoint",
        f"日期 Date: {cp.day.isoformat()}（截至北京时间当日 24:00 / as of the end of the day, China time）",
        f"链位置 Chain position: {cp.pos}",
        f"事件序号 Event seq: {cp.seq if cp.seq is not None else '—（审计链为空 / empty chain）'}",
        "哈希 Hash (SHA-256):",
        f"    {hash_hex[:32]}",
        f"    {hash_hex[32:]}",
        f"生成 Created: {cp.created_at.astimezone(dt.timezone(dt.timedelta(hours=8))):%Y-%m-%d %H:%M:%S} "
        f"（北京时间 / China time）由 by {cp.created_by}",
        "核对方法 / How to check: expro audit export -o audit.jsonl && "
        f"python -m supervision.audit_verify audit.jsonl --checkpoint {cp.pos}:{hash_hex}",
        "",
        "核对人签字 Inspector's signature: ____________________    日期 Date: ______________",
    ])


def _pdf(text: str, path: Path) -> None:
    from fpdf import FPDF

    from supervision.documents import find_cjk_font

    font, index = find_cjk_font()
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_title("审计日志每日校验点")
    pdf.set_creator("Expro")
    pdf.add_font("cjk", fname=font, collection_font_number=index)
    pdf.set_margins(18, 20, 18)
    pdf.add_page()
    lines = text.split("\n")
    pdf.set_font("cjk", size=16)
    pdf.multi_cell(0, 10, lines[0], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("cjk", size=11)
    for line in lines[1:]:
        if line.startswith("    "):
            pdf.set_font("courier", size=13)
            pdf.cell(0, 8, "    " + line.strip(), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("cjk", size=11)
            continue
        pdf.multi_cell(0, 8, line or " ", align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


@audit_group.command("checkpoint")
@click.option("--date", "day", default=None, help="The day (YYYY-MM-DD, China time); default yesterday.")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a one-page PDF to print and sign.")
@user_option
@overwrite_option
def checkpoint(day: str | None, pdf_path: Path | None, username: str | None, overwrite: bool) -> None:
    """Store (once) and print the chain position, seq and hash as of the end of a day in China."""
    from supervision import audit
    from supervision.identity import china_today

    today = china_today()
    try:
        when = dt.date.fromisoformat(day) if day else today - dt.timedelta(days=1)
    except ValueError:
        fail(f"错误 / error: 日期格式应为 YYYY-MM-DD / --date must be YYYY-MM-DD, not {day!r}", EXIT_BAD_INPUT)
    if pdf_path is not None and pdf_path.exists() and not overwrite:
        fail(f"{pdf_path} 已存在 / exists; use --overwrite to replace it", EXIT_BAD_INPUT)
    _seal()
    try:
        with db.transaction() as conn:
            cp, new = audit.checkpoint(conn, when, created_by=audit.cli_actor(username), today=today)
            if not new:
                intact = audit.verify_database(conn)
                if any(f"checkpoint {cp.day}" in b.reason for b in intact.breaks):
                    fail(f"错误 / error: 已存的校验点 {cp.day} 与审计链不符 / the stored checkpoint of {cp.day} "
                         "no longer matches the chain: run expro audit verify")
    except audit.AuditError as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    text = checkpoint_text(cp)
    click.echo(("新校验点 / new checkpoint" if new else "已存的校验点 / stored checkpoint") + "\n")
    click.echo(text)
    if pdf_path is not None:
        try:
            _pdf(text, pdf_path)
        except SupervisionError as exc:
            fail(f"错误 / error: {exc}")
        click.echo(f"\nPDF: {pdf_path}")
