"""The inspectors' alert workbench and the audit viewer: HTML built from data the API hands them.

Every value is escaped by :func:`web_map.security.text`; the only script is the workbench's own file under
``/static/workbench`` (the map), which reads its data from a JSON element, so the pages need no inline script.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from web_map.security import text

SEVERITY_ZH = {"prompt": "提示", "internal": "内部报警", "report": "报送纪委监委"}
STATE_ZH = {"new": "新预警", "assigned": "已分派", "verifying": "核查中", "confirmed": "属实", "unfounded": "不属实",
            "rectified": "已整改", "closed": "已办结"}
ACTION_ZH = {"assign": "分派核查", "start_verification": "开始核查", "confirm": "核实属实",
             "mark_unfounded": "核实不属实", "rectify": "整改完成", "close": "办结"}
RULE_ZH = {
    "AREA_INFLATED": "面积虚报", "NOT_AT_BASELINE": "征收前不存在", "NOT_DEMOLISHED": "已补偿未拆除",
    "OUTSIDE_SCOPE": "超出征收范围", "AMOUNT_MISMATCH": "金额计算不符", "OVERPAID": "超额支付",
    "ID_INVALID": "身份证号无效", "ID_NOT_FOUND": "户籍中查无此人", "NAME_MISMATCH": "姓名与户籍不符",
    "DECEASED": "已死亡人员", "MOVED_OUT": "已迁出人员", "NON_VILLAGER": "非本村村民",
    "MOVED_IN_AFTER_FREEZE": "冻结后迁入", "SPLIT_AFTER_FREEZE": "冻结后分户", "HOMESTEAD_AFTER_FREEZE": "冻结后审批宅基地",
    "DUPLICATE_BUILDING": "同一房屋重复申报", "DUPLICATE_PERSON": "同一人多户申报", "PAYEE_NOT_MEMBER": "收款人非本户成员",
    "STAFF_CONFLICT": "工作人员利益冲突", "PHOTO_FAR_FROM_PARCEL": "照片远离宗地", "STAGE_OVERDUE": "环节超时",
    "STAGE_OVERDUE_ESCALATED": "环节严重超时", "PUBLIC_COMPLAINT": "群众举报"}
SUBJECT_ZH = {"building": "房屋", "claim": "补偿项", "person": "人员", "household": "户", "payment": "支付",
              "parcel": "宗地", "photo": "照片"}
AUDIT_ACTION_ZH = {"auth.login": "登录", "auth.logout": "退出", "audit.checkpoint": "审计校验点",
                   "alert.evidence_pack": "生成证据包", "orthophoto.ingest": "影像入库",
                   **{f"alert.{k}": f"预警·{v}" for k, v in ACTION_ZH.items()}}

#: Chinese labels of the evidence keys the models write (others are shown by their key).
EVIDENCE_ZH: dict[str, str] = {
    "claimed_floor_area_m2": "核定建筑面积", "expected_floor_area_m2": "按轮廓推算建筑面积",
    "outline_area_m2": "申报轮廓面积", "baseline_area_m2": "征收前实测轮廓面积", "after_area_m2": "征收后实测轮廓面积",
    "baseline_coverage": "征收前轮廓覆盖率", "after_coverage": "征收后轮廓覆盖率",
    "baseline_footprints": "征收前轮廓数", "after_footprints": "征收后轮廓数",
    "baseline_source": "征收前轮廓来源", "after_source": "征收后轮廓来源",
    "baseline_measured": "征收前可量测", "after_measured": "征收后可量测",
    "baseline_confidence": "征收前轮廓置信度", "after_confidence": "征收后轮廓置信度",
    "baseline_pixel_size_m": "征收前影像分辨率", "min_footprint_confidence": "采用轮廓的最低置信度",
    "imagery_flights": "影像航次", "storeys_used": "采用层数", "storeys_source": "层数来源",
    "storeys_claimed": "申报层数", "storeys_from_height": "按高度推算层数", "height_m": "实测高度",
    "tolerance_m2": "限差", "tolerance": "限差依据", "discrepancy_m2": "多报面积", "discrepancy_pct": "多报比例",
    "excess_over_tolerance_m2": "超出限差面积", "preset": "精度等级", "formula": "公式", "standard": "标准",
    "a": "系数 a", "b": "系数 b", "k": "系数 k", "resolution_k": "分辨率系数 k",
    "parcel_code": "宗地代码", "building_no": "幢号", "household_no": "户号", "claim_id": "补偿项编号",
    "payment_id": "支付编号", "payments": "支付记录", "photo_id": "照片编号",
    "quantity": "数量", "unit": "单位", "unit_price_yuan": "单价", "amount_yuan": "金额",
    "computed_yuan": "数量×单价", "difference_yuan": "差额", "max_difference_yuan": "允许差额",
    "item_kind": "补偿类别", "paid_yuan": "已支付", "claimed_yuan": "核定补偿合计", "excess_yuan": "超付金额",
    "max_excess_yuan": "允许超付", "id_number": "身份证号", "name": "姓名", "names": "姓名",
    "claimant_id_number": "申报人身份证号", "claimant_name": "申报人姓名", "payee_id_number": "收款人身份证号",
    "payee_name": "收款人姓名", "registry": "户籍记录", "registry_rows": "户籍记录", "status": "户籍状态",
    "status_date": "状态日期", "moved_in_on": "迁入日期", "split_from_household_no": "分户前户号",
    "split_on": "分户日期", "village_code": "村代码", "village_name": "村名", "registry_village_code": "户籍所在村",
    "parcel_village_code": "宗地所在村", "birth_date": "出生日期", "gender": "性别", "relation_to_head": "与户主关系",
    "registered_on": "登记日期", "paid_on": "支付日期", "freeze_date": "冻结日期（预公告日）",
    "pre_announcement_date": "冻结日期（预公告日）", "approved_on": "审批日期", "approval_no": "审批编号",
    "distance_m": "距离", "max_distance_m": "允许距离", "taken_at": "拍摄时间", "lon": "经度", "lat": "纬度",
    "inside_fraction": "范围内比例", "inside_area_m2": "范围内面积", "area_m2": "面积", "min_inside_fraction": "要求范围内比例",
    "households": "涉及户", "staff": "工作人员", "username": "工号", "role": "角色", "reason": "原因",
    "comparisons": "姓名比对", "given": "申报姓名", "source": "来源", "stage": "环节", "due_on": "时限",
    "days_overdue": "超时天数", "check_reason": "校验结果", "change_fraction": "两期变化比例", "flight": "航次",
    "captured_on": "拍摄日期", "phase": "时相", "confidence": "置信度", "extract_id": "户籍批次",
}
_VALUE_ZH = {"survey": "实测轮廓", "imagery": "影像提取", "claimed": "申报", "height": "按高度推算",
             "baseline": "征收前", "after": "征收后", "active": "正常", "deceased": "死亡", "moved_out": "迁出",
             "building": "房屋", "land": "土地", "attachment": "附属物", "crop": "青苗", "business_loss": "停产停业",
             "m2": "平方米", "mu": "亩", "item": "项", "M": "男", "F": "女"}


def _unit(key: str) -> str:
    if key.endswith("_m2"):
        return " ㎡"
    if key.endswith("_yuan"):
        return " 元"
    if key.endswith("_pct"):
        return " %"
    if key.endswith("_m"):
        return " 米"
    return ""


def format_value(key: str, value: Any) -> str:
    """One evidence value as an inspector reads it: units from the key, coverages as percentages, 是/否."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float, Decimal)):
        if key.endswith(("coverage", "fraction")) and 0 <= float(value) <= 1.5:
            return f"{float(value) * 100:.1f} %"
        if isinstance(value, int) and not key.endswith(("_m2", "_yuan")):
            return f"{value}{_unit(key)}"
        if not _unit(key) and not float(value).is_integer():
            return f"{float(value):.6g}"                      # coefficients, confidences: no rounding to 0.01
        return f"{float(value):,.2f}{_unit(key)}"
    if isinstance(value, str):
        return _VALUE_ZH.get(value, value)
    return json.dumps(value, ensure_ascii=False, default=str)


