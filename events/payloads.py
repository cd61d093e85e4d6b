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

from events.model import CaseId, Frozen, PersonalData
from events.titles import ENUM_TITLES, titled

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


class SupervisionAnswer(Frozen):
    note_version: int = about(
        "所答督办（督办记录的案件版本号） / The note answered: the case version of its"
        " case.supervision_noted event",
        5,
        ge=1,
    )
    answer: Text = about("反馈内容 / The answer", "已约谈双方，预计本月底前办结")


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


class CaseLinkKind(StrEnum):
    """How one case stands to another (案件关联)."""

    RELATED = "related"
    REPEAT_OF = "repeat_of"
    ORIGINATED_FROM = "originated_from"


titled(
    CaseLinkKind,
    {
        CaseLinkKind.RELATED: "相关案件 / Related case",
        CaseLinkKind.REPEAT_OF: "重复件（合并） / Repeat of (merged)",
        CaseLinkKind.ORIGINATED_FROM: "由…转化而来 / Originated from",
    },
)

LINK_SEEN_FROM_THE_OTHER_CASE = "CaseLinkKindSeenFromTheOtherCase"
"""The labels of a link as the other case's page shows it: a link is recorded on one case, and
read from both."""
ENUM_TITLES[LINK_SEEN_FROM_THE_OTHER_CASE] = {
    CaseLinkKind.RELATED.value: "相关案件 / Related case",
    CaseLinkKind.REPEAT_OF.value: "有重复件（已合并） / Has a merged repeat",
    CaseLinkKind.ORIGINATED_FROM.value: "转化为 / Led to",
}


class CaseLink(Frozen):
    kind: CaseLinkKind = about("关联类型 / Kind of link", "originated_from")
    other_case_id: CaseId = about("关联案件编号 / The other case", "TS-2020-0007")
    note: str = about("说明 / Note", "由投诉举报转立案查处", default="", max_length=4000)


class ErasureBasis(StrEnum):
    """Why a data subject's personal data is erased."""

    REQUEST = "request"
    RETENTION = "retention"


titled(
    ErasureBasis,
    {
        ErasureBasis.REQUEST: "依申请或依法删除 / On request, or as the law requires",
        ErasureBasis.RETENTION: "保存期限届满 / Its retention period ended",
    },
)

SubjectId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]


class Erasure(Frozen):
    """Personal data erased by destroying its data subjects' keys (crypto-shredding): the step
    records whose, why and who approved it, and names nobody (docs/privacy.md)."""

    subjects: tuple[SubjectId, ...] = about(
        "数据主体 / The data subjects whose keys are destroyed",
        ["0b7a6f3e-4a1d-4e59-9c1e-2f1f0c7b5d21"],
        min_length=1,
        max_length=1000,
    )
    basis: ErasureBasis = about("删除依据 / Basis", "retention")
    reason: Text = about(
        "删除理由 / Why", "投诉举报档案保存期限（结案后3年）届满 / retention period ended"
    )
    approved_by: Text = about("批准人（审计） / Approved by (an auditor)", "审计组 张审计")


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
    """Schema version 3: the complainant is optional, with ``anonymous`` saying why (匿名举报)."""

    channel: ComplaintChannel = about("渠道 / Channel", "hotline_12345")
    subject: Text = about("投诉内容 / What is complained about", "餐馆油烟扰民")
    anonymous: bool = about(
        "是否匿名 / Anonymous (匿名举报: no person is recorded, and none can be replied to)",
        False,
        default=False,
    )
    complainant: Person | None = about(
        "投诉人 / Complainant (required unless anonymous; absent when anonymous)",
        {"name": "王五"},
        default=None,
    )
    respondent: str | None = about(
        "被投诉单位 / The unit complained about", "某餐饮店", default=None, max_length=200
    )

    @model_validator(mode="after")
    def _named_or_anonymous(self) -> Self:
        if self.anonymous and self.complainant is not None:
            raise ValueError("an anonymous complaint records no complainant: leave it out")
        if not self.anonymous and self.complainant is None:
            raise ValueError("a named complaint needs its complainant (or anonymous: true)")
        return self


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
    method: str = about("答复方式 / How it was given", "电话答复", min_length=1, max_length=50)


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"
    UNREACHABLE = "unreachable"
    DECLINED = "declined"


titled(
    Satisfaction,
    {
        Satisfaction.SATISFIED: "满意 / Satisfied",
        Satisfaction.BASICALLY_SATISFIED: "基本满意 / Basically satisfied",
        Satisfaction.DISSATISFIED: "不满意 / Dissatisfied",
        Satisfaction.UNREACHABLE: "无法联系 / Could not be reached",
        Satisfaction.DECLINED: "拒绝评价 / Declined to say",
    },
)


