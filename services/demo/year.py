"""A demo 2019 and 2020 for Dayong town (大涌镇), shaped to the figures of its 2020 report.

The report: 276 petitions (信访) from 649 person-visits in 2020, 28 of them online, -9% and
-78% year on year, 99% of those accepted closed; 12 mediations accepted and all 12 settled,
about ¥1.2 million in dispute; no information-disclosure request (依申请公开) in 2020.
Person-visits are counted per visit: the persons of each registration and of each repeat visit
(重复信访) by the same people. Complaints and enforcement cases, which it does not count, are
plausible numbers (so are the refused and late petitions, the few reviews by the authorities
above, the anonymous complaints and the follow-up visits); a few information-disclosure requests
of early 2021, one of each answer, are illustrative, not from the report.
The mediations' details the report leaves out are plausible too: some are applied for first, a
few are referred by a court, the police or the petitions office, and in 2020 a supervisor urges
four of them (督办), each note answered, one late and one after the case was closed.
Every case is a sequence of submissions that the real decider decides; a fixed seed makes the
same submissions (same ids) every time, so loading twice changes nothing.
"""

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from random import Random
from typing import Any

from events.calendar import CHINA, add_calendar_days, local_day
from events.deadlines import add_calendar_months
from services.adapters.kafka import submit_and_wait
from services.demo import demo_settings
from services.integrity.signing import DepartmentSigners
from services.progress import Progress, Say
from services.settings import KafkaRole, Settings

NAMESPACE = uuid.UUID("6f1c1f0e-4a43-4c1e-9d0e-2b1d7a0c2019")
XF1 = {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}
XF2 = {"officer_id": "DY-XF-02", "role": "officer", "department": "信访办"}
ZX = {"officer_id": "DY-ZX-01", "role": "officer", "department": "综治中心"}
TJ1 = {"officer_id": "DY-TJ-01", "role": "mediator", "department": "人民调解委员会"}
ZF = {"officer_id": "DY-ZF-03", "role": "enforcement_officer", "department": "综合行政执法办"}
SC = {"officer_id": "DY-SC-07", "role": "enforcement_officer", "department": "市场监管分局"}
ZF_2 = {"officer_id": "DY-ZF-06", "certificate": "44200120190006"}
SC_2 = {"officer_id": "DY-SC-08", "certificate": "44200120190008"}
"""The second officer on each investigative act (行政处罚法 第四十二条), as the step names them."""
FZ = {"officer_id": "DY-FZ-01", "role": "legal_reviewer", "department": "司法所"}
CITY_XF = {"officer_id": "ZS-XF-01", "role": "officer", "department": "中山市信访局"}
CITY_GOV = {"officer_id": "ZS-ZF-01", "role": "officer", "department": "中山市人民政府"}
DC = {"officer_id": "DY-DC-01", "role": "supervisor", "department": "督查室"}

PETITIONS = {  # year: (cases, persons, online, not accepted, answered late, still open)
    2019: (303, 712, 127, 8, 5, 0),
    2020: (276, 649, 28, 6, 4, 3),
}
"""The report's 99% closure rate is over the petitions accepted: 2020's 270 accepted, 267 closed
(98.9%); its 276 cases and 649 person-visits count every registration. The refusals and the
late answers are the demo's own, plausible numbers (the report gives none)."""
LATE_BY_DAYS = 75
"""How long a late petition's written opinion takes after its handling: past the 60 days."""
REVIEWS = {  # year: (reviews by the authority above, of which taken on to a second review)
    2019: (2, 0),
    2020: (4, 1),
}
COMPLAINTS = {2019: (96, 0), 2020: (88, 3)}
MEDIATIONS = {  # year: (accepted, settled, amount in dispute in fen)
    2019: (10, 9, 95_000_000),
    2020: (12, 12, 120_000_000),
}
ENFORCEMENT = {2019: 30, 2020: 36}
SATISFACTION = (
    "satisfied",
    "satisfied",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "unreachable",
)
"""How complainants answer a follow-up visit (回访), most of them satisfied."""

FINE_FEN = 500_000
SUMMARIES = [
    "厂房噪音扰民",
    "宅基地界址纠纷",
    "工资拖欠",
    "道路积水",
    "村务公开",
    "征地补偿",
    "违章搭建",
    "环境污染",
    "物业纠纷",
    "医疗保障咨询",
]