def label(key: str) -> str:
    """The Chinese label of an evidence key (the key itself when the models wrote one not listed)."""
    return EVIDENCE_ZH.get(key, key)


#: The figures an inspector reads first, in this order; the rest follow as the models wrote them.
FIRST_KEYS = ("claimed_floor_area_m2", "expected_floor_area_m2", "outline_area_m2", "baseline_area_m2",
              "baseline_coverage", "storeys_claimed", "storeys_used", "storeys_source", "storeys_from_height",
              "height_m", "tolerance_m2", "discrepancy_m2", "discrepancy_pct", "excess_over_tolerance_m2",
              "after_area_m2", "after_coverage", "quantity", "unit_price_yuan", "computed_yuan", "amount_yuan",
              "difference_yuan", "paid_yuan", "claimed_yuan", "excess_yuan", "distance_m")


def _ordered(evidence: Mapping[str, Any]) -> list[tuple[str, Any]]:
    rank = {k: n for n, k in enumerate(FIRST_KEYS)}
    return sorted(evidence.items(), key=lambda kv: (rank.get(kv[0], len(rank)), isinstance(kv[1], Mapping)))


def evidence_rows(evidence: Mapping[str, Any] | None, prefix: str = "") -> list[tuple[str, str]]:
    """Flat (label, value) rows of an evidence object; nested objects become ``限差依据·公式`` rows, lists of
    scalars one row, lists of objects are left to :func:`evidence_tables`."""
    rows: list[tuple[str, str]] = []
    for key, value in _ordered(evidence or {}):
        name = f"{prefix}{label(key)}"
        if isinstance(value, Mapping):
            rows.extend(evidence_rows(value, prefix=f"{name}·"))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            continue
        elif isinstance(value, list):
            rows.append((name, "、".join(format_value(key, v) for v in value) or "无"))
        else:
            rows.append((name, format_value(key, value)))
    return rows


