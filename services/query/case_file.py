"""The case file (案卷) as a PDF: what an office archives when it closes a case (案卷归档).

Its summary, every step of its timeline (who, in which role, with which certificate, when it
happened and when it was recorded, what was done), the documents with their SHA-256, and the
hash chain and signed checkpoint that vouch for it. It is made from the same masked (or opened)
history as ``GET /cases/{id}/history`` gives the same reader, so it shows no personal data that
the JSON would not.

Chinese needs a CJK font embedded in the file (a reader's machine may have none): a subset of
it, only the glyphs used, so that a file weighs tens of kilobytes, not megabytes. fpdf2 embeds
and subsets TrueType and OpenType fonts (and picks one out of a .ttc collection).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF, FontFace
from fpdf.enums import TableCellFillMode

from events.hashing import GENESIS_HASH
from events.officers import Officer
from events.privacy import MASK
from events.suite import Suite
from services.query import wording
from services.query.exports import in_china
from services.query.vouching import Vouching

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # Debian: fonts-wqy-microhei
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # Debian: fonts-noto-cjk
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),  # Debian: fonts-wqy-zenhei
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),  # Fedora
)
"""Where a CJK font is found when ``CASETRAIL_PDF_FONT_FILE`` is not set, first one first."""
_SIGNATURE_NAMES = {Suite.INTERNATIONAL: "Ed25519", Suite.GUOMI: "SM2（SM3 摘要）"}


def font_file(configured: Path | None) -> Path | None:
    """The CJK font to embed: the configured one, else the first installed candidate."""
    if configured is not None:
        return configured if configured.is_file() else None
    return next((path for path in FONT_CANDIDATES if path.is_file()), None)


@dataclass(frozen=True)
class CaseFile:
    case: Mapping[str, Any]
    """``GET /cases/{id}``'s answer: the summary, deadlines, light and links."""
    steps: Sequence[Mapping[str, Any]]
    """The history as this reader may see it (masked or opened)."""
    masked: bool
    """Personal data is masked for this reader (``***``)."""
    chain_broken: Sequence[int]
    vouching: Vouching | None
    officers: Mapping[str, Officer]
    reader: str
    """Who asked for the file: the token's holder and role."""
    made_at: datetime


