"""The payload of every step: what a department submits and what the event records.

A step's submission and its event carry the same payload model. Every field has a description
(Chinese, then English) and an example, because departments publishing with any Kafka client
read them in the published JSON Schemas. Personal data is typed ``PersonalData``; money is in
integer fen (分), so that canonical JSON (and so every hash) never holds a float.
"""

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints, model_validator

from events.model import Frozen, PersonalData
from events.titles import titled

Sha256 = str


def about(text: str, example: Any, **constraints: Any) -> Any:
    """A field with its bilingual description and an example."""
    return Field(description=text, examples=[example], **constraints)


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
"""Required text: blank (whitespace only) is missing, not given."""
SHA256 = {"pattern": r"^[0-9a-f]{64}$"}
MAX_FEN = 10**15
"""The largest amount a step may name: ten trillion yuan, far above any real one and far below
what the read models' 64-bit columns hold (a larger one would stop a projection)."""


class Person(Frozen):
    """A natural person (complainant, petitioner, party): every field is personal data."""

    name: PersonalData = about("姓名 / Name", "张三")
    id_number: PersonalData | None = about(
        "身份证号 / ID number", "442000199001011234", default=None
    )
    phone: PersonalData | None = about("电话 / Phone", "13800000000", default=None)
    address: PersonalData | None = about("地址 / Address", "大涌镇南文村", default=None)


# --- shared steps --------------------------------------------------------------------------


class Note(Frozen):
    note: str = about("说明 / Note", "符合受理条件", default="", max_length=4000)


class Transfer(Frozen):
    to_department: Text = about("接收部门 / Receiving department", "综合行政执法办")
    reason: Text = about("转办理由 / Why it is transferred", "属该部门职责范围")


class Extension(Frozen):
    clock: str = about("延长的时限 / Which deadline", "petition.handling", min_length=1)
    days: int = about("延长天数 / Days (in the deadline's unit)", 30, ge=1, le=365)
    reason: Text = about("延期理由 / Why", "情况复杂，经负责人批准")


class Reason(Frozen):
    reason: Text = about("理由 / Reason", "当事人申请中止")


class SupervisionNote(Frozen):
    note: Text = about("督办意见 / Supervision note", "请于5个工作日内报送办理进展")
    respond_by: date | None = about("反馈期限 / Respond by", "2020-10-20", default=None)


class Document(Frozen):
    title: Text = about("材料名称 / Title", "现场检查笔录")
    content_hash: Sha256 = about(
        "内容SHA-256 / SHA-256 of the content",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        **SHA256,
    )
    media_type: str = about(
        "文件类型 / Media type", "application/pdf", min_length=1, max_length=100
    )


class DeadlineSignal(Frozen):
    clock: str = about("时限 / Deadline", "petition.handling", min_length=1)


# --- complaints (投诉举报) -------------------------------------------------------------------


class ComplaintChannel(StrEnum):
    PHONE = "phone"
    HOTLINE_12345 = "hotline_12345"
    ONLINE = "online"
    LETTER = "letter"
    VISIT = "visit"


titled(
    ComplaintChannel,
    {
        ComplaintChannel.PHONE: "电话 / Phone",
        ComplaintChannel.HOTLINE_12345: "12345热线 / 12345 hotline",
        ComplaintChannel.ONLINE: "网上 / Online",
        ComplaintChannel.LETTER: "来信 / Letter",
        ComplaintChannel.VISIT: "来访 / Visit",
    },
)


class ComplaintRegistered(Frozen):
    channel: ComplaintChannel = about("渠道 / Channel", "hotline_12345")
    subject: Text = about("投诉内容 / What is complained about", "餐馆油烟扰民")
    complainant: Person = about("投诉人 / Complainant", {"name": "王五"})
    respondent: str | None = about(
        "被投诉单位 / The unit complained about", "某餐饮店", default=None, max_length=200
    )


class NotAccepted(Frozen):
    reason: Text = about("不予受理理由 / Why it is not accepted", "不属于本机关职责范围")


class Assignment(Frozen):
    department: Text = about("承办部门 / Handling department", "市场监管分局")
    officer_id: str | None = about("承办人 / Assigned officer", "DY-SC-07", default=None)
    note: str = about("交办意见 / Note", "请核实后答复", default="", max_length=4000)