def evidence_tables(evidence: Mapping[str, Any] | None) -> list[tuple[str, list[str], list[list[str]]]]:
    """The lists of objects in an evidence object (registry rows, staff, comparisons) as (title, header, rows)."""
    out = []
    for key, value in (evidence or {}).items():
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            keys: list[str] = []
            for item in value:
                keys.extend(k for k in item if k not in keys)
            out.append((label(key), [label(k) for k in keys],
                        [[format_value(k, item.get(k)) for k in keys] for item in value]))
    return out


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        from zoneinfo import ZoneInfo

        return value.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


STYLE = """
* { box-sizing: border-box; }
body { margin: 0; font: 14px "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; color: #222; }
header { background: #263238; color: #fff; padding: 8px 14px; display: flex; gap: 18px; align-items: center; }
header a { color: #b3e5fc; }
header h1 { font-size: 17px; margin: 0; }
#wb { display: grid; grid-template-columns: 330px 1fr 430px; height: calc(100vh - 42px); }
#list, #detail { overflow-y: auto; padding: 8px 10px; border-right: 1px solid #ccc; }
#detail { border-left: 1px solid #ccc; border-right: 0; }
#wbmap { height: 100%; }
form.filters label { display: block; margin: 3px 0; }
form.filters select { width: 190px; }
ul.alerts { list-style: none; padding: 0; margin: 6px 0; }
ul.alerts li { border-bottom: 1px solid #e0e0e0; padding: 5px 3px; }
ul.alerts li.chosen { background: #fff3e0; }
ul.alerts a { color: #222; text-decoration: none; display: block; }
.sev { display: inline-block; padding: 0 5px; border-radius: 3px; color: #fff; font-size: 12px; }
.sev-prompt { background: #f9a825; } .sev-internal { background: #ef6c00; } .sev-report { background: #c62828; }
table.kv, table.grid { border-collapse: collapse; width: 100%; margin: 4px 0 10px; }
table.kv th, table.kv td, table.grid th, table.grid td { border: 1px solid #ddd; padding: 3px 6px; text-align: left;
  vertical-align: top; font-size: 13px; }
table.kv th { width: 45%; background: #fafafa; font-weight: normal; color: #555; }
table.grid th { background: #eceff1; }
.chips { display: flex; gap: 6px; } .chips figure { margin: 0; flex: 1; }
.chips img { width: 100%; border: 1px solid #999; } .chips figcaption { font-size: 12px; color: #555; }
h2 { font-size: 16px; margin: 8px 0; } h3 { font-size: 14px; margin: 12px 0 4px; color: #37474f; }
.err { color: #c62828; } .ok { color: #2e7d32; } .muted { color: #777; }
.step textarea { width: 100%; height: 60px; } .step label { display: block; margin: 4px 0; }
.pager a { margin-right: 10px; }
#audit { padding: 10px 16px; }
#history td:nth-child(3), #history td:nth-child(4), #history td:nth-child(6) { white-space: nowrap; }
"""