def moment(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return "-"
    return in_china(value).strftime("%Y-%m-%d %H:%M")


def officer_name(officers: Mapping[str, Officer], officer_id: str | None) -> str:
    if not officer_id:
        return "-"
    officer = officers.get(officer_id)
    return f"{officer.name}（{officer_id}）" if officer else officer_id


def yuan(fen: Any) -> str:
    return f"¥{Decimal(str(fen)) / 100:,.2f}"


def shown(field: Mapping[str, Any] | None, value: Any, officers: Mapping[str, Officer]) -> str:
    """One payload value as text, as the dashboard shows it (``fieldValue``)."""
    if value == MASK:
        return MASK
    kind = (field or {}).get("kind")
    if kind == "fen" and isinstance(value, int | float | str):
        return yuan(value)
    if kind == "enum" and isinstance(value, str):
        return wording.value((field or {}).get("enum"), value)
    if kind == "bool":
        return "是" if value else "否"
    if kind == "datetime":
        return moment(value)
    if kind == "clock" and isinstance(value, str):
        return wording.clock(value)
    if kind == "officer":
        ids = value if isinstance(value, list) else [value]
        return "、".join(officer_name(officers, str(i)) for i in ids)
    if kind == "object" and isinstance(value, Mapping):
        return "；".join(content(field.get("fields", {}) if field else {}, value, officers))
    if kind == "list" and isinstance(value, list):
        members = (field or {}).get("fields")
        if members:
            return " | ".join("；".join(content(members, item, officers)) for item in value)
        return "、".join(str(v) for v in value)
    if isinstance(value, Mapping | list):
        return str(value)
    return str(value)


def content(fields: Mapping[str, Any], payload: Any, officers: Mapping[str, Officer]) -> list[str]:
    """A payload as "label：value" lines, in the fields' order; an unknown field by its code."""
    if not isinstance(payload, Mapping):
        return [shown(None, payload, officers)] if payload not in (None, "") else []
    names = [*(k for k in fields if k in payload), *(k for k in payload if k not in fields)]
    lines = []
    for name in names:
        value = payload[name]
        if value is None or value == "" or value == []:
            continue
        field = fields.get(name)
        title = wording.chinese(field.get("title") if field else None, name)
        lines.append(f"{title}：{shown(field, value, officers)}")
    return lines


@dataclass(frozen=True)
class Document:
    version: int
    step: str
    title: str
    media_type: str
    sha256: str


def documents(steps: Sequence[Mapping[str, Any]]) -> list[Document]:
    """Every content hash of the case: each document attached, evidence item and report, with
    the title and media type recorded beside it."""
    found: list[Document] = []

    def walk(fields: Mapping[str, Any], value: Any, step: Mapping[str, Any], label: str) -> None:
        if isinstance(value, list):
            for item in value:
                walk(fields, item, step, label)
            return
        if not isinstance(value, Mapping):
            return
        for name, field in fields.items():
            member = value.get(name)
            if field.get("kind") == "hash" and isinstance(member, str):
                title = value.get("title")
                found.append(
                    Document(
                        step["version"],
                        wording.step(step["type"]),
                        str(title) if title else wording.chinese(field.get("title"), name),
                        str(value.get("media_type") or "-"),
                        member,
                    )
                )
            elif "fields" in field and member is not None:
                walk(field["fields"], member, step, label)

    for step in steps:
        walk(wording.fields(step["type"]), step["payload"], step, wording.step(step["type"]))
    return found


def link_kind(link: Mapping[str, Any]) -> str:
    """A link's kind as read from this case (one recorded on the other case reads back)."""
    incoming = link["direction"] == "incoming"
    return wording.value(
        "CaseLinkKindSeenFromTheOtherCase" if incoming else "CaseLinkKind", link["kind"]
    )


GREY = (238, 241, 245)
HEADINGS = FontFace(emphasis="", fill_color=GREY)


class _Pdf(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(size=7)
        self.set_text_color(110, 110, 110)
        self.cell(0, 5, f"{self.footer_text}    第 {self.page_no()} 页 / 共 {{nb}} 页", align="C")


def render(file: CaseFile, font: Path) -> bytes:
    """The case file as PDF bytes (A4 landscape: the timeline has many columns)."""
    case = file.case
    pdf = _Pdf(orientation="landscape", format="A4")
    pdf.footer_text = (
        f"CaseTrail 案卷 {case['case_id']} · 生成于 {moment(file.made_at)} · {file.reader}"
    )
    pdf.set_title(f"案卷 {case['case_id']}")
    pdf.set_author("CaseTrail")
    pdf.set_creator("CaseTrail query service")
    pdf.set_lang("zh-CN")
    pdf.add_font("cjk", fname=str(font))
    pdf.set_font("cjk", size=9)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font(size=13)
        pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(size=9)

    pdf.set_font(size=18)
    title = f"案卷  {wording.case_type(case['case_type'])}  {case['case_id']}"
    pdf.cell(0, 12, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(size=9)
    if file.masked:
        pdf.set_text_color(120, 60, 0)
        pdf.multi_cell(
            0,
            5,
            "个人信息已按本角色的权限遮蔽（显示为 ***）/ Personal data masked for this role",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_text_color(0, 0, 0)

    heading("一、案件概况")
    deadlines = "；".join(
        f"{wording.clock(d['clock'])} {d['due_day'] or '-'}（{wording.light(d['light'])}）"
        for d in case.get("deadlines", [])
    )
    every_link = case.get("links", [])
    links = "；".join(f"{link_kind(link)} {link['other_case_id']}" for link in every_link[:20])
    if len(every_link) > 20:
        links += f"……等 {len(every_link)} 个"
    summary = (
        ("案件编号", case["case_id"]),
        ("案件类型", wording.case_type(case["case_type"])),
        ("状态", wording.status(case["case_type"], case["status"])),
        ("承办部门", case["owner_department"]),
        ("承办人", officer_name(file.officers, case["assigned_officer"])),
        ("渠道", wording.channel(case["case_type"], case["channel"]) or "-"),
        ("登记时间", moment(case["opened_at"])),
        ("办结时间", moment(case["closed_at"]) if case["closed_at"] else "未办结"),
        ("当前版本", str(case["version"])),
        ("期限", deadlines or "无"),
        ("关联案件", links or "无"),
    )
    with pdf.table(col_widths=(30, 240), first_row_as_headings=False) as table:
        for label, value in summary:
            row = table.row()
            row.cell(label, style=HEADINGS)
            row.cell(value)

    heading(f"二、办理过程（共 {len(file.steps)} 步）")
    # Each step: a row of who and when, then what was done as running text below it, which
    # may run over pages (a table row may not, and a step's record can be long).
    widths = (10, 36, 44, 36, 36, 36, 36, 36)
    with pdf.table(col_widths=widths, headings_style=HEADINGS) as table:
        head = table.row()
        for text in ("#", "步骤", "办理人", "角色", "所属部门", "执法证", "发生时间", "记录时间"):
            head.cell(text)
    for step in file.steps:
        actor = step["actor"]
        lines = content(wording.fields(step["type"]), step["payload"], file.officers)
        vouched = step.get("vouched_by")
        if vouched:
            kind = "网关" if vouched.get("kind") == "gateway" else "部门密钥"
            lines.append(f"担保签名：{vouched.get('department')} · {kind} {vouched.get('key_id')}")
        lines.append(f"事件哈希：{step['hash']}")
        with pdf.table(
            col_widths=widths, first_row_as_headings=False, cell_fill_mode=TableCellFillMode.NONE
        ) as table:
            row = table.row()
            row.cell(str(step["version"]))
            row.cell(wording.step(step["type"]))
            row.cell(officer_name(file.officers, actor.get("officer_id")))
            row.cell(wording.role(str(actor.get("role"))))
            row.cell(str(actor.get("department") or "-"))
            row.cell(str(actor.get("certificate") or "-"))
            row.cell(moment(step["occurred_at"]))
            row.cell(moment(step["recorded_at"]))
        pdf.set_x(pdf.l_margin + widths[0])
        pdf.multi_cell(pdf.epw - widths[0], 4.5, "\n".join(lines), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)

    heading("三、材料与证据（SHA-256）")
    found = documents(file.steps)
    if not found:
        pdf.cell(0, 6, "无", new_x="LMARGIN", new_y="NEXT")
    else:
        with pdf.table(col_widths=(8, 30, 70, 40, 122), headings_style=HEADINGS) as table:
            head = table.row()
            for text in ("#", "步骤", "名称", "类型", "SHA-256"):
                head.cell(text)
            for doc in found:
                row = table.row()
                for text in (str(doc.version), doc.step, doc.title, doc.media_type, doc.sha256):
                    row.cell(text)

    heading("四、哈希链与签名检查点")
    first = file.steps[0]["prev_hash"] if file.steps else GENESIS_HASH
    last = file.steps[-1]["hash"] if file.steps else "-"
    chain = (
        "自洽：每个事件的哈希覆盖其内容，且链接前一事件"
        if not file.chain_broken
        else f"不一致：第 {', '.join(map(str, file.chain_broken))} 步被改动或损坏"
        "（请运行 casetrail verify）"
    )
    rows: list[tuple[str, str]] = [
        ("案件哈希链", f"{len(file.steps)} 个事件；{chain}"),
        ("起始 prev_hash", first),
        ("最后一个事件的哈希", last),
    ]
    vouching = file.vouching
    if vouching is not None:
        rows.append(
            (
                "日志位置",
                f"事件分区 {vouching.partition}，偏移 {vouching.offset}（本案最后一个事件）",
            )
        )
        checkpoint = vouching.checkpoint
        if checkpoint is not None:
            rows += [
                (
                    "签名检查点",
                    f"分区 {checkpoint.partition} 至偏移 {checkpoint.offset}，共 {checkpoint.count}"
                    f" 个事件，签署于 {moment(checkpoint.created_at)}",
                ),
                ("检查点链头", checkpoint.head),
                ("密码算法", checkpoint.log_suite.label),
                (
                    "签名密钥",
                    f"{checkpoint.key_id}（{_SIGNATURE_NAMES[checkpoint.log_suite]}，签名有效，"
                    "密钥在固定密钥环中）",
                ),
                ("签名", checkpoint.signature),
            ]
        else:
            rows.append(("签名检查点", vouching.problem or "-"))
    rows.append(
        (
            "说明",
            "哈希链据数据库中的审计记录核对；签名检查点证明该分区截至其偏移的日志为决策服务所写。"
            "完整核验（日志与审计记录逐条比对）请运行 casetrail verify。",
        )
    )
    with pdf.table(col_widths=(40, 230), first_row_as_headings=False) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label, style=HEADINGS)
            row.cell(value)
    return bytes(pdf.output())


def made_now() -> datetime:
    return datetime.now(UTC)
