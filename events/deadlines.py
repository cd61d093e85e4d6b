"""Time limits (期限): clock rules with their defaults, open clocks, and the lights (亮灯警示).

Pure: every instant is passed in, nothing here reads the clock.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Self

from pydantic import Field, model_validator

from events.calendar import (
    CHINA,
    CalendarNotCovered,
    add_calendar_days,
    add_working_days,
    calendar_days_between,
    is_working_day,
    local_day,
    working_days_between,
)
from events.model import Frozen, SortedStrings, UtcDatetime


class DayCount(StrEnum):
    """How a period is counted."""

    CALENDAR = "calendar"
    WORKING = "working"
    MONTH = "month"
    """Whole months (民法典 第二百零二条); days a clock in months stands still are counted in
    calendar days and move its start."""


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    UNKNOWN = "unknown"
    """The due day cannot be counted: it lies in a year no holiday schedule covers (the decider
    refuses such deadlines; this shows only if the schedules changed after one was accepted)."""


class Pause(Frozen):
    """A stretch of time a clock does not count: from event type ``on`` until event type
    ``until`` (the case's suspension pauses every clock as well)."""

    on: str = Field(min_length=1, examples=["disclosure.correction_requested"])
    until: str = Field(min_length=1, examples=["disclosure.correction_received"])


SUSPENSION = "case.suspended"
"""The pause every clock takes while the case is suspended (中止)."""

EVERY_CASE_TYPE = "*"
"""A rule's ``case_type`` when it runs on cases of every type (a supervision note's answer)."""

KEY_SEPARATOR = "#"
"""Between a rule's name and the case version of the event that started one of its clocks, in
the name of a clock of a rule that keeps one clock per starting event."""


def rule_name(clock_name: str) -> str:
    """The rule a clock belongs to: "case.supervision_answer#5" → "case.supervision_answer"."""
    return clock_name.split(KEY_SEPARATOR, 1)[0]


ENFORCEMENT_TESTING = Pause(on="enforcement.testing_started", until="enforcement.testing_finished")
"""Testing, inspection, quarantine, appraisal (检测、检验、检疫、鉴定): not counted in the
filing or the decision period (市场监督管理行政处罚程序规定 第十八条第二款; 第六十四条, its number
not checked against the text)."""
ENFORCEMENT_HEARING = Pause(on="enforcement.hearing_requested", until="enforcement.hearing_held")
"""From the party's request for a hearing until it is held: not counted in the decision period."""


class ClockRule(Frozen):
    """A configurable time limit: which event starts it, which stop it, how long it runs."""

    name: str = Field(min_length=1, pattern=r"^[^#]+$", examples=["petition.acceptance"])
    case_type: str = Field(
        min_length=1,
        examples=["petition"],
        description=f"The case type it runs on, or {EVERY_CASE_TYPE!r} for every case type.",
    )
    title: str = Field(min_length=1, examples=["受理告知 / Decide whether to accept"])
    length: int = Field(gt=0)
    unit: DayCount
    starts_on: str = Field(min_length=1, examples=["petition.registered"])
    stops_on: frozenset[str] = Field(
        description="Event types that stop the clock; closing the case stops every clock anyway."
    )
    restarts_on: frozenset[str] = Field(
        default=frozenset(),
        description="Event types that also start it, afresh if it runs (reopening; a second way"
        " into the stage it times, as accepting a registered mediation application).",
    )
    pauses: tuple[Pause, ...] = Field(
        default=(),
        description="Stretches the law leaves out of the period (a correction asked of the"
        " applicant, a hearing, testing): the clock stands still from `on` until `until`.",
    )
    extendable_by: int = Field(default=0, ge=0, description="Total extension allowed, in `unit`.")
    further_extension_on: str | None = Field(
        default=None,
        description="The event type by which a further extension beyond `extendable_by` is"
        " decided (its payload's `days`), e.g. the department heads' collective discussion;"
        " None: no further extension.",
    )
    warn_within: int = Field(
        default=3, ge=0, description="Yellow when this many working days or fewer remain."
    )
    source: str = Field(min_length=1, description="The regulation or practice the default is from.")
    per_event: str | None = Field(
        default=None,
        description="Set for a rule that keeps one clock per starting event, so that several run"
        " at once (one per supervision note): each clock is named `<name>#<case version of the"
        " starting event>`, and a stopping event stops only the clock whose version its payload"
        " field `per_event` names.",
    )
    due_from: str | None = Field(
        default=None,
        description="A payload field of the starting event that may fix the due day (a date):"
        " when given, the clock counts calendar days to it instead of `length` `unit`s.",
    )
    follows_case: bool = Field(
        default=True,
        description="False for a time limit owed to someone outside the case's handling (a"
        " supervisor's reply-by date): the case's suspension does not pause it and its closing"
        " does not stop it; only its own stopping event does.",
    )

    judges_handling: bool = Field(
        default=True,
        description="False for a limit that is not the office's own handling of the case (the"
        " parties' window to apply for judicial confirmation, a supervisor's reply-by date, the"
        " party's time to pay, a consulted third party's time to answer, the reviewing body's"
        " time for a petition review): it lights up like any other, but missing it does not"
        " make the case's closing late (按期办结率).",
    )

    @model_validator(mode="after")
    def _stop_differs_from_start(self) -> Self:
        if self.starts_on in self.stops_on:
            raise ValueError(f"{self.name}: {self.starts_on} both starts and stops the clock")
        if self.per_event is not None and self.restarts_on:
            raise ValueError(f"{self.name}: a clock per starting event is never restarted")
        return self

    def applies_to(self, case_type: str) -> bool:
        return self.case_type in (case_type, EVERY_CASE_TYPE)

    def clock_name(self, key: int | None) -> str:
        """The name of the clock started by the event of case version ``key``."""
        return self.name if self.per_event is None else f"{self.name}{KEY_SEPARATOR}{key}"


def _rule(**fields: Any) -> ClockRule:
    return ClockRule.model_validate(fields)


SUPERVISION_CLOCK = "case.supervision_answer"
"""The rule of a supervision note's answer: one clock per note, ``<rule>#<note's version>``."""

DEFAULT_RULES: tuple[ClockRule, ...] = (
    _rule(
        name="petition.acceptance",
        case_type="petition",
        title="受理告知 / Decide whether to accept",
        length=15,
        unit=DayCount.CALENDAR,
        starts_on="petition.registered",
        stops_on=frozenset({"petition.accepted", "petition.not_accepted"}),
        source="信访工作条例（2022）（15日内告知是否受理；条号未经核对 / article number not"
        " checked against the text）",
    ),
    _rule(
        name="petition.handling",
        case_type="petition",
        title="办理答复 / Handle and reply",
        length=60,
        unit=DayCount.CALENDAR,
        extendable_by=30,
        starts_on="petition.accepted",
        stops_on=frozenset({"petition.opinion_issued"}),
        restarts_on=frozenset({"case.reopened"}),
        source="信访工作条例（2022）（60日内办结，可延长不超过30日；条号未经核对 / article number"
        " not checked against the text）",
    ),
    _rule(
        name="petition.review",
        case_type="petition",
        title="复查意见 / Review opinion by the authority above",
        length=30,
        unit=DayCount.CALENDAR,
        starts_on="petition.review_requested",
        stops_on=frozenset({"petition.review_decided"}),
        # No extension: the article gives none (unlike the 60 days of handling).
        judges_handling=False,  # the reviewing body's time, not the handling office's
        source="信访工作条例（2022）第三十五条（收到复查请求之日起30日内提出复查意见，条文未规定"
        "延长；内容与2005年《信访条例》第三十四条相同并经核对，2022年条号据第三方摘录、未经原文核对"
        " / content checked, the 2022 article number only against a secondary source）",
    ),
    _rule(
        name="petition.second_review",
        case_type="petition",
        title="复核意见 / Second review opinion",
        length=30,
        unit=DayCount.CALENDAR,
        starts_on="petition.second_review_requested",
        stops_on=frozenset({"petition.second_review_decided"}),
        pauses=(Pause(on="petition.hearing_scheduled", until="petition.hearing_concluded"),),
        judges_handling=False,  # the reviewing body's time, not the handling office's
        source="信访工作条例（2022）第三十六条（收到复核请求之日起30日内提出复核意见，听证所需时间"
        "不计算在内，条文未规定延长；内容经广东省信访局公开答问核对，条号未经原文核对 / content"
        " checked, the article number not checked against the text）",
    ),
    _rule(
        name="complaint.acceptance",
        case_type="complaint",
        title="决定是否受理 / Decide whether to accept",
        length=7,
        unit=DayCount.WORKING,
        starts_on="complaint.registered",
        stops_on=frozenset({"complaint.accepted", "complaint.not_accepted"}),
        source="市场监督管理投诉举报处理暂行办法（2019）第十四条（自收到投诉之日起七个工作日内作出"
        "受理或者不予受理的决定；内容经市场监管部门公开办事指南核对，条号据第三方摘录、未经原文"
        "核对）；该办法管市场监管投诉，本系统以之为所有投诉举报的默认值（可配置） / the market"
        " regulators' rule for consumer complaints, used as every complaint's default"
        " (configurable)",
    ),
    _rule(
        name="complaint.reply",
        case_type="complaint",
        title="答复投诉人 / Reply to the complainant",
        length=15,
        unit=DayCount.WORKING,
        starts_on="complaint.accepted",
        stops_on=frozenset({"complaint.replied"}),
        restarts_on=frozenset({"case.reopened"}),
        source="可配置的默认值，非法定期限：没有一条规定统一约束本镇收到的各类投诉举报的答复期限"
        " / a configurable default, not a statutory period: no one rule sets the reply period"
        " for every kind of complaint and report the town receives",
    ),
    _rule(
        name="mediation.conclusion",
        case_type="mediation",
        title="调解结案 / Conclude the mediation",
        length=30,
        unit=DayCount.CALENDAR,
        starts_on="mediation.accepted",
        restarts_on=frozenset({"mediation.application_accepted"}),
        stops_on=frozenset({"mediation.agreement_reached", "mediation.failed"}),
        source="人民调解工作若干规定（司法部，2002）第三十三条（一般在一个月内调结）",
    ),
    _rule(
        name="mediation.judicial_confirmation",
        case_type="mediation",
        title="申请司法确认期限 / Window to apply for judicial confirmation",
        length=30,
        unit=DayCount.CALENDAR,
        starts_on="mediation.agreement_reached",
        stops_on=frozenset(
            {"mediation.judicial_confirmation_applied", "mediation.judicially_confirmed"}
        ),
        judges_handling=False,  # the parties' own window, not the committee's work
        source="人民调解法 第三十三条（双方当事人可以自调解协议生效之日起三十日内共同向人民法院"
        "申请司法确认）；第二十九条（调解协议书自各方签名、盖章或者按指印之日起生效）",
    ),
    _rule(
        name="enforcement.filing",
        case_type="enforcement",
        title="核查立案 / Verify the lead and decide on filing",
        length=15,
        unit=DayCount.WORKING,
        extendable_by=15,
        starts_on="enforcement.source_registered",
        stops_on=frozenset({"enforcement.filed", "enforcement.case_transferred"}),
        pauses=(ENFORCEMENT_TESTING,),
        source="市场监督管理行政处罚程序规定 第十八条（自发现线索或者收到材料之日起十五个工作日内"
        "核查，决定是否立案；特殊情况经负责人批准可延长十五个工作日；检测、检验、检疫、鉴定等"
        "所需时间不计入）",
    ),
    _rule(
        name="enforcement.decision",
        case_type="enforcement",
        title="作出处理决定 / Decide after filing",
        length=90,
        unit=DayCount.CALENDAR,
        extendable_by=30,
        further_extension_on="enforcement.further_extension_decided",
        starts_on="enforcement.filed",
        stops_on=frozenset(
            {
                "enforcement.decision_made",
                "enforcement.no_penalty_decided",
                "enforcement.case_transferred",
            }
        ),
        pauses=(ENFORCEMENT_TESTING, ENFORCEMENT_HEARING),
        source="行政处罚法（2021）第六十条（自立案之日起九十日内作出行政处罚决定；法律、法规、"
        "规章另有规定的，从其规定）；市场监督管理行政处罚程序规定 第六十四条（经负责人批准可延长"
        "三十日；经延期仍不能作出处理决定的，由负责人集体讨论决定是否继续延期；听证、检测、检验、"
        "检疫、鉴定等时间不计入）（条文内容经核对，条号未经核对 / content checked, article number"
        " not checked against the text）",
    ),
    _rule(
        name="enforcement.service",
        case_type="enforcement",
        title="送达决定书 / Serve the decision",
        length=7,
        unit=DayCount.CALENDAR,
        starts_on="enforcement.decision_made",
        # A decision not to penalise is served the same way (不予行政处罚决定书).
        restarts_on=frozenset({"enforcement.no_penalty_decided"}),
        stops_on=frozenset(
            {"enforcement.decision_served", "enforcement.no_penalty_decision_served"}
        ),
        source="行政处罚法（2021）第六十一条（当事人不在场的，应当在七日内依照民事诉讼法的有关"
        "规定送达）",
    ),
    _rule(
        name="enforcement.payment",
        case_type="enforcement",
        title="缴纳罚款 / Pay the fine (perform the decision)",
        length=15,
        unit=DayCount.CALENDAR,
        starts_on="enforcement.decision_served",
        # Once the fine is overdue the office's next lawful step is the demand (催告); from
        # then on the court-application clock is the one that matters.
        stops_on=frozenset({"enforcement.executed", "enforcement.payment_demanded"}),
        judges_handling=False,  # the party's time to pay: the office acts once it is over
        source="行政处罚法（2021）第六十七条第三款（自收到行政处罚决定书之日起十五日内缴纳罚款）；"
        "第六十六条（在决定书载明的期限内履行）",
    ),
    _rule(
        name="enforcement.publication",
        case_type="enforcement",
        title="公示处罚决定 / Publish the decision",
        length=20,
        unit=DayCount.WORKING,
        starts_on="enforcement.decision_made",
        stops_on=frozenset({"enforcement.decision_published"}),
        source="行政处罚法（2021）第四十八条（具有一定社会影响的行政处罚决定应当依法公开）；"
        "市场监督管理行政处罚信息公示规定 第九条（自作出行政处罚决定之日起二十个工作日内公示）",
    ),
    _rule(
        name="enforcement.court_application",
        case_type="enforcement",
        title="申请法院强制执行 / Apply to the court for enforcement",
        length=3,
        unit=DayCount.MONTH,
        starts_on="enforcement.no_appeal_recorded",
        stops_on=frozenset({"enforcement.court_enforcement_applied", "enforcement.executed"}),
        source="行政强制法 第五十三条（当事人在法定期限内不申请行政复议或者提起行政诉讼，又不履行"
        "的，自期限届满之日起三个月内申请人民法院强制执行）",
    ),
    _rule(
        name="disclosure.answer",
        case_type="disclosure",
        title="答复申请人 / Answer the applicant",
        length=20,
        unit=DayCount.WORKING,
        extendable_by=20,
        starts_on="disclosure.registered",
        stops_on=frozenset({"disclosure.answered"}),
        # 第三十条: the period runs afresh from the day the corrected request is received; the
        # pause keeps it from lighting up while the applicant has the request.
        restarts_on=frozenset({"disclosure.correction_received"}),
        pauses=(
            Pause(on="disclosure.correction_requested", until="disclosure.correction_received"),
            Pause(on="disclosure.third_party_consulted", until="disclosure.third_party_replied"),
        ),
        source="政府信息公开条例（2019）第三十三条（收到申请之日起20个工作日内答复；经政府信息公开"
        "工作机构负责人同意并告知申请人，可延长不超过20个工作日；征求第三方和其他机关意见所需时间"
        "不计算在内）、第三十条（答复期限自收到补正的申请之日起计算）。大涌镇2020年法治政府建设"
        "报告所称“登记之日起15个工作日内进行实质性审查”是本镇审查惯例，不是法定答复期限，"
        "默认不采用 / The national rule; the town's 15 working days are its own review practice",
    ),
    _rule(
        name="disclosure.third_party_reply",
        case_type="disclosure",
        title="第三方提出意见 / The consulted party's time for its opinion",
        length=15,
        unit=DayCount.WORKING,
        starts_on="disclosure.third_party_consulted",
        stops_on=frozenset({"disclosure.third_party_replied"}),
        judges_handling=False,  # the consulted party's time: the office waits for it
        source="政府信息公开条例（2019）第三十二条（第三方自收到征求意见书之日起15个工作日内提出"
        "意见，逾期未提出的由行政机关决定是否公开）；征求其他行政机关意见的15个工作日见第三十四条"
        "（条文未经核对 / article not checked against the text）。自发出征求意见之日起算 / counted"
        " from the day the consultation is sent",
    ),
    _rule(
        name=SUPERVISION_CLOCK,
        case_type=EVERY_CASE_TYPE,
        title="督办反馈 / Answer the supervision note",
        length=5,
        unit=DayCount.WORKING,
        starts_on="case.supervision_noted",
        stops_on=frozenset({"case.supervision_answered"}),
        per_event="note_version",
        due_from="respond_by",
        follows_case=False,
        judges_handling=False,
        source="督办意见所定的反馈期限（respond_by）；未定期限的，本镇工作惯例五个工作日（可配置）"
        " / The reply-by date the note sets; without one, the town's practice of 5 working days"
        " (configurable)",
    ),
)


def rules_by_name(rules: Iterable[ClockRule]) -> dict[str, ClockRule]:
    """Index rules by name; a duplicate name is a configuration error."""
    index: dict[str, ClockRule] = {}
    for rule in rules:
        if rule.name in index:
            raise ValueError(f"duplicate clock rule {rule.name!r}")
        index[rule.name] = rule
    return index


class Clock(Frozen):
    """An open deadline in a case's state."""

    rule: str = Field(
        description="The clock's name: its rule's name, followed by `#<case version of the"
        " starting event>` for a rule that keeps one clock per starting event (`per_event`)."
    )
    unit: DayCount
    length: int = Field(ge=0, description="0: due the day it starts (a same-day reply-by date).")
    warn_within: int = Field(ge=0)
    extendable_by: int = Field(ge=0)
    started_on: date = Field(description="China-local day of the starting event's occurred_at.")
    extended_by: int = Field(default=0, ge=0, description="Extension granted so far, in `unit`.")
    further_extended_by: int = Field(
        default=0, ge=0, description="Further extension decided collectively, in `unit`."
    )
    paused_units: int = Field(
        default=0,
        ge=0,
        description="Units spent standing still, in `unit` (in days for a clock in months).",
    )
    paused_since: UtcDatetime | None = Field(
        default=None, description="Set while the clock stands still (suspension or a pause)."
    )
    judges_handling: bool = Field(
        default=True, description="Copied from its rule: missing it makes the closing late."
    )
    paused_by: SortedStrings = Field(
        default=frozenset(),
        description="What holds it still: the events that began each pause still running.",
    )
    uncounted_pauses: tuple[tuple[date, date], ...] = Field(
        default=(),
        description="Stretches a clock in working days stood still whose working days the"
        " calendar could not count when they ended (a year no source covered, in a fold"
        " without the schedule the decider had): counted into the due day once it can.",
    )

    @model_validator(mode="after")
    def _within_extension(self) -> Self:
        if self.extended_by > self.extendable_by:
            raise ValueError(f"extended by {self.extended_by}, only {self.extendable_by} allowed")
        return self

    @property
    def rule_name(self) -> str:
        return rule_name(self.rule)

    def _with(self, **changes: Any) -> "Clock":
        # model_copy(update=...) skips validation; rebuilding keeps the invariants checked.
        return Clock.model_validate({**self.model_dump(), **changes})

    def due_day(self) -> date:
        """The last day of the period, extensions and suspensions included."""
        if self.unit is DayCount.MONTH:
            start = self.started_on + timedelta(days=self.paused_units)
            return add_calendar_months(
                start, self.length + self.extended_by + self.further_extended_by
            )
        total = self.length + self.extended_by + self.further_extended_by + self.paused_units
        if self.unit is DayCount.WORKING:
            total += sum(working_days_between(*pause) for pause in self.uncounted_pauses)
            return add_working_days(self.started_on, total)
        return add_calendar_days(self.started_on, total)

    def due_at(self) -> datetime:
        """The first instant after the due day (00:00 China time of the next day), in UTC."""
        next_day = self.due_day() + timedelta(days=1)
        return datetime.combine(next_day, time(0), tzinfo=CHINA).astimezone(UTC)

    def remaining_working_days(self, at: datetime) -> int:
        """Working days after the China day of `at` up to and including the due day; 0 if past."""
        return working_days_between(local_day(at), self.due_day())

    def counted_due_day(self) -> date | None:
        """The due day, or None when the calendar cannot count it (``CalendarNotCovered``)."""
        try:
            return self.due_day()
        except CalendarNotCovered:
            return None

    def light(self, at: datetime) -> Light:
        """Red once the due day is over, yellow within `warn_within` working days, else green;
        unknown when the calendar cannot count the due day."""
        try:
            return self._light(at)
        except CalendarNotCovered:
            return Light.UNKNOWN

    def _light(self, at: datetime) -> Light:
        # A suspended clock does not run: it shows what it showed when the suspension began.
        moment = self.paused_since if self.paused_since is not None else at
        today = local_day(moment)  # also rejects a naive instant before it is compared
        if moment >= self.due_at():
            return Light.RED
        if working_days_between(today, self.due_day()) <= self.warn_within:
            return Light.YELLOW
        return Light.GREEN

    def yellow_from(self) -> datetime:
        """The first instant the (running) clock is yellow: the start of the first China day
        with ``warn_within`` working days or fewer left. Lets a database compute lights."""
        due, day = self.due_day(), self.due_day()
        while working_days_between(day - timedelta(days=1), due) <= self.warn_within:
            day -= timedelta(days=1)
        return datetime.combine(day, time(0), tzinfo=CHINA).astimezone(UTC)

    def paused(self, at: datetime, by: str = SUSPENSION) -> "Clock":
        """Stop the clock at `at` for `by`; a clock already standing still keeps its original
        start and waits for every pause to end."""
        if self.paused_since is not None:
            return self._with(paused_by=self.paused_by | {by})
        return self._with(paused_since=at, paused_by=frozenset({by}))

    def resumed(self, at: datetime, by: str = SUSPENSION) -> "Clock":
        """End the pause `by` at `at`; once no pause holds the clock, the days it stood still
        (in `unit`) are added to the period."""
        if self.paused_since is None:
            return self
        # A clock paused before pauses were named has paused_by empty: any resumption ends it.
        holding = self.paused_by - {by}
        if holding:
            return self._with(paused_by=holding)
        since, until = local_day(self.paused_since), local_day(at)
        ended: dict[str, Any] = {"paused_since": None, "paused_by": frozenset()}
        if self.unit is not DayCount.WORKING:  # months stand still in calendar days
            spent = calendar_days_between(since, until)
            return self._with(paused_units=self.paused_units + spent, **ended)
        try:
            spent = working_days_between(since, until)
        except CalendarNotCovered:
            # Folding never stops on an event the decider accepted: the stretch waits for the
            # calendar, and the due day is unknown until then (never counted Monday to Friday).
            return self._with(uncounted_pauses=(*self.uncounted_pauses, (since, until)), **ended)
        return self._with(paused_units=self.paused_units + spent, **ended)

    def extended(self, days: int) -> "Clock":
        """Grant an extension of `days` (in `unit`) within what the rule allows."""
        if days <= 0:
            raise ValueError(f"an extension must be positive, got {days}")
        if self.extended_by + days > self.extendable_by:
            raise ValueError(
                f"{self.rule}: extending by {days} would exceed the {self.extendable_by} allowed"
                f" ({self.extended_by} already granted)"
            )
        return self._with(extended_by=self.extended_by + days)

    def further_extended(self, days: int) -> "Clock":
        """Grant a further extension of `days` (in `unit`) beyond what the rule allows by
        itself, as a collective decision may (its rule's ``further_extension_on``)."""
        if days <= 0:
            raise ValueError(f"an extension must be positive, got {days}")
        return self._with(further_extended_by=self.further_extended_by + days)


def add_calendar_months(start: date, n: int) -> date:
    """The last day of a period of ``n`` months from ``start`` (not counted).

    民法典 第二百零二条: the day of the last month with the same number as the start (the month's
    last day when it has none); 第二百零三条: moved past a rest day, as ``add_calendar_days``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    year, month = divmod(start.month - 1 + n, 12)
    year += start.year
    month += 1
    next_month = date(year + month // 12, month % 12 + 1, 1)
    month_end = (next_month - timedelta(days=1)).day
    day = date(year, month, min(start.day, month_end))
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def worst(lights: Iterable[str]) -> Light | None:
    """The case's light: the worst of its deadlines' (red, then yellow, then green)."""
    present = set(lights)
    order = (Light.RED, Light.UNKNOWN, Light.YELLOW, Light.GREEN)
    return next((light for light in order if light in present), None)


def start_clock(
    rule: ClockRule, started_at: datetime, key: int | None = None, due_on: date | None = None
) -> Clock:
    """Open a clock for `rule`, started by an event that occurred at `started_at`: the event of
    case version `key` (named in the clock's name for a rule with one clock per starting event),
    which may fix the due day `due_on` (for a rule with `due_from`)."""
    started_on = local_day(started_at)
    unit, length = rule.unit, rule.length
    if due_on is not None:
        # A fixed day is counted in calendar days, so the clock ends on it (or, when it is a rest
        # day, on the next working day, as every calendar-day period does); a day before the
        # start (only an event recorded before the rule checked it) is due at once.
        unit, length = DayCount.CALENDAR, max(0, (due_on - started_on).days)
    return Clock(
        rule=rule.clock_name(key),
        unit=unit,
        length=length,
        warn_within=rule.warn_within,
        extendable_by=rule.extendable_by,
        started_on=started_on,
        judges_handling=rule.judges_handling,
    )