#: The list filters a step keeps when it sends the user back to the workbench.
FILTER_KEYS = ("rule", "severity", "state", "village")


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _pending(n: int) -> str:
    return f"（另有 {n} 条待入链）" if n else ""


def _options(name: str, values: Sequence[tuple[str, str]], chosen: str | None) -> str:
    opts = ['<option value="">全部</option>'] + [
        f'<option value="{text(v)}"{" selected" if v == chosen else ""}>{text(z)}</option>' for v, z in values]
    return f'<select name="{name}" id="f-{name}">{"".join(opts)}</select>'


def _head(title: str) -> str:
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{text(title)}</title>'
            '<link rel="stylesheet" href="/static/leaflet/leaflet.css">'
            f"<style>{STYLE}</style></head><body>")


def _header(user: Any, project: Mapping[str, Any] | None, role_zh: str) -> str:
    links = []
    if project is not None:
        code = text(project["code"])
        links.append(f'<h1>预警工作台 · {text(project["name"])}（{code}）</h1>')
        links.append(f'<a href="/map/{code}">项目地图</a>')
    else:
        links.append("<h1>审计日志</h1>")
    links.append('<a href="/audit">审计日志</a>')
    links.append(f'<span>{text(user.name)}（{text(role_zh)}） · <a href="/logout">退出</a></span>')
    return f"<header>{''.join(links)}</header>"


def workbench_page(*, user: Any, role_zh: str, project: Mapping[str, Any], alerts: Sequence[Mapping[str, Any]],
                   filters: Mapping[str, str | None], villages: Sequence[tuple[str, str]],
                   rules: Sequence[str], statistics: Sequence[Mapping[str, Any]] | None,
                   detail: str, map_data: Mapping[str, Any]) -> str:
    """The workbench: filters and alert list, the map, the chosen alert's detail (``detail``, HTML)."""
    query = {k: v for k, v in filters.items() if v}
    items = []
    for a in alerts:
        link = "?" + urlencode({**query, "alert": a["id"]})
        chosen = " chosen" if str(a["id"]) == str(filters.get("alert") or "") else ""
        items.append(
            f'<li class="alert-item{chosen}" data-id="{a["id"]}"><a href="{text(link)}">'
            f'<span class="sev sev-{text(a["severity"])}">{text(SEVERITY_ZH.get(a["severity"], a["severity"]))}</span> '
            f'<b>{text(RULE_ZH.get(a["rule_code"], a["rule_code"]))}</b> <span class="muted">{text(a["rule_code"])}</span><br>'
            f'{text(SUBJECT_ZH.get(a["subject_type"], a["subject_type"]))} {text(a["subject_key"])} · '
            f'{text(STATE_ZH.get(a["state"], a["state"]))}{"" if a.get("firing", True) else "（已不触发）"}</a></li>')
    form = (
        '<form class="filters" method="get" id="filters">'
        f'<label>规则 {_options("rule", [(r, f"{RULE_ZH.get(r, r)} {r}") for r in rules], filters.get("rule"))}</label>'
        f'<label>级别 {_options("severity", list(SEVERITY_ZH.items()), filters.get("severity"))}</label>'
        f'<label>状态 {_options("state", list(STATE_ZH.items()), filters.get("state"))}</label>'
        f'<label>村 {_options("village", list(villages), filters.get("village"))}</label>'
        '<button type="submit">筛选</button></form>')
    stats = ""
    if statistics is not None:
        rows = "".join(
            f'<tr><td>{text(RULE_ZH.get(s["rule_code"], s["rule_code"]))}</td><td>{s["alerts"]}</td>'
            f'<td>{s["confirmed"]}</td><td>{s["unfounded"]}</td>'
            f'<td>{_rate(s["hit_rate"])}</td></tr>' for s in statistics)
        stats = ('<h3>查实率（按规则）</h3><table class="grid" id="hit-rates"><tr><th>规则</th><th>预警</th>'
                 f'<th>属实</th><th>不属实</th><th>查实率</th></tr>{rows}</table>')
    body = (f'{_header(user, project, role_zh)}<div id="wb"><section id="list">{form}'
            f'<p class="muted" id="alert-count">共 {len(alerts)} 条预警</p><ul class="alerts">{"".join(items)}</ul>'
            f'{stats}</section><div id="wbmap"></div><section id="detail">{detail}</section></div>'
            f'<script type="application/json" id="wb-data">{_json_for_html(map_data)}</script>'
            '<script src="/static/leaflet/leaflet.js"></script>'
            '<script src="/static/workbench/workbench.js"></script></body></html>')
    return _head(f"预警工作台 · {project['code']}") + body