class Investigation(Frozen):
    findings: Text = about("核查情况 / Findings", "经现场核查，情况属实")


class Reply(Frozen):
    reply: Text = about("答复内容 / Reply to the complainant", "已责令整改并复查")
    method: str = about("答复方式 / How it was given", "phone", min_length=1, max_length=50)


# --- petitions (信访) ------------------------------------------------------------------------


class PetitionChannel(StrEnum):
    LETTER = "letter"
    VISIT = "visit"
    ONLINE = "online"
    PHONE = "phone"


titled(
    PetitionChannel,
    {
        PetitionChannel.LETTER: "来信 / Letter",
        PetitionChannel.VISIT: "来访 / Visit",
        PetitionChannel.ONLINE: "网上信访 / Online",
        PetitionChannel.PHONE: "电话 / Phone",
    },
)


class PetitionRegistered(Frozen):
    channel: PetitionChannel = about("信访渠道 / Channel", "visit")
    persons: int = about("人次 / Number of persons", 3, ge=1, le=10_000)
    summary: Text = about("诉求摘要 / What is asked", "厂房噪音扰民，要求整改")
    petitioners: tuple[Person, ...] = about("信访人 / Petitioners", [{"name": "李四"}], default=())
    respondent: str | None = about(
        "被反映单位 / The unit the petition is about", "某村委会", default=None, max_length=200
    )


class Handling(Frozen):
    record: Text = about("办理情况 / What was done", "召集双方现场协调")


class Opinion(Frozen):
    opinion: Text = about("处理意见 / Written opinion", "诉求合理，责成整改")


class ReviewOutcome(StrEnum):
    UPHELD = "upheld"
    REVISED = "revised"


titled(
    ReviewOutcome,
    {ReviewOutcome.UPHELD: "维持 / Upheld", ReviewOutcome.REVISED: "撤销或变更 / Revised"},
)


class ReviewDecision(Frozen):
    outcome: ReviewOutcome = about("复查结论 / Outcome", "upheld")
    opinion: Text = about("复查意见 / Review opinion", "维持原处理意见")


# --- mediations (人民调解) -------------------------------------------------------------------


class MediationAccepted(Frozen):
    dispute: Text = about("纠纷概况 / The dispute", "厂房租赁合同纠纷")
    parties: tuple[Person, ...] = about(
        "当事人 / Parties", [{"name": "甲"}, {"name": "乙"}], min_length=2
    )
    amount_in_dispute_fen: int = about(
        "争议金额（分）/ Amount in dispute, fen", 12_000_000, ge=0, le=MAX_FEN
    )


class MediatorAssigned(Frozen):
    mediator_id: str = about("调解员 / Mediator", "DY-TJ-02", min_length=1, max_length=64)


class Session(Frozen):
    notes: Text = about("调解记录 / Session notes", "双方陈述意见")


class Agreement(Frozen):
    amount_fen: int = about("协议金额（分）/ Agreed amount, fen", 10_000_000, ge=0, le=MAX_FEN)
    terms: Text = about("协议内容 / Terms", "乙方分两期支付租金")


class MediationFailed(Frozen):
    reason: Text = about("调解不成原因 / Why it failed", "双方分歧较大")
    remedies_told: Text = about(
        "告知的其他救济途径 / Other remedies the parties were told of", "可向法院起诉"
    )


class JudicialConfirmation(Frozen):
    court: Text = about("法院 / Court", "中山市第二人民法院")
    ruling_number: Text = about("裁定书号 / Ruling number", "(2020)粤2072民特123号")


class FollowUp(Frozen):
    performed: bool = about("是否履行 / Whether the agreement was performed", True)
    notes: str = about("回访情况 / Notes", "已按期履行", default="", max_length=4000)


# --- enforcement (行政执法) ------------------------------------------------------------------


class Party(Frozen):
    """The party of an enforcement case: a person, or an organisation with its person in charge."""

    name: PersonalData = about("当事人名称 / Name", "某五金厂")
    is_organisation: bool = about("是否单位 / Organisation?", True, default=False)
    id_number: PersonalData | None = about(
        "证件号 / ID or credit code", "91442000MA4UXXXX", default=None
    )
    address: PersonalData | None = about("地址 / Address", "大涌镇工业区", default=None)