class ComplaintFollowUp(Frozen):
    satisfaction: Satisfaction = about("满意度 / The complainant's satisfaction", "satisfied")
    method: str = about(
        "回访方式 / How the visit was made", "电话回访", min_length=1, max_length=50
    )
    notes: str = about("回访情况 / Notes", "投诉人表示油烟已明显减少", default="", max_length=4000)


# --- petitions (信访) ------------------------------------------------------------------------


class PetitionChannel(StrEnum):
    LETTER = "letter"
    VISIT = "visit"
    ONLINE = "online"
    PHONE = "phone"
    HOTLINE_12345 = "hotline_12345"
    REFERRED = "referred"


titled(
    PetitionChannel,
    {
        PetitionChannel.LETTER: "来信 / Letter",
        PetitionChannel.VISIT: "来访 / Visit",
        PetitionChannel.ONLINE: "网上信访 / Online",
        PetitionChannel.PHONE: "电话 / Phone",
        PetitionChannel.HOTLINE_12345: "12345热线 / 12345 hotline",
        PetitionChannel.REFERRED: "上级交办 / Referred from above",
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


class ReplyReceipt(Frozen):
    received_on: date = about(
        "签收日期 / The day the petitioner received the written reply", "2020-06-18"
    )
    method: Text = about("送达方式 / How it was delivered", "直接送达")


NOT_NAMED = "（未记录） / (not recorded)"
"""The reviewing body of a review asked before requests named it (review_requested v1)."""


class ReviewRequest(Frozen):
    """Schema version 2 of petition.review_requested (version 1 had only the reason)."""

    reviewing_department: Text = about(
        "复查（复核）机关 / The reviewing body: the authority above the one whose reply is"
        " contested, which records the request and every step of its review",
        "中山市信访局",
        max_length=64,
    )
    reason: Text = about("请求理由 / Why the petitioner contests the reply", "对处理意见不服")


class PetitionHearing(Frozen):
    record: Text = about("听证情况 / What the hearing found", "听取信访人及原办理机关意见")


class RepeatVisit(Frozen):
    channel: PetitionChannel = about("信访渠道 / Channel of this visit", "visit")
    persons: int = about("人次 / Number of persons this time", 2, ge=1, le=10_000)
    note: str = about(
        "本次诉求 / What was asked this time", "要求加快处理", default="", max_length=4000
    )


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


class ReferralChannel(StrEnum):
    """How a dispute came from another body (衔接机制)."""

    COURT = "court"
    PETITION = "petition"
    POLICE = "police"
    OTHER = "other"


titled(
    ReferralChannel,
    {
        ReferralChannel.COURT: "诉调对接（人民法院委派） / Referred by a court",
        ReferralChannel.PETITION: "访调对接（信访部门移交） / Referred by the petitions office",
        ReferralChannel.POLICE: "警调对接（公安机关移交） / Referred by the police",
        ReferralChannel.OTHER: "其他单位移交 / Referred by another body",
    },
)


class Referral(Frozen):
    channel: ReferralChannel = about("衔接渠道 / How it was referred", "court")
    body: Text = about("移交单位 / The referring body", "中山市第二人民法院")
    reference: Text = about(
        "移交单位编号 / The referring body's reference", "(2020)粤2072民诉前调123号"
    )


class MediationApplication(Frozen):
    dispute: Text = about("纠纷概况 / The dispute", "厂房租赁合同纠纷")
    parties: tuple[Person, ...] = about(
        "当事人 / Parties", [{"name": "甲"}, {"name": "乙"}], min_length=2
    )
    amount_in_dispute_fen: int = about(
        "争议金额（分）/ Amount in dispute, fen", 12_000_000, ge=0, le=MAX_FEN
    )
    referral: Referral | None = about(
        "移交来源（诉调、访调、警调对接） / Referred by another body, if it was",
        None,
        default=None,
    )


class MediationAccepted(MediationApplication):
    """A direct acceptance (no application registered before it) records what an application
    would. Version 2 added ``referral``."""


class RefusalGround(StrEnum):
    PARTY_REFUSES = "party_refuses"
    NOT_A_CIVIL_DISPUTE = "not_a_civil_dispute"
    RESERVED_TO_AUTHORITIES = "reserved_to_authorities"
    ALREADY_BEFORE_AUTHORITIES = "already_before_authorities"


titled(
    RefusalGround,
    {
        RefusalGround.PARTY_REFUSES: "当事人一方明确拒绝调解 / A party refuses mediation",
        RefusalGround.NOT_A_CIVIL_DISPUTE: "不属于民间纠纷 / Not a dispute between people",
        RefusalGround.RESERVED_TO_AUTHORITIES: (
            "依法只能由专门机关处理或禁止民间调解 / Reserved by law to a specialised authority"
        ),
        RefusalGround.ALREADY_BEFORE_AUTHORITIES: (
            "法院、公安或其他行政机关已受理或解决 / Already accepted or resolved by a court,"
            " the police or another authority"
        ),
    },
)


class MediationRefused(Frozen):
    ground: RefusalGround = about("不予受理情形 / Ground", "party_refuses")
    reason: Text = about("不予受理理由 / Why it is not accepted", "被申请人明确表示拒绝调解")
    remedies_told: Text = about(
        "告知的其他途径 / Where the applicant was told to turn instead", "可向人民法院起诉"
    )


class ConfirmationApplication(Frozen):
    court: Text = about("受理法院 / Court applied to", "中山市第二人民法院")
    note: str = about("说明 / Note", "双方共同申请司法确认", default="", max_length=4000)


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


# --- information-disclosure requests (政府信息公开申请) ----------------------------------------


class DisclosureChannel(StrEnum):
    """How the request reached the office: 第三十一条 dates its receipt by it."""

    IN_PERSON = "in_person"
    POST = "post"
    LETTER = "letter"
    ONLINE = "online"
    FAX = "fax"
    ORAL = "oral"


titled(
    DisclosureChannel,
    {
        DisclosureChannel.IN_PERSON: "当面提交 / In person",
        DisclosureChannel.POST: "邮寄（签收） / By post, signed for",
        DisclosureChannel.LETTER: "平常信函 / Ordinary letter",
        DisclosureChannel.ONLINE: "互联网 / Online",
        DisclosureChannel.FAX: "传真 / Fax",
        DisclosureChannel.ORAL: "口头提出，代为填写 / Orally, written down by the office",
    },
)


class ApplicantKind(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


titled(
    ApplicantKind,
    {
        ApplicantKind.PERSON: "公民 / Citizen",
        ApplicantKind.ORGANISATION: "法人或者其他组织 / Legal person or other organisation",
    },
)


class DisclosureRequested(Frozen):
    """A request for government information (政府信息公开条例 第二十九条): the step happens
    on the day of receipt as 第三十一条 fixes it (the day handed in, signed for, or confirmed
    with the applicant), which starts the answer period."""

    channel: DisclosureChannel = about("收到方式 / How it was received", "online")
    applicant: Person = about("申请人 / Applicant", {"name": "陈六", "phone": "13700000000"})
    applicant_kind: ApplicantKind = about("申请人类型 / Kind of applicant", "person")
    information: Text = about(
        "申请公开的政府信息（名称、文号或特征性描述） / The information asked for",
        "2020年南文村道路硬底化工程招投标结果",
    )
    form: str | None = about(
        "获取信息的方式 / How the applicant wants it",
        "电子邮件",
        default=None,
        max_length=200,
    )


class CorrectionRequest(Frozen):
    items: Text = about(
        "需要补正的事项 / What the applicant must make clear", "请明确所需信息的年份和工程名称"
    )
    correct_by: date = about(
        "补正期限 / The reasonable time given to correct it (last day)", "2021-03-19"
    )


class CorrectionReceived(Frozen):
    information: Text = about(
        "补正后的申请内容 / The request as corrected", "2020年南文村道路硬底化工程中标公告"
    )


class Consultee(StrEnum):
    THIRD_PARTY = "third_party"
    OTHER_AGENCY = "other_agency"


titled(
    Consultee,
    {
        Consultee.THIRD_PARTY: "第三方 / Third party",
        Consultee.OTHER_AGENCY: "其他行政机关 / Another agency",
    },
)


class Consultation(Frozen):
    consulted: Consultee = about("征求意见对象 / Who is consulted", "third_party")
    name: PersonalData = about("被征求意见方 / Name of the third party or agency", "某建筑公司")
    interests: Text = about(
        "涉及的权益 / Whose rights disclosure could harm, and how", "投标文件含企业商业秘密"
    )


class ConsultationView(StrEnum):
    CONSENTS = "consents"
    OBJECTS = "objects"
    NO_REPLY = "no_reply"


titled(
    ConsultationView,
    {
        ConsultationView.CONSENTS: "同意公开 / Consents",
        ConsultationView.OBJECTS: "不同意公开 / Objects",
        ConsultationView.NO_REPLY: "逾期未提出意见 / No opinion within the time",
    },
)


class ConsultationReply(Frozen):
    view: ConsultationView = about("意见 / The opinion", "consents")
    opinion: str = about("意见内容 / What it said", "同意公开中标结果", default="", max_length=4000)


class DisclosureAnswerType(StrEnum):
    """The answers of 政府信息公开条例 第三十六条 (items 1 to 7), 第三十七条 (partly), 第三十八条
    (would need processing) and 第三十九条 (not a disclosure request; a publication)."""

    ALREADY_PUBLIC = "already_public"
    DISCLOSED = "disclosed"
    PARTLY_DISCLOSED = "partly_disclosed"
    WITHHELD = "withheld"
    DOES_NOT_EXIST = "does_not_exist"
    NOT_THIS_OFFICE = "not_this_office"
    REPEATED = "repeated"
    SPECIAL_PROCEDURE = "special_procedure"
    NEEDS_PROCESSING = "needs_processing"
    NOT_A_REQUEST = "not_a_request"
    PUBLICATION = "publication"


titled(
    DisclosureAnswerType,
    {
        DisclosureAnswerType.ALREADY_PUBLIC: "已主动公开，告知获取途径 / Already published: told"
        " where",
        DisclosureAnswerType.DISCLOSED: "予以公开 / Disclosed",
        DisclosureAnswerType.PARTLY_DISCLOSED: "部分公开 / Partly disclosed",
        DisclosureAnswerType.WITHHELD: "不予公开 / Not disclosed",
        DisclosureAnswerType.DOES_NOT_EXIST: "信息不存在 / Information does not exist",
        DisclosureAnswerType.NOT_THIS_OFFICE: "非本机关负责公开 / Not this office's to disclose",
        DisclosureAnswerType.REPEATED: "重复申请，不予重复处理 / Repeated request: not"
        " processed again",
        DisclosureAnswerType.SPECIAL_PROCEDURE: "按有关法律、行政法规的特别规定办理 / To be"
        " obtained under special rules (e.g. registration records)",
        DisclosureAnswerType.NEEDS_PROCESSING: "需加工、分析，不予提供 / Would need new"
        " processing: not provided",
        DisclosureAnswerType.NOT_A_REQUEST: "信访、投诉、举报类申请，告知通过相应渠道提出 / A"
        " petition or complaint: told the proper channel",
        DisclosureAnswerType.PUBLICATION: "公开出版物，告知获取方式 / A public publication: told"
        " where to get it",
    },
)


class WithholdingGround(StrEnum):
    """Why information is withheld: 政府信息公开条例 第十四条, 第十五条, 第十六条."""

    STATE_SECRET = "state_secret"
    FORBIDDEN_BY_LAW = "forbidden_by_law"
    SECURITY_OR_STABILITY = "security_or_stability"
    THIRD_PARTY_RIGHTS = "third_party_rights"
    INTERNAL_AFFAIRS = "internal_affairs"
    DELIBERATIVE = "deliberative"
    ENFORCEMENT_FILE = "enforcement_file"


titled(
    WithholdingGround,
    {
        WithholdingGround.STATE_SECRET: "国家秘密（第十四条） / State secret (art. 14)",
        WithholdingGround.FORBIDDEN_BY_LAW: "法律、行政法规禁止公开（第十四条） / Forbidden by"
        " law (art. 14)",
        WithholdingGround.SECURITY_OR_STABILITY: "危及国家安全、公共安全、经济安全、社会稳定"
        "（第十四条） / Would endanger security or stability (art. 14)",
        WithholdingGround.THIRD_PARTY_RIGHTS: "商业秘密、个人隐私等第三方合法权益（第十五条） /"
        " Third parties' trade secrets or privacy (art. 15)",
        WithholdingGround.INTERNAL_AFFAIRS: "内部事务信息（第十六条） / Internal affairs (art. 16)",
        WithholdingGround.DELIBERATIVE: "过程性信息（第十六条） / Deliberative information"
        " (art. 16)",
        WithholdingGround.ENFORCEMENT_FILE: "行政执法案卷信息（第十六条） / Enforcement case file"
        " (art. 16)",
    },
)


class DisclosureAnswer(Frozen):
    """The answer to the applicant. A withheld or partly disclosed answer names its legal ground
    (and no other answer does); an answer that it is not this office's to disclose names the
    office that holds the information (and no other does); disclosing in full over a third
    party's objection gives the public-interest reason (第三十二条)."""

    answer: DisclosureAnswerType = about("答复类型 / The answer", "partly_disclosed")
    reply: Text = about(
        "答复内容 / What the applicant was told",
        "现向您提供中标公告；投标报价明细涉及商业秘密，不予公开",
    )
    ground: WithholdingGround | None = about(
        "不予公开的依据 / Legal ground for withholding", "third_party_rights", default=None
    )
    holder: str | None = about(
        "负责公开的机关 / The office that holds it",
        None,
        default=None,
        min_length=1,
        max_length=200,
    )
    public_interest: str | None = about(
        "公开的公共利益理由 / Why the public interest requires disclosure",
        None,
        default=None,
        min_length=1,
        max_length=4000,
    )