def _json_for_html(data: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element (no ``</script>``, no ``<!--``)."""
    return (json.dumps(data, ensure_ascii=False, default=str)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _kv(rows: Sequence[tuple[str, str]], table_id: str = "") -> str:
    ident = f' id="{table_id}"' if table_id else ""
    return (f'<table class="kv"{ident}>' + "".join(f"<tr><th>{text(k)}</th><td>{text(v)}</td></tr>" for k, v in rows)
            + "</table>")


def _grid(header: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str = "") -> str:
    ident = f' id="{table_id}"' if table_id else ""
    head = "".join(f"<th>{text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{text(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="grid"{ident}><tr>{head}</tr>{body}</table>'


def detail_panel(*, alert: Mapping[str, Any], flights: Mapping[str, Mapping[str, Any] | None],
                 links: Sequence[tuple[str, str]], captures: Sequence[Mapping[str, Any]],
                 steps: Sequence[tuple[str, str]], refusals: Sequence[str], assignees: Sequence[tuple[str, str]],
                 csrf: str, message: str = "", error: str = "", filters: Mapping[str, str | None] | None = None) -> str:
    """The chosen alert: summary, evidence rows and tables, chips, documents and captures, next step, history."""
    aid = alert["id"]
    summary = [("预警编号", str(aid)), ("规则", f"{RULE_ZH.get(alert['rule_code'], alert['rule_code'])}（{alert['rule_code']}）"),
               ("级别", SEVERITY_ZH.get(alert["severity"], alert["severity"])),
               ("对象", f"{SUBJECT_ZH.get(alert['subject_type'], alert['subject_type'])} {alert['subject_key']}"),
               ("状态", STATE_ZH.get(alert["state"], alert["state"])), ("核查人", alert.get("assignee") or "未分派"),
               ("首次发现", _when(alert.get("first_seen_at"))), ("最近一次检查", _when(alert.get("last_seen_at"))),
               ("已追回金额", format_value("amount_yuan", alert.get("amount_recovered_yuan") or 0))]
    parts = [f'<h2 id="alert-title">预警 {aid}：{text(RULE_ZH.get(alert["rule_code"], alert["rule_code"]))}</h2>']
    if message:
        parts.append(f'<p class="ok" id="step-message">{text(message)}</p>')
    if error:
        parts.append(f'<p class="err" id="step-error">{text(error)}</p>')
    parts.append(f'<p id="alert-message">{text(alert["message"])}</p>')
    parts.append(_kv(summary, "alert-summary"))
    parts.append("<h3>证据</h3>" + _kv(evidence_rows(alert.get("evidence")), "evidence"))
    for title, header, rows in evidence_tables(alert.get("evidence")):
        parts.append(f"<h3>{text(title)}</h3>" + _grid(header, rows))
    figures = []
    for phase, zh in (("baseline", "征收前"), ("after", "征收后")):
        flight = flights.get(phase)
        caption = f"{zh}影像 {flight['captured_on']}" if flight else f"{zh}：无影像"
        figures.append(f'<figure><img class="chip" id="chip-{phase}" alt="{text(caption)}" '
                       f'src="/alerts/{aid}/chips/{phase}.png"><figcaption>{text(caption)}</figcaption></figure>')
    parts.append('<h3>影像对比（红：申报轮廓；黄：该期实测轮廓）</h3><div class="chips">' + "".join(figures) + "</div>")
    doc_links = "".join(f'<li><a href="{text(href)}">{text(name)}</a></li>' for name, href in links)
    parts.append(f'<h3>案卷材料</h3><ul id="documents">{doc_links or "<li>无</li>"}</ul>')
    if captures:
        parts.append(_grid(["环节", "材料", "文件", "拍摄时间"],
                           [[c["stage_code"], c["item_code"], c["file_name"] or c["sha256"][:12], _when(c["taken_at"])]
                            for c in captures], "captures"))
    parts.append(f'<h3>下一步</h3>{_step_form(aid, steps, refusals, assignees, csrf, filters or {})}')
    history = alert.get("history") or []
    parts.append("<h3>处置记录</h3>" + _grid(
        ["时间", "办理人", "从", "到", "意见", "日期"],
        [[_when(h["created_at"]), f"{h.get('name') or ''}（{h.get('username') or ''}）",
          STATE_ZH.get(h["from_state"], h["from_state"] or ""), STATE_ZH.get(h["to_state"], h["to_state"]),
          (h.get("opinion") or "") + "".join(f"（附件：{a.get('file_name') or a.get('sha256', '')[:12]}）"
                                             for a in (h.get("attachments") or []) if isinstance(a, dict)),
          str(h["acted_on"])] for h in history], "history") if history
        else '<h3>处置记录</h3><p id="history" class="muted">暂无处置记录</p>')
    parts.append(f'<p><a id="evidence-pack" href="/alerts/{aid}/evidence-pack.pdf">下载证据包（PDF）</a> · '
                 f'<a href="/audit?subject={aid}&amp;object_type=alert">该预警的审计日志</a></p>')
    return "".join(parts)


def _step_form(aid: int, steps: Sequence[tuple[str, str]], refusals: Sequence[str],
               assignees: Sequence[tuple[str, str]], csrf: str, filters: Mapping[str, str | None]) -> str:
    if not steps:
        why = "".join(f"<li>{text(r)}</li>" for r in refusals) or "<li>该预警已办结</li>"
        return f'<div id="no-step" class="muted">您不能对该预警执行下一步：<ul>{why}</ul></div>'
    radios = "".join(f'<label><input type="radio" name="action" value="{text(a)}"{" checked" if n == 0 else ""}> '
                     f"{text(zh)}</label>" for n, (a, zh) in enumerate(steps))
    extra = ""
    if any(a == "assign" for a, _ in steps):
        extra += f'<label>核查人 <select name="assignee">{"".join(f"<option value={chr(34)}{text(u)}{chr(34)}>{text(z)}</option>" for u, z in assignees)}</select></label>'
    if any(a == "rectify" for a, _ in steps):
        extra += '<label>追回金额（元） <input name="amount_recovered_yuan" inputmode="decimal"></label>'
    if any(a in ("confirm", "mark_unfounded", "rectify") for a, _ in steps):
        extra += '<label>附件（PNG、JPEG 或 PDF） <input type="file" name="attachment" accept=".png,.jpg,.jpeg,.pdf"></label>'
    return (f'<form class="step" id="step-form" method="post" enctype="multipart/form-data" '
            f'action="/workbench/alerts/{aid}/actions">'
            f'<input type="hidden" name="csrf" value="{text(csrf)}">'
            + "".join(f'<input type="hidden" name="f_{k}" value="{text(v)}">' for k, v in filters.items()
                      if v and k in FILTER_KEYS)
            + f'{radios}{extra}'
            '<label>意见 <textarea name="opinion" required maxlength="4000"></textarea></label>'
            '<label>日期 <input type="date" name="acted_on"></label>'
            '<button type="submit">提交</button></form>')


def audit_page(*, user: Any, role_zh: str, events: Sequence[Mapping[str, Any]], filters: Mapping[str, str | None],
               page: int, has_next: bool, total: int, chain: Mapping[str, Any],
               checkpoint: Mapping[str, Any] | None) -> str:
    """The audit viewer: filters, the chain's verification state, the day's checkpoint, a page of events."""
    query = {k: v for k, v in filters.items() if v}
    if chain["intact"]:
        state = (f'<p class="ok" id="chain-state">审计链校验通过：共 {chain["events"]} 条事件，哈希链完整'
                 f'{_pending(chain["pending"])}；'
                 f'最新哈希 {text(chain["head"][:16])}…</p>')
    else:
        breaks = "".join(f"<li>{text(b)}</li>" for b in chain["breaks"][:10])
        state = f'<div class="err" id="chain-state">审计链校验失败：<ul>{breaks}</ul></div>'
    if checkpoint:
        cp = (f'<p id="checkpoint">校验点 {text(checkpoint["day"])}：截至第 {checkpoint["pos"]} 条，'
              f'哈希 {text(checkpoint["hash"][:16])}…，由 {text(checkpoint["created_by"])} 于 '
              f'{text(_when(checkpoint["created_at"]))} 生成'
              f'{"" if checkpoint["matches"] else "，<b class=err>与当前审计链不符</b>"}</p>')
    else:
        cp = '<p id="checkpoint" class="muted">该日尚无校验点（命令 expro audit checkpoint 生成）</p>'
    form = ('<form class="filters" method="get" id="audit-filters" style="display:flex;gap:12px;flex-wrap:wrap">'
            f'<label>操作人 <input name="actor" value="{text(filters.get("actor") or "")}"></label>'
            f'<label>动作 <input name="action" value="{text(filters.get("action") or "")}" placeholder="如 alert."></label>'
            f'<label>对象 <input name="subject" value="{text(filters.get("subject") or "")}" placeholder="编号或户号"></label>'
            f'<label>起 <input type="date" name="date_from" value="{text(filters.get("date_from") or "")}"></label>'
            f'<label>止 <input type="date" name="date_to" value="{text(filters.get("date_to") or "")}"></label>'
            '<button type="submit">筛选</button></form>')
    rows = []
    for e in events:
        details = e.get("details") or {}
        what = "；".join(f"{k}: {v}" for k, v in details.items() if v not in (None, "", [], {}) and k != "opinion")
        rows.append([str(e["seq"]), _when(e["recorded_at"]), e["actor"], AUDIT_ACTION_ZH.get(e["action"], e["action"]),
                     f"{e['object_type'] or ''} {e['object_key'] or ''}".strip(), e.get("opinion") or details.get("opinion") or "",
                     what, "已入链" if e["chained"] else "待入链"])
    pager = []
    if page > 1:
        pager.append(f'<a id="prev" href="?{text(urlencode({**query, "page": page - 1}))}">上一页</a>')
    pager.append(f"第 {page} 页 · 符合条件 {total} 条")
    if has_next:
        pager.append(f'<a id="next" href="?{text(urlencode({**query, "page": page + 1}))}">下一页</a>')
    body = (f'{_header(user, None, role_zh)}<div id="audit">{state}{cp}{form}'
            + _grid(["序号", "时间（北京时间）", "操作人", "动作", "对象", "意见", "内容", "链"], rows, "audit-events")
            + f'<p class="pager">{"".join(pager)}</p></div></body></html>')
    return _head("审计日志 · Expro") + body


def message_page(title: str, message: str) -> str:
    """A short page with a message (refusals of the pages)."""
    return _head(title) + f'<div id="audit"><h2>{text(title)}</h2><p class="err" id="refusal">{text(message)}</p>' \
        '<p><a href="/map">返回</a></p></div></body></html>'