class Case:
    """Builds one case's submissions, each at least a little after the last."""

    def __init__(self, rng: Random, case_id: str, opened: datetime):
        self.rng, self.case_id, self.at = rng, case_id, opened
        self.steps: list[dict[str, Any]] = []

    def wait(self, days: float) -> None:
        """Let the case lie for ``days`` before its next step."""
        self.at += timedelta(days=days)

    def step(
        self, kind: str, actor: dict[str, str], payload: dict[str, Any], days: float = 1.0
    ) -> None:
        if self.steps:
            self.at += timedelta(days=self.rng.uniform(0.2, days), hours=self.rng.uniform(0, 2))
        self.steps.append(
            {
                "type": kind,
                "submission_id": str(uuid.uuid5(NAMESPACE, f"{self.case_id}/{len(self.steps)}")),
                "case_id": self.case_id,
                "actor": actor,
                "occurred_at": self.at.isoformat(),
                "payload": payload,
            }
        )


def _opened(rng: Random, year: int) -> datetime:
    day = datetime(year, 1, 2, 9, tzinfo=CHINA) + timedelta(days=rng.randrange(0, 350))
    return day + timedelta(minutes=rng.randrange(0, 8 * 60))


def _split(rng: Random, total: int, parts: int, least: int = 1) -> list[int]:
    """``parts`` whole numbers of at least ``least`` adding up to ``total``."""
    spare = total - least * parts
    cuts = sorted(rng.randint(0, spare) for _ in range(parts - 1))
    return [least + high - low for low, high in zip([0, *cuts], [*cuts, spare], strict=True)]


def _day(moment: datetime) -> str:
    return moment.astimezone(CHINA).date().isoformat()


def _visit(case: Case, rng: Random, persons: int) -> None:
    channel = rng.choice(["visit", "visit", "phone", "hotline_12345"])
    note = rng.choice(["再次反映，要求尽快处理", "询问办理进展", "对处理结果仍有意见"])
    case.step("petition.record_visit", XF1, {"channel": channel, "persons": persons, "note": note})


def _reviews(case: Case, handler: dict[str, str], second: bool) -> None:
    """The petitioner contests the opinion: the town's handling office records when they
    received it; 中山市信访局 reviews it (复查) and, when ``second``, 中山市人民政府 makes the
    second review (复核), with a hearing, which ends the matter."""
    # The closing step handed the opinion over: received that day.
    receipt = {"received_on": _day(case.at), "method": "直接送达"}
    case.step("petition.record_reply_receipt", handler, receipt)
    ask = {"reviewing_department": CITY_XF["department"], "reason": "对处理意见不服"}
    case.step("petition.request_review", CITY_XF, ask, days=20)
    opinion = {"outcome": "upheld", "opinion": "原处理意见事实清楚，维持"}
    case.step("petition.decide_review", CITY_XF, opinion, days=25)
    case.step("petition.close", handler, {"note": "复查意见已送达，办结"}, days=2)
    if not second:
        return
    receipt = {"received_on": _day(case.at), "method": "邮寄送达"}
    case.step("petition.record_reply_receipt", CITY_XF, receipt, days=3)
    ask = {"reviewing_department": CITY_GOV["department"], "reason": "对复查意见不服"}
    case.step("petition.request_second_review", CITY_GOV, ask, days=20)
    case.step("petition.schedule_hearing", CITY_GOV, {"note": "重大复杂，举行听证"}, days=5)
    case.step("petition.conclude_hearing", CITY_GOV, {"record": "听取各方意见"}, days=10)
    final = {"outcome": "upheld", "opinion": "维持复查意见，信访事项终结"}
    case.step("petition.decide_second_review", CITY_GOV, final, days=10)