class SourceRegistered(Frozen):
    source: Text = about("案源 / Where the lead came from", "日常巡查")
    summary: Text = about("案情摘要 / Summary", "未经许可擅自经营")
    party: Party = about("当事人 / Party", {"name": "某五金厂", "is_organisation": True})


class Filing(Frozen):
    case_number: Text = about("案号 / Case number", "大涌执法立〔2020〕15号")
    cause: Text = about("案由 / Cause", "涉嫌无证经营")


class EvidenceItem(Frozen):
    title: Text = about("证据名称 / Title", "现场照片")
    content_hash: Sha256 = about(
        "内容SHA-256 / SHA-256 of the content",
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        **SHA256,
    )
    media_type: str = about("文件类型 / Media type", "image/jpeg", min_length=1, max_length=100)


class OfficerOnDuty(Frozen):
    """An enforcement officer present at an investigative act, with the certificate shown."""

    officer_id: str = about("执法人员 / Officer", "DY-ZF-06", min_length=1, max_length=64)
    certificate: str = about(
        "出示的执法证号 / Number of the enforcement certificate shown (亮证)",
        "44200120190006",
        min_length=1,
        max_length=64,
    )


def other_officers() -> Any:
    # Empty by default so that events recorded before the rule still read; the decider
    # requires one for every new investigative act (行政处罚法 第四十二条).
    return about(
        "其他执法人员（与办理人合计不少于两人） / The other officers present besides the one who"
        " records the step (at least two in all)",
        [{"officer_id": "DY-ZF-06", "certificate": "44200120190006"}],
        default=(),
        max_length=20,
    )


class Evidence(Frozen):
    """Version 2: the other officers present (version 1 had none)."""

    items: tuple[EvidenceItem, ...] = about(
        "证据 / Evidence items",
        [{"title": "现场照片", "content_hash": "0" * 64, "media_type": "image/jpeg"}],
        min_length=1,
    )
    officers: tuple[OfficerOnDuty, ...] = other_officers()


class ExpertKind(StrEnum):
    TESTING = "testing"
    INSPECTION = "inspection"
    QUARANTINE = "quarantine"
    APPRAISAL = "appraisal"
    IDENTIFICATION = "identification"


titled(
    ExpertKind,
    {
        ExpertKind.TESTING: "检测 / Testing",
        ExpertKind.INSPECTION: "检验 / Inspection",
        ExpertKind.QUARANTINE: "检疫 / Quarantine",
        ExpertKind.APPRAISAL: "鉴定 / Appraisal",
        ExpertKind.IDENTIFICATION: "权利人辨认或者鉴别 / Identification by the right holder",
    },
)


class ExpertReferral(Frozen):
    kind: ExpertKind = about("类别 / Kind", "testing")
    institution: Text = about("检测、鉴定机构 / Institution", "中山市质量计量监督检测所")
    samples: Text = about("抽样、送检情况 / What was sampled and sent", "抽取样品2件送检")
    officers: tuple[OfficerOnDuty, ...] = other_officers()


class ExpertResult(Frozen):
    result: Text = about("检测、鉴定结论 / Result", "所检项目不符合标准要求")
    report_hash: Sha256 | None = about(
        "报告SHA-256 / SHA-256 of the report",
        "5b1c0f3a5e1d6f0a9c7b3e2d1f4a6b8c0e2d4f6a8b0c2e4f6a8b0c2d4e6f8a0b",
        default=None,
        **SHA256,
    )


class CaseReview(Frozen):
    """Version 2: whether the case is complex (version 1 knew only major)."""

    opinion: Text = about("审查意见 / Review opinion", "事实清楚，证据充分")
    major: bool = about("是否重大执法决定 / Is the intended decision major?", False)
    complex: bool = about(
        "是否情节复杂 / Is the case complex (情节复杂: collective discussion before a penalty)?",
        False,
        default=False,
    )


class LegalReview(Frozen):
    approved: bool = about("审核是否通过 / Approved?", True)
    opinion: Text = about("法制审核意见 / Legal review opinion", "适用法律正确，程序合法")