def petitions(rng: Random, year: int) -> Iterator[Case]:
    cases, persons, online, refused, late, still_open = PETITIONS[year]
    reviews, second_reviews = REVIEWS[year]
    channels = ["online"] * online + [
        rng.choice(["visit", "visit", "letter", "phone", "hotline_12345", "referred"])
        for _ in range(cases - online)
    ]
    rng.shuffle(channels)
    opened = [_opened(rng, year) for _ in range(cases)]
    # Repeat visits come within the registration's year (the petitions of the last two months
    # have none), so that the year's person-visits are its registrations' and their visits'.
    visits = [rng.choice((0, 0, 0, 0, 0, 1, 1, 2)) if day.month <= 10 else 0 for day in opened]
    people = _split(rng, persons, cases + sum(visits))
    revisits = iter(people[cases:])
    reviewed = 0
    for number, (channel, day, repeats, registered) in enumerate(
        zip(channels, opened, visits, people[:cases], strict=True)
    ):
        case = Case(rng, f"XF-{year}-{number + 1:04d}", day)
        case.step(
            "petition.register",
            XF1,
            {
                "channel": channel,
                "persons": registered,
                "summary": rng.choice(SUMMARIES),
                "petitioners": [{"name": f"信访人{number + 1}", "phone": f"1380000{number:04d}"}],
            },
        )
        if still_open <= number < still_open + refused:
            case.step("petition.not_accept", XF1, {"reason": "已经或者依法应当通过诉讼途径解决"})
            for _ in range(repeats):  # refused, they come back all the same: each visit counts
                _visit(case, rng, next(revisits))
            yield case
            continue
        case.step("petition.accept", XF1, {"note": "符合受理条件"}, days=5)
        # One visit after closing, when there are two and the year has room for it.
        after_closing = repeats == 2 and day.month <= 9
        for _ in range(repeats - after_closing):
            _visit(case, rng, next(revisits))
        if number < still_open:
            yield case  # accepted, never answered: long past its deadline now (red)
            continue
        handler = XF2
        if rng.random() < 0.3:
            case.step("petition.assign", XF1, {"department": "综治中心", "officer_id": "DY-ZX-01"})
            handler = ZX
        case.step("petition.handle", handler, {"record": "约谈信访人，现场核实"}, days=20)
        if number < still_open + refused + late:
            case.wait(LATE_BY_DAYS)  # answered past its 60 days: closed, but not on time
        case.step("petition.issue_opinion", handler, {"opinion": "依法处理，书面答复"}, days=20)
        case.step("petition.close", handler, {"note": "已答复，办结"})
        if after_closing:
            _visit(case, rng, next(revisits))
        if reviewed < reviews and day.month <= 5:
            _reviews(case, handler, second=reviewed < second_reviews)
            reviewed += 1
        yield case
    assert reviewed == reviews, f"{year}: {reviewed} of {reviews} reviews placed"


def complaints(rng: Random, year: int) -> Iterator[Case]:
    count, still_open = COMPLAINTS[year]
    for number in range(count):
        case = Case(rng, f"TS-{year}-{number + 1:04d}", _opened(rng, year))
        # Every eighth is anonymous (匿名举报): no person is recorded.
        anonymous = number % 8 == 4
        who = {"anonymous": True} if anonymous else {"complainant": {"name": f"投诉人{number + 1}"}}
        case.step(
            "complaint.register",
            XF1,
            {
                "channel": rng.choice(["hotline_12345", "phone", "online", "letter"]),
                "subject": rng.choice(SUMMARIES),
                **who,
            },
        )
        case.step("complaint.accept", XF1, {})
        if number < still_open:
            yield case  # past its reply deadline
            continue
        case.step("complaint.assign", XF1, {"department": "信访办", "officer_id": "DY-XF-02"})
        case.step("complaint.investigate", XF2, {"findings": "经现场核查，情况属实"}, days=7)
        if anonymous and number % 16 == 4:
            case.step("complaint.close", XF2, {"note": "匿名举报，已核查处理，无需答复"})
            yield case
            continue
        case.step("complaint.reply", XF2, {"reply": "已责令整改", "method": "电话答复"}, days=5)
        case.step("complaint.close", XF2, {})
        if number % 3 == 0 and not anonymous:
            # 信访办, which registered it, asks the complainant about the reply (回访).
            satisfaction = rng.choice(SATISFACTION)
            visit = {"satisfaction": satisfaction, "method": "电话回访", "notes": "已回访"}
            case.step("complaint.follow_up", XF1, visit, days=5)
        yield case


REFERRALS = [  # 衔接: who sends a dispute to the mediation committee, and how they number it
    ("court", "中山市第二人民法院", "({year})粤2072民诉前调{n}号"),
    ("police", "中山市公安局大涌分局", "大公（治）调字〔{year}〕{n}号"),
    ("petition", "大涌镇信访办", "XF-{year}-{n:04d}"),
]
SUPERVISED = {2020: {0: "on time", 1: "on time", 2: "late", 3: "after closing"}}
"""Which mediations a supervisor urges (督办), by year and case number, and how it is answered."""


@contextmanager
def _own_draws(case: Case) -> Iterator[None]:
    """The steps within draw from the case's own generator, so that they change none of the
    cases generated after it (the shared stream is drawn as it was without them)."""
    shared, case.rng = case.rng, Random(f"{case.case_id}/{len(case.steps)}")
    try:
        yield
    finally:
        case.rng = shared


def _supervise(case: Case, how: str) -> None:
    """A supervision note with a reply-by date a week on, and its answer: within a few days,
    or (late) days after it."""
    respond_by = (case.at + timedelta(days=7)).date()
    text = "请总结调解经验并报送" if how == "after closing" else "请加快调解进度，按期报送进展"
    case.step("case.note_supervision", DC, {"note": text, "respond_by": respond_by.isoformat()})
    noted = len(case.steps)  # every demo step is accepted, so the note is this case version
    if how == "late":  # five days after the due day (a reply-by date on a holiday moves on)
        due = add_calendar_days(respond_by, 0)
        case.at = datetime.combine(due, case.at.timetz()) + timedelta(days=5)
    answer = {"note_version": noted, "answer": "已组织双方再次调解，进展已书面报送"}
    case.step("case.answer_supervision", TJ1, answer, days=3)


def mediations(rng: Random, year: int) -> Iterator[Case]:
    accepted, settled, amount = MEDIATIONS[year]
    supervised = SUPERVISED.get(year, {})
    for number, disputed in enumerate(_split(rng, amount, accepted, least=1_000_000)):
        case = Case(rng, f"TJ-{year}-{number + 1:04d}", _opened(rng, year))
        dispute: dict[str, Any] = {
            "dispute": rng.choice(["租赁合同纠纷", "邻里纠纷", "劳务纠纷", "婚姻家庭纠纷"]),
            "parties": [{"name": f"当事人甲{number}"}, {"name": f"当事人乙{number}"}],
            "amount_in_dispute_fen": disputed,
        }
        # Some come from the police, the petitions office or a court (the first two, passed on
        # from petitions, are linked to them instead: submissions() below).
        if number % 3 == 1 and number > 2:
            channel, body, reference = REFERRALS[number // 3 % len(REFERRALS)]
            dispute["referral"] = {
                "channel": channel,
                "body": body,
                "reference": reference.format(year=year, n=number + 1),
            }
        if number % 2:  # half are registered as an application first, then accepted
            case.step("mediation.register_application", TJ1, dispute)
            with _own_draws(case):
                case.step("mediation.accept_application", TJ1, {"note": "符合受理条件"}, days=2)
        else:
            case.step("mediation.accept", TJ1, dispute)
        case.step("mediation.assign_mediator", TJ1, {"mediator_id": "DY-TJ-02"})
        for _ in range(rng.randint(1, 3)):
            case.step("mediation.hold_session", TJ1, {"notes": "双方陈述意见"}, days=5)
        how = supervised.get(number)
        if how is not None and how != "after closing":
            with _own_draws(case):
                _supervise(case, how)
        if number < settled:
            case.step(
                "mediation.reach_agreement",
                TJ1,
                {
                    "amount_fen": disputed * rng.randint(70, 100) // 100,
                    "terms": "分期履行",
                },
                days=5,
            )
            if number == 4:  # the parties ask the court to confirm the agreement (司法确认)
                court = {"court": "中山市第二人民法院", "note": "双方共同申请"}
                ruling = {"court": court["court"], "ruling_number": f"({year})粤2072民特{number}号"}
                with _own_draws(case):
                    case.step("mediation.record_confirmation_application", TJ1, court, days=3)
                    case.step("mediation.confirm_judicially", TJ1, ruling, days=10)
            case.step("mediation.follow_up", TJ1, {"performed": True, "notes": "已履行"}, days=10)
        else:
            case.step(
                "mediation.record_failure",
                TJ1,
                {
                    "reason": "双方分歧较大",
                    "remedies_told": "可向人民法院起诉",
                },
            )
        case.step("mediation.close", TJ1, {})
        if how == "after closing":
            with _own_draws(case):
                _supervise(case, how)
        yield case


def _wait_until(case: Case, day: date) -> None:
    """Let the next step come no earlier than ``day`` (a period the law makes the office wait)."""
    case.at = max(case.at, datetime.combine(day, time(9), tzinfo=CHINA))


def enforcement(rng: Random, year: int) -> Iterator[Case]:
    """Enforcement cases as the law has them run (行政处罚法 2021): two certified officers on each
    investigative act, the party heard before the decision, collective discussion of major
    cases, service, publication, payment; a few not penalised, a few sent for testing, and a few
    whose fine was not paid, concluded through the court."""
    fine = {"kind": "fine", "amount_fen": FINE_FEN, "description": "罚款人民币伍仟元"}
    for number in range(ENFORCEMENT[year]):
        officer, second = (ZF, ZF_2) if number % 3 else (SC, SC_2)
        case = Case(rng, f"ZF-{year}-{number + 1:04d}", _opened(rng, year))
        case.step(
            "enforcement.register_source",
            officer,
            {
                "source": rng.choice(["日常巡查", "群众举报", "上级交办"]),
                "summary": rng.choice(["无证经营", "违规排污", "占道经营", "违法建设"]),
                "party": {"name": f"某企业{number + 1}", "is_organisation": True},
            },
        )
        if number % 12 == 5:
            case.step("enforcement.decline_filing", officer, {"reason": "违法事实不成立"}, days=10)
            yield case
            continue
        case.step(
            "enforcement.file",
            officer,
            {
                "case_number": f"大涌执法立〔{year}〕{number + 1}号",
                "cause": "涉嫌违法经营",
            },
            days=10,
        )
        case.step(
            "enforcement.collect_evidence",
            officer,
            {
                "items": [
                    {
                        "title": "现场检查笔录",
                        "content_hash": f"{number:064x}",
                        "media_type": "application/pdf",
                    }
                ],
                "officers": [second],
            },
            days=15,
        )
        if year == 2020 and number in (1, 2):
            yield case  # still investigating: its 90-day decision deadline is long past (red)
            continue
        if number % 12 == 7:
            case.step(
                "enforcement.transfer_case",
                officer,
                {"to_authority": "公安分局", "reason": "涉嫌犯罪"},
                days=10,
            )
            case.step("enforcement.close", officer, {})
            yield case
            continue
        if number % 7 == 2:
            case.step(
                "enforcement.start_testing",
                officer,
                {
                    "kind": "testing",
                    "institution": "中山市质量计量监督检测所",
                    "samples": "抽取样品2件送检",
                    "officers": [second],
                },
            )
            case.step("enforcement.finish_testing", officer, {"result": "所检项目不合格"}, days=20)
        major = number % 9 == 0
        case.step(
            "enforcement.review",
            officer,
            {"opinion": "事实清楚，证据充分", "major": major},
            days=10,
        )
        if major:
            case.step(
                "enforcement.record_legal_review",
                FZ,
                {"approved": True, "opinion": "适用法律正确，程序合法"},
                days=5,
            )
        if number % 12 == 9:
            yield _not_penalised(case, officer, year, number)
            continue
        case.step(
            "enforcement.notify_party",
            officer,
            {"intended_penalty": fine, "rights": "陈述、申辩及要求听证的权利"},
        )
        if number % 8 == 3:
            case.step("enforcement.request_hearing", officer, {})
            case.step(
                "enforcement.hold_hearing", officer, {"record": "当事人到场陈述申辩"}, days=10
            )
        elif number % 2:
            case.step("enforcement.record_statement", officer, {"waived": True})
        else:
            statement = {
                "statement": "对违法事实无异议，请求从轻处罚",
                "review": "当事人已改正，理由部分成立，在拟处罚幅度内处罚",
                "adopted": True,
            }
            case.step("enforcement.record_statement", officer, statement)
        if major:
            case.step(
                "enforcement.hold_collective_discussion",
                officer,
                {"participants": ["陈局长", "李副局长", "张副局长"], "conclusion": "同意处罚"},
                days=3,
            )
        case.step(
            "enforcement.decide",
            officer,
            {
                "decision_number": f"大涌执法罚〔{year}〕{number + 1}号",
                "legal_basis": "《无证无照经营查处办法》第十三条",
                "penalty": fine,
                "major": major,
            },
            days=5,
        )
        case.step("enforcement.serve_decision", officer, {"method": "直接送达"})
        served = case.at
        publication = {"published": True, "channel": "国家企业信用信息公示系统"}
        case.step("enforcement.publish_decision", officer, publication, days=5)
        if number % 10 == 6:
            yield _unpaid(case, officer, served)
            continue
        receipt = {"bank_receipt": f"GDNX{year}{number:06d}", "note": "已缴纳罚款"}
        case.step("enforcement.execute", officer, receipt, days=8)
        case.step("enforcement.close", officer, {})
        yield case


# --- information-disclosure requests (政府信息公开申请) ------------------------------------------
#
# The report's figure for 2020 is none: "1至12月，我镇收到来自群众、社会团体的依申请公开的信件0件"
# (seed line 30), so the demo's 2020 has no request. The requests below are ILLUSTRATIVE, made
# up for the demo and not from the report: a few in early 2021, one of each answer type of
# 政府信息公开条例 第三十六条 to 第三十九条, with a correction, a request deemed withdrawn, third
# parties consulted (objecting, and not answering in time) and an extension. Their dates are
# fixed, so that each step keeps to the law's days (correction within 7 working days, the third
# party's 15), and they draw nothing from the seeded generator the report's figures come from.

DISCLOSURES_2020 = 0
"""依申请公开的信件0件: the report's 2020 figure."""
DZ = {"officer_id": "DY-DZ-01", "role": "officer", "department": "党政办"}

_Step = tuple[str, str, dict[str, Any]]
"""(China-time day and hour "2021-01-11 10", submission type, payload)."""


def _request(
    number: int, day: str, channel: str, information: str, *steps: _Step
) -> list[dict[str, Any]]:
    """One illustrative request: registered on ``day`` by 党政办, then ``steps``."""
    case_id = f"GK-2021-{number:04d}"
    opening: _Step = (
        day,
        "disclosure.register",
        {
            "channel": channel,
            "applicant": {"name": f"申请人{number}", "phone": f"1370000{number:04d}"},
            "applicant_kind": "organisation" if number % 4 == 0 else "person",
            "information": information,
        },
    )
    return [
        {
            "type": kind,
            "submission_id": str(uuid.uuid5(NAMESPACE, f"{case_id}/{index}")),
            "case_id": case_id,
            "actor": DZ,
            "occurred_at": datetime.strptime(when, "%Y-%m-%d %H").replace(tzinfo=CHINA).isoformat(),
            "payload": payload,
        }
        for index, (when, kind, payload) in enumerate([opening, *steps])
    ]


def _answer(day: str, answer: str, reply: str, **extra: str) -> _Step:
    return (day, "disclosure.answer", {"answer": answer, "reply": reply, **extra})


def _close(day: str) -> _Step:
    return (day, "disclosure.close", {"note": "已答复，办结"})


def illustrative_disclosures() -> list[list[dict[str, Any]]]:
    """The demo's information-disclosure requests of 2021 (illustrative, not from the report),
    each a list of submissions in order."""
    consult = "disclosure.consult_third_party"
    opinion = "disclosure.record_third_party_opinion"
    return [
        _request(
            1,
            "2021-01-11 10",
            "in_person",
            "2020年大涌镇道路硬底化工程中标公告",
            _answer("2021-01-20 15", "disclosed", "现以纸质方式向您提供该中标公告"),
            _close("2021-01-21 09"),
        ),
        _request(
            2,
            "2021-01-18 10",
            "online",
            "大涌镇2020年财政预算执行情况",
            _answer(
                "2021-01-19 11", "already_public", "该信息已在镇政府门户网站财政信息栏目主动公开"
            ),
            _close("2021-01-19 16"),
        ),
        _request(
            3,
            "2021-02-01 10",
            "post",
            "南文村旧厂房改造项目投标文件",
            (
                "2021-02-02 10",
                consult,
                {
                    "consulted": "third_party",
                    "name": "某建筑工程有限公司",
                    "interests": "投标报价含商业秘密",
                },
            ),
            (
                "2021-02-22 10",
                opinion,
                {"view": "objects", "opinion": "报价明细属商业秘密，不同意公开"},
            ),
            _answer(
                "2021-03-01 15",
                "partly_disclosed",
                "提供中标结果；投标报价明细不予公开",
                ground="third_party_rights",
            ),
            _close("2021-03-02 10"),
        ),
        _request(
            4,
            "2021-03-01 10",
            "letter",
            "镇党政联席会议关于旧村改造的讨论记录",
            _answer(
                "2021-03-12 15",
                "withheld",
                "该信息属于讨论记录等过程性信息，不予公开",
                ground="deliberative",
            ),
            _close("2021-03-15 10"),
        ),
        _request(
            5,
            "2021-03-03 10",
            "online",
            "2015年某村委会换届选举原始选票",
            _answer("2021-03-17 15", "does_not_exist", "经检索，本机关未制作或获取该信息"),
            _close("2021-03-18 10"),
        ),
        _request(
            6,
            "2021-03-08 10",
            "online",
            "大涌镇2021年度国土空间规划用地指标",
            _answer(
                "2021-03-10 15",
                "not_this_office",
                "该信息不属于本机关负责公开",
                holder="中山市自然资源局",
            ),
            _close("2021-03-11 10"),
        ),
        _request(
            7,
            "2021-03-22 10",
            "online",
            "2020年大涌镇道路硬底化工程中标公告",
            _answer(
                "2021-03-23 11", "repeated", "您申请的同一信息已于2021年1月20日答复，不予重复处理"
            ),
            _close("2021-03-23 16"),
        ),
        _request(
            8,
            "2021-03-24 10",
            "in_person",
            "某房屋的不动产登记资料",
            _answer(
                "2021-03-25 15",
                "special_procedure",
                "请依照不动产登记的有关规定向不动产登记机构查询",
            ),
            _close("2021-03-26 10"),
        ),
        _request(
            9,
            "2021-04-06 10",
            "online",
            "全镇近十年各村集体经济收入的汇总分析",
            _answer("2021-04-15 15", "needs_processing", "该信息需对现有信息加工、分析，不予提供"),
            _close("2021-04-16 10"),
        ),
        _request(
            10,
            "2021-04-07 10",
            "letter",
            "要求查处某餐馆油烟扰民",
            _answer("2021-04-08 15", "not_a_request", "该诉求属于投诉，请通过12345热线提出"),
            _close("2021-04-09 10"),
        ),
        _request(
            11,
            "2021-04-12 10",
            "online",
            "中山市统计年鉴（2020）",
            _answer("2021-04-13 15", "publication", "该信息见公开出版物，可在图书馆查阅"),
            _close("2021-04-14 10"),
        ),
        _request(
            12,
            "2021-01-25 10",
            "online",
            "镇里的道路资料",
            (
                "2021-01-27 10",
                "disclosure.request_correction",
                {"items": "请明确道路名称和所需信息的年份", "correct_by": "2021-02-05"},
            ),
            (
                "2021-02-03 10",
                "disclosure.receive_correction",
                {"information": "2020年岚田路改造工程竣工验收报告"},
            ),
            _answer("2021-02-24 15", "disclosed", "现以电子邮件方式向您提供该报告"),
            _close("2021-02-25 10"),
        ),
        _request(
            13,
            "2021-02-01 11",
            "letter",
            "有关部门的文件",
            (
                "2021-02-03 10",
                "disclosure.request_correction",
                {"items": "请明确所需文件的名称或文号", "correct_by": "2021-02-24"},
            ),
            (
                "2021-02-26 10",
                "disclosure.deem_withdrawn",
                {"reason": "申请人无正当理由逾期未补正"},
            ),
        ),
        _request(
            14,
            "2021-03-15 10",
            "online",
            "某企业扩建项目环评批复附件",
            (
                "2021-03-16 10",
                consult,
                {
                    "consulted": "third_party",
                    "name": "某化工企业",
                    "interests": "附件含企业工艺信息",
                },
            ),
            ("2021-04-08 10", opinion, {"view": "no_reply"}),
            (
                "2021-04-09 10",
                "case.extend",
                {
                    "clock": "disclosure.answer",
                    "days": 10,
                    "reason": "需会同生态环境部门核实，经党政办负责人同意，已告知申请人",
                },
            ),
            _answer("2021-04-20 15", "disclosed", "第三方逾期未提出意见，经审查予以公开"),
            _close("2021-04-21 10"),
        ),
    ]


def _not_penalised(case: Case, officer: dict[str, str], year: int, number: int) -> Case:
    """First offence, slight harm, corrected at once: not penalised (行政处罚法 第三十三条)."""
    case.step(
        "enforcement.decide_no_penalty",
        officer,
        {
            "decision_number": f"大涌执法不罚〔{year}〕{number + 1}号",
            "ground": "first_offence",
            "reasoning": "当事人首次违法，危害后果轻微，已当场改正",
            "education": "已对当事人进行法治宣传教育",
        },
        days=5,
    )
    case.step("enforcement.serve_no_penalty_decision", officer, {"method": "直接送达"})
    case.step("enforcement.close", officer, {})
    return case


def _unpaid(case: Case, officer: dict[str, str], served: datetime) -> Case:
    """The fine not paid: a demand with the late-payment fine, the periods for review and suit
    over, the court asked and accepting; the office's part then ends."""
    served_on = local_day(served)
    due = add_calendar_days(served_on, 15)  # the fifteen days to pay (行政处罚法 第六十七条)
    _wait_until(case, due + timedelta(days=10))
    overdue = (local_day(case.at) - due).days
    late_fine = min(FINE_FEN, FINE_FEN * 3 * overdue // 100)  # 3% a day, capped (第七十二条)
    case.step(
        "enforcement.demand_payment",
        officer,
        {
            "late_fine_fen": late_fine,
            "perform_by": (local_day(case.at) + timedelta(days=10)).isoformat(),
            "method": "直接送达",
        },
    )
    # six months to sue from the service (行政诉讼法 第四十六条), then three to ask the court
    _wait_until(case, add_calendar_months(served_on, 6) + timedelta(days=1))
    case.step(
        "enforcement.record_no_appeal",
        officer,
        {"note": "经核实，当事人在法定期限内未申请行政复议，也未提起行政诉讼"},
    )
    case.step(
        "enforcement.apply_to_court",
        officer,
        {
            "court": "中山市第一人民法院",
            "amount_fen": FINE_FEN + late_fine,
            "note": "强制执行申请书",
        },
        days=10,
    )
    case.step(
        "enforcement.record_court_acceptance",
        officer,
        {"docket_number": f"行审{case.case_id}"},
        days=5,
    )
    case.step("enforcement.close", officer, {})
    return case


def _link(cases: list[Case], sources: list[Case], lead: str | None, note: str) -> None:
    """Link each case (those whose lead was ``lead``, when given) to the latest source case
    opened before it, once each (案件关联: a complaint that led to a penalty case, a petition
    passed on to mediation). The link is the case's last step, by its own officer."""
    free = sorted(sources, key=lambda c: c.steps[0]["occurred_at"])
    for case in cases:
        opening = case.steps[0]
        if lead is not None and opening["payload"].get("source") != lead:
            continue
        earlier = [c for c in free if c.steps[0]["occurred_at"] < opening["occurred_at"]]
        if not earlier:
            continue
        source = earlier[-1]
        free.remove(source)
        # Its own draws, so that linking changes none of the cases generated after it.
        case.rng = Random(case.case_id)
        link = {"kind": "originated_from", "other_case_id": source.case_id, "note": note}
        case.step("case.link", opening["actor"], link)


def submissions(seed: int = 2020) -> list[dict[str, Any]]:
    """Every submission of the demo's 2019 and 2020, each case's in order, then the illustrative
    information-disclosure requests of 2021."""
    rng = Random(seed)
    every: list[dict[str, Any]] = []
    for year in (2019, 2020):
        made = {kind: list(kind(rng, year)) for kind in (petitions, complaints, mediations)}
        made[enforcement] = list(enforcement(rng, year))
        _link(made[enforcement], made[complaints], "群众举报", "由投诉举报转立案查处")
        _link(made[mediations][:2], made[petitions], None, "信访事项转人民调解（访调对接）")
        for cases in made.values():
            for case in cases:
                every += case.steps
    for request in illustrative_disclosures():
        every += request
    return every


async def load(settings: Settings, say: Say) -> dict[str, int]:
    """Publish the demo year to the submissions topic (key = case_id, each signed with its
    department's key, as any department's Kafka client would) and wait until every submission
    has its outcome."""
    settings = settings.as_kafka_user(KafkaRole.DEPARTMENT)
    # Each department of the officer directory (the demo town's unless another is configured).
    signers = DepartmentSigners.load(demo_settings(settings))
    bodies = [signers.sign(body) for body in submissions()]
    requests = len(illustrative_disclosures())
    say(
        f"publishing {len(bodies)} submissions of 2019 and 2020 and of {requests} illustrative"
        " information-disclosure requests of 2021 (not from the report, which counts none in"
        " 2020); waiting for the decider"
    )
    progress = Progress(len(bodies), say, unit="decided")
    outcomes = await submit_and_wait(settings, bodies, 600, progress.set)
    counts = Counter(str(outcome.status) for outcome in outcomes.values())
    rejected = [o for o in outcomes.values() if o.status != "accepted"]
    for outcome in rejected[:5]:
        say(f"  rejected {outcome.case_id}: {outcome.code} {outcome.message}")
    return dict(counts)