class PenaltyKind(StrEnum):
    WARNING = "warning"
    FINE = "fine"
    CONFISCATION = "confiscation"
    SUSPENSION = "suspension"
    REVOCATION = "revocation"
    OTHER = "other"


titled(
    PenaltyKind,
    {
        PenaltyKind.WARNING: "警告 / Warning",
        PenaltyKind.FINE: "罚款 / Fine",
        PenaltyKind.CONFISCATION: "没收违法所得、非法财物 / Confiscation",
        PenaltyKind.SUSPENSION: "暂扣许可证件、责令停产停业 / Suspension",
        PenaltyKind.REVOCATION: "吊销许可证件 / Revocation",
        PenaltyKind.OTHER: "其他 / Other",
    },
)


class Penalty(Frozen):
    kind: PenaltyKind = about("处罚种类 / Kind of penalty", "fine")
    amount_fen: int = about("罚款金额（分）/ Fine, fen", 500_000, default=0, ge=0, le=MAX_FEN)
    description: Text = about("处罚内容 / What it is", "罚款人民币伍仟元")

    @model_validator(mode="after")
    def _fine_has_an_amount(self) -> Self:
        if self.kind is PenaltyKind.FINE and self.amount_fen <= 0:
            raise ValueError("a fine needs amount_fen greater than 0")
        return self


class Notice(Frozen):
    intended_penalty: Penalty = about(
        "拟处罚内容 / Intended penalty",
        {"kind": "fine", "amount_fen": 500_000, "description": "罚款"},
    )
    rights: Text = about("告知的权利 / Rights the party was told of", "陈述、申辩及要求听证的权利")


class Statement(Frozen):
    """The party's statement and defence (陈述、申辩), or their express waiver."""

    waived: bool = about(
        "当事人明确放弃陈述、申辩和听证权利 / The party expressly waived statement, defence and"
        " hearing",
        False,
        default=False,
    )
    statement: str = about(
        "陈述、申辩意见 / What the party said",
        "对违法事实无异议，请求从轻处罚",
        default="",
        max_length=4000,
    )
    review: str = about(
        "复核意见 / The office's review of the facts, reasons and evidence given (复核)",
        "当事人已主动改正，予以采纳，从轻处罚",
        default="",
        max_length=4000,
    )
    adopted: bool = about("是否采纳 / Were they adopted?", True, default=False)


class CollectiveDiscussion(Frozen):
    participants: tuple[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)],
        ...,
    ] = about(
        "参加讨论的负责人 / The department heads who took part",
        ["陈局长", "李副局长", "张副局长"],
        min_length=2,
        max_length=30,
    )
    conclusion: Text = about("讨论决定 / What they decided", "同意按拟处罚意见作出处罚决定")


class FurtherExtension(CollectiveDiscussion):
    days: int = about("继续延长天数 / Further days", 30, ge=1, le=365)
    reason: Text = about("延期理由 / Why", "案情特别复杂，经延期仍不能作出处理决定")


class Hearing(Frozen):
    record: Text = about("听证笔录摘要 / Hearing record", "当事人到场陈述申辩")


class Decision(Frozen):
    decision_number: Text = about("决定书号 / Decision number", "大涌执法罚〔2020〕15号")
    legal_basis: Text = about("法律依据 / Legal basis", "《无证无照经营查处办法》第十三条")
    penalty: Penalty = about(
        "处罚 / Penalty", {"kind": "fine", "amount_fen": 500_000, "description": "罚款"}
    )
    major: bool = about("是否重大执法决定 / Major decision?", False)


class NoPenaltyGround(StrEnum):
    FACTS_NOT_ESTABLISHED = "facts_not_established"
    MINOR_AND_CORRECTED = "minor_and_corrected"
    FIRST_OFFENCE = "first_offence"
    NO_FAULT = "no_fault"
    UNDER_FOURTEEN = "under_fourteen"
    MENTAL_INCAPACITY = "mental_incapacity"
    TIME_BARRED = "time_barred"


titled(
    NoPenaltyGround,
    {
        NoPenaltyGround.FACTS_NOT_ESTABLISHED: (
            "违法事实不能成立（第五十七条第一款第三项） / The facts are not established"
        ),
        NoPenaltyGround.MINOR_AND_CORRECTED: (
            "违法行为轻微并及时改正，没有造成危害后果（第三十三条第一款）"
            " / Minor, corrected in time, no harm done"
        ),
        NoPenaltyGround.FIRST_OFFENCE: (
            "初次违法且危害后果轻微并及时改正（第三十三条第一款）"
            " / First offence, slight harm, corrected in time"
        ),
        NoPenaltyGround.NO_FAULT: (
            "有证据足以证明没有主观过错（第三十三条第二款） / Proven to be without fault"
        ),
        NoPenaltyGround.UNDER_FOURTEEN: "不满十四周岁（第三十条） / Under fourteen",
        NoPenaltyGround.MENTAL_INCAPACITY: (
            "不能辨认或者不能控制自己行为的精神病人、智力残疾人（第三十一条）"
            " / Could not understand or control their conduct"
        ),
        NoPenaltyGround.TIME_BARRED: "违法行为超过追责期限（第三十六条） / Time-barred",
    },
)

EDUCATION_REQUIRED = frozenset(
    {NoPenaltyGround.MINOR_AND_CORRECTED, NoPenaltyGround.FIRST_OFFENCE, NoPenaltyGround.NO_FAULT}
)
"""Grounds of 行政处罚法 第三十三条, whose third paragraph requires educating the party."""


class NoPenaltyDecision(Frozen):
    """不予行政处罚决定 (行政处罚法 第五十七条第一款第二、三项)."""

    decision_number: Text = about("决定书号 / Decision number", "大涌执法不罚〔2020〕3号")
    ground: NoPenaltyGround = about("不予处罚的理由 / Ground", "first_offence")
    reasoning: Text = about(
        "事实与理由 / Facts and reasons", "当事人首次违法，已当场改正，未造成危害后果"
    )
    education: str = about(
        "对当事人的教育 / How the party was educated (第三十三条第三款)",
        "已对当事人进行法治宣传教育",
        default="",
        max_length=4000,
    )


class Service(Frozen):
    method: Text = about("送达方式 / How it was served", "直接送达")


class Publication(Frozen):
    """公示: where the decision was published, or why it is not."""

    published: bool = about("是否公示 / Published?", True, default=True)
    channel: str = about("公示渠道 / Where", "国家企业信用信息公示系统", default="", max_length=200)
    reason: str = about(
        "不予公示的理由 / Why it is not published",
        "仅受警告处罚（市场监督管理行政处罚信息公示规定 第二条第二款）",
        default="",
        max_length=4000,
    )


class PaymentDemand(Frozen):
    """催告 (行政强制法 第三十五条、第五十四条)."""

    late_fine_fen: int = about(
        "加处罚款（分） / Late-payment fine named, fen (3% of the fine a day, at most the fine:"
        " 行政处罚法 第七十二条)",
        150_000,
        default=0,
        ge=0,
        le=MAX_FEN,
    )
    perform_by: date = about("履行期限 / Perform by", "2020-11-20")
    method: Text = about("送达方式 / How the demand was served", "直接送达")


class NoAppeal(Frozen):
    note: Text = about(
        "核实情况 / What was checked",
        "经核实，当事人在法定期限内未申请行政复议，也未提起行政诉讼",
    )


class CourtApplication(Frozen):
    court: Text = about("人民法院 / Court", "中山市第一人民法院")
    amount_fen: int = about(
        "申请执行金额（分） / Amount to enforce, fen (fine and late-payment fine)",
        650_000,
        ge=0,
        le=MAX_FEN,
    )
    note: str = about(
        "申请材料 / Materials", "强制执行申请书、处罚决定书、催告书", default="", max_length=4000
    )


class CourtAcceptance(Frozen):
    docket_number: Text = about("受理案号 / Docket number", "(2021)粤2071行审123号")


class Execution(Frozen):
    bank_receipt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = (
        about(
            "银行缴款凭证号 / Bank receipt (fines are paid to the bank: 罚缴分离)",
            "GDNX2020101500123",
            default=None,
            max_length=100,
        )
    )
    note: str = about(
        "执行情况 / How it was executed", "当事人已缴纳罚款", default="", max_length=4000
    )


class CaseTransfer(Frozen):
    to_authority: Text = about("移送机关 / Receiving authority", "中山市公安局大涌分局")
    reason: Text = about("移送理由 / Why", "涉嫌犯罪")
