"""The engine: classify each record, apply events in event-time order, fire evaluations.

Per record, in SPEC §7 order: validation → duplicate ``event_id`` → late (``ts < W``) → second
payment → applied. Applied events wait in a small heap until the watermark passes them, then
enter the state sorted by ``(ts, arrival)``; an evaluation at ``E`` runs once ``W >= E``, after
every event with ``ts < E`` and before any with ``ts >= E``. So the state a rule reads at ``E``
is exactly "all events with ``ts < E``", which makes replay and live runs agree and makes any
reordering within the allowed lateness give identical verdicts.

The engine is a pure step machine: no I/O, no wall clock. Drivers call :meth:`Engine.accept`
per record, :meth:`Engine.finish` at the end of a finite input, and take the outputs.
"""

from __future__ import annotations

import heapq
from collections.abc import Generator, Sequence
from heapq import heappush
from typing import Any

from sellerwatch.schemas.events import (
    Enrollment,
    Event,
    Exemption,
    Payment,
    PickupScan,
    Refund,
    Shipment,
    Subsidy,
)
from sellerwatch.schemas.evidence import Evidence
from sellerwatch.schemas.validation import SECOND_PAYMENT, Rejected, decode_event
from sellerwatch.schemas.verdict import Evaluation, Verdict
from sellerwatch.schemas.warning import EarlyWarning
from sellerwatch.streams import snapshot as snapshot_codec
from sellerwatch.streams.accounting import Accounting, Outcome
from sellerwatch.streams.clock import EventClock
from sellerwatch.streams.ids import IdMemory
from sellerwatch.streams.instant import Ask
from sellerwatch.streams.policy import Policy
from sellerwatch.streams.rules import (
    campaign_fulfilment,
    pickup48,
    quality_refund,
    same_day_ship,
    ship48_pickup24,
)
from sellerwatch.streams.rules.steps import Steps
from sellerwatch.streams.state import State

_DRAIN_BATCH = 64

#: The rules in the order their verdicts are published at an instant (SPEC §4.5) ...
PUBLISHED_ORDER: tuple[Steps, ...] = (
    same_day_ship.STEPS,
    ship48_pickup24.STEPS,
    pickup48.STEPS,
    quality_refund.STEPS,
    campaign_fulfilment.STEPS,
)
#: ... and the order they run in, which is the order of their figures in the evaluations
#: output (``--evaluations``): the delist rule has always come first there.
RUN_ORDER: tuple[Steps, ...] = (
    ship48_pickup24.STEPS,
    same_day_ship.STEPS,
    pickup48.STEPS,
    quality_refund.STEPS,
    campaign_fulfilment.STEPS,
)
#: A rule's steps by its name: what a partition is asked to run.
STEPS_OF: dict[str, Steps] = {steps.rule: steps for steps in RUN_ORDER}


def second_payment(event: Event) -> Rejected:
    """The rejection of a payment for an order that is already paid (SPEC §5)."""
    return Rejected(SECOND_PAYMENT, f"order {getattr(event, 'order_id', '?')!r} is already paid")


class Engine:
    """Turns events into verdicts under one policy (SPEC §1–§5)."""

    #: The step of an instant waiting for partitions held elsewhere (never, in one process:
    #: :class:`streams.remote.RemoteCoordinator`).
    asking: Ask | None = None

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        collect_evaluations: bool = False,
        collect_evidence: bool = False,
        collect_warnings: bool = False,
        idle_timeout_ms: int | None = None,
        lateness_ms: int | None = None,
    ) -> None:
        """A fresh engine.

        Args:
            policy: the rules' settings; the SPEC defaults when omitted.
            collect_evaluations: also keep every evaluation's figures (``--metrics``).
            collect_evidence: also keep the orders behind every verdict (``--evidence``).
            collect_warnings: also foresee delists and fines (``--warnings``).
            idle_timeout_ms: live mode only: wall-clock ms after which a silent partition
                stops holding the watermark back.
            lateness_ms: overrides the policy's allowed lateness ``L``.
        """
        self.policy = policy or Policy()
        self.state = State.new(self.policy, collect_evaluations, collect_evidence, collect_warnings)
        lateness = self.policy.allowed_lateness_ms if lateness_ms is None else lateness_ms
        self.clock = EventClock(lateness, idle_timeout_ms)
        self.accounting = Accounting()
        self.verdicts: list[Verdict] = []
        self.evidence: list[Evidence] = []
        self.warnings: list[EarlyWarning] = []
        self.ship48 = ship48_pickup24.BucketCounts()
        self.tags = pickup48.TagState()
        self.quality = quality_refund.QualityState()
        self.state.book.watch = self.quality.window
        self.campaigns = campaign_fulfilment.CampaignState()
        self._pending: list[tuple[int, int, Event]] = []
        self._pending_payments: set[str] = set()
        self._drain_at = _DRAIN_BATCH
        self._ended: set[object] = set()
        self._seq = 0
        self._next_day: int | None = None
        self._next_eval_ts: int | None = None
        self.min_ts: int | None = None
        settings = self.policy
        self._retention_days = max(
            settings.quality_refund.window_days,
            settings.ship48_pickup24.lag_days + settings.ship48_pickup24.window_days - 1,
            settings.pickup48.lag_days,
            # a campaign order stays in the book until its last step (SPEC §4.6)
            campaign_fulfilment.span_days(settings.campaigns) if settings.campaigns else 0,
        )
        #: SPEC §7 id memory: which event ids a record may not repeat.
        self.ids = IdMemory(settings.dedupe_horizon_ms)
        self._order_horizon_ms = settings.order_horizon_ms
        self._apply_by_type = self._dispatch()

    def _dispatch(self) -> dict[type, Any]:
        """Which part of the state applies each event type."""
        book = self.state.book
        return {
            Payment: self._apply_payment,
            Shipment: book.add_order_event,
            Refund: book.add_order_event,
            PickupScan: book.add_scan,
            Exemption: self.state.exemptions.apply,
            Enrollment: self.state.plan.apply,
            Subsidy: self.state.subsidies.apply,
        }

    # -- input ---------------------------------------------------------------------------
    def accept_raw(self, raw: bytes, partition: object = 0) -> tuple[Outcome, Rejected | None]:
        """Decode, validate and accept one raw record; a rejection comes back with its reason."""
        return self.accept_decoded(decode_event(raw, self.policy.max_record_bytes), partition)

    def accept_decoded(
        self, event: Event | Rejected, partition: object = 0
    ) -> tuple[Outcome, Rejected | None]:
        """:meth:`accept_raw` of a record :func:`schemas.validation.decode_event` read."""
        if isinstance(event, Rejected):
            self.reject(event)
            return Outcome.REJECTED, event
        outcome = self.accept(event, partition)
        if outcome is Outcome.REJECTED:
            return outcome, second_payment(event)
        return outcome, None

    def reject(self, rejected: Rejected) -> None:
        """Account a record that failed validation (the driver dead-letters it)."""
        accounting = self.accounting
        accounting.records_in += 1
        accounting.rejected += 1
        reasons = accounting.rejected_by_reason
        reasons[rejected.reason] = reasons.get(rejected.reason, 0) + 1

    def accept(self, event: Event, partition: object = 0) -> Outcome:
        """Classify one valid event and, when applied, queue it; may fire evaluations."""
        accounting = self.accounting
        accounting.records_in += 1
        event_id = event.event_id
        clock = self.clock
        watermark = clock.watermark  # W just before this record (SPEC §7)
        ts = event.ts
        if self.ids.seen_again(event_id, ts, watermark):
            accounting.duplicate += 1
            return Outcome.DUPLICATE
        if watermark is not None and ts < watermark:
            accounting.late += 1
            return Outcome.LATE
        if type(event) is Payment:
            order_id = event.order_id
            if order_id in self._pending_payments or self._paid_recently(order_id, watermark):
                accounting.rejected += 1
                reasons = accounting.rejected_by_reason
                reasons[SECOND_PAYMENT] = reasons.get(SECOND_PAYMENT, 0) + 1
                return Outcome.REJECTED
            self._pending_payments.add(order_id)
        accounting.applied += 1
        seq = self._seq = self._seq + 1
        pending = self._pending
        heappush(pending, (ts, seq, event))
        if clock.observe(partition, ts):
            # Applying later changes nothing (the order is still (ts, arrival) and evaluations
            # still cut at E), so drain in batches; evaluations fire as soon as they are due.
            watermark = clock.watermark
            next_eval = self._next_eval_ts
            if (
                len(pending) > self._drain_at
                or (next_eval is not None and next_eval <= watermark)  # type: ignore[operator]
                or (next_eval is None and pending[0][0] < watermark)  # type: ignore[operator]
            ):
                self._advance()
        return Outcome.APPLIED

    def _paid_recently(self, order_id: str, watermark: int | None) -> bool:
        """Whether ``order_id`` is remembered paid at ``ts >= W - order_horizon`` (SPEC §7).

        A pending payment (accepted, not yet applied) has ``ts`` near ``W``, so it always is;
        an applied one is remembered by the order book (its order, or a tombstone once the
        order itself is evicted) with its ``paid_ts``.
        """
        paid_ts = self._paid_ts(order_id)
        if paid_ts is None:
            return False
        return watermark is None or paid_ts >= watermark - self._order_horizon_ms

    def _paid_ts(self, order_id: str) -> int | None:
        """``paid_ts`` of the latest applied payment of ``order_id`` still remembered."""
        return self.state.book.paid_ts(order_id)

    def assign(self, partitions: list[Any], now_ms: int = 0) -> None:
        """Partitions that hold the watermark back (Kafka driver)."""
        self.clock.assign(partitions, now_ms)

    def tick(self, now_ms: int) -> None:
        """Live mode: let idle partitions stop holding the watermark back."""
        if self.clock.tick(now_ms):
            self._advance()

    def finish_partition(self, partition: object) -> None:
        """A partition was read to its end (backtest); when all are, the input is finished."""
        self._ended.add(partition)
        if self.clock.max_ts and self._ended >= set(self.clock.max_ts):
            self.finish()
        elif self.clock.finish(partition):
            self._advance()

    def release(self, partition: object) -> None:
        """A partition went idle upstream: it stops holding the watermark back until it has data."""
        if self.clock.finish(partition):
            self._advance()

    def finish(self) -> None:
        """End of a finite input: ``W = max_ts_seen``, every ``E <= max_ts_seen`` fires."""
        self.clock.finish()
        self._advance()

    # -- outputs -------------------------------------------------------------------------
    def take_verdicts(self) -> list[Verdict]:
        """Verdicts decided since the last call, in SPEC §4.5 order."""
        out, self.verdicts = self.verdicts, []
        return out

    def take_evaluations(self) -> list[Evaluation]:
        """Evaluation figures since the last call (only with ``collect_evaluations``)."""
        out, self.state.evaluations = self.state.evaluations, []
        return out

    def discard_outputs(self) -> None:
        """Drop the outputs not taken yet: a driver that rebuilt this state by re-applying
        records whose outputs were published before (a take-over, a restart) calls this."""
        self.verdicts, self.evidence, self.state.evaluations = [], [], []
        self.warnings = []

    def take_warnings(self) -> list[EarlyWarning]:
        """Early warnings since the last call (only with ``collect_warnings``), by instant,
        then by the instant of the verdict foreseen, rule and subject."""
        out, self.warnings = self.warnings, []
        return out

    def take_evidence(self) -> list[Evidence]:
        """The evidence of the verdicts since the last call (only with ``collect_evidence``),
        in the order of their verdicts."""
        out, self.evidence = self.evidence, []
        return out

    @property
    def watermark(self) -> int | None:
        """Current ``W`` in epoch ms (``None`` before the first event)."""
        return self.clock.watermark

    @property
    def waiting(self) -> int:
        """Events accepted and waiting for ``W`` to pass them before they are applied."""
        return len(self._pending)

    @property
    def orphans_dropped(self) -> int:
        """Events that never joined an order or waybill within the retention (SPEC §5)."""
        return self.state.book.orphans_dropped

    def snapshot(self) -> bytes:
        """The whole state as versioned bytes (:mod:`streams.snapshot`: no pickle)."""
        return snapshot_codec.dumps(self.__getstate__(), self.policy)

    @classmethod
    def restore(cls, blob: bytes, policy: Policy | None = None) -> Engine:
        """Rebuild an engine from :meth:`snapshot` bytes.

        Given ``policy`` (the one in force), a snapshot written under another policy is
        refused with :class:`streams.snapshot.PolicyMismatch`; any other unreadable snapshot
        raises :class:`streams.snapshot.SnapshotError`.
        """
        return cls.from_snapshot_state(snapshot_codec.loads(blob, policy))

    @classmethod
    def from_snapshot_state(cls, state: Any) -> Engine:
        """The engine of a decoded snapshot (:func:`streams.snapshot.loads`)."""
        if not isinstance(state, dict) or "state" not in state:
            raise snapshot_codec.SnapshotError("the snapshot holds no engine state")
        engine = cls.__new__(cls)
        engine.__setstate__(state)
        return engine

    def collect(self, *, evidence: bool, warnings: bool) -> None:
        """Whether evidence and early warnings are produced from now on (a setting of the
        driver, not state: a restored engine gets the one in force)."""
        self.state.collect_evidence, self.state.collect_warnings = evidence, warnings

    @property
    def partitions(self) -> int:
        """The state partitions (shards) this engine holds: 1 unless partitioned."""
        return len(self._shards())

    @property
    def open_orders(self) -> int:
        """The orders held now (memory's main share)."""
        return len(self.state.book.orders)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle everything but the bound-method dispatch table."""
        state = dict(self.__dict__)
        del state["_apply_by_type"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore and rebuild the dispatch table (a snapshot from before campaigns has none)."""
        state.setdefault("campaigns", campaign_fulfilment.CampaignState())
        state.setdefault("ship48", ship48_pickup24.BucketCounts())
        state.setdefault("evidence", [])  # a snapshot from before evidence has none
        state.setdefault("warnings", [])
        core = state.get("state")
        if isinstance(core, State) and not hasattr(core, "evidence"):
            core.collect_evidence, core.evidence = False, []
        if isinstance(core, State) and not hasattr(core, "warnings"):
            core.collect_warnings, core.warnings = False, []
        self.__dict__.update(state)
        self._apply_by_type = self._dispatch()

    # -- time ----------------------------------------------------------------------------
    def _advance(self) -> None:
        """Apply queued events with ``ts < W`` and fire evaluations ``E <= W``, interleaved.

        An evaluation whose partitions answer elsewhere parks (:attr:`asking`): nothing at or
        after its instant is applied until it is resumed.
        """
        watermark = self.clock.watermark
        if watermark is None or self.asking is not None:
            return
        pending, apply_by_type = self._pending, self._apply_by_type
        while pending and pending[0][0] < watermark:
            ts = pending[0][0]
            if self._next_eval_ts is None:
                self._start(ts)
            if ts >= self._next_eval_ts:  # type: ignore[operator]
                self._evaluate()
                if self.asking is not None:
                    return
                continue
            event = heapq.heappop(pending)[2]
            apply_by_type[type(event)](event)
        while self._next_eval_ts is not None and self._next_eval_ts <= watermark:
            self._evaluate()
            if self.asking is not None:
                return
        self._drain_at = len(pending) + _DRAIN_BATCH

    def _start(self, first_ts: int) -> None:
        calendar = self.state.calendar
        self.min_ts = first_ts
        first_day = calendar.day_of(first_ts)
        self._next_day = first_day + 1
        self._next_eval_ts = calendar.start_of(first_day + 1)
        for shard in self._shards():
            shard.move_windows(first_day + 1)

    def _apply_payment(self, event: Payment) -> None:
        calendar = self.state.calendar
        paid_day = calendar.day_of(event.ts)
        self._pending_payments.discard(event.order_id)
        order = self.state.book.add_payment(event, paid_day, calendar.monday_of(paid_day))
        if self.policy.campaigns:
            self.campaigns.add(self.state, order, event.channel)

    def _shards(self) -> Sequence[Engine]:
        """The engines whose states hold the orders and run the rules: this one alone.

        A partitioned engine (:mod:`streams.partitioned`) returns its partitions instead; the
        evaluation below is the same for both.
        """
        return [self]

    def _merge(self, per_shard: list[list[Verdict]]) -> list[Verdict]:
        """One rule's verdicts at one instant from every shard, in SPEC §4.5 order."""
        return per_shard[0]

    def _evaluate(self) -> None:
        """Run the instant ``E_T`` for ``T = next day`` to its end, answering each of its
        asks from this engine's partitions in turn (:mod:`streams.instant`)."""
        conversation = self._instant()
        shards = self._shards()
        ask = next(conversation)
        while True:
            pairs = zip(shards, ask.args, strict=True)
            answers = [getattr(shard, ask.step)(*args) for shard, args in pairs]
            try:
                ask = conversation.send(answers)
            except StopIteration:
                return

    def _instant(self) -> Generator[Ask, list[Any], None]:
        """The four rules at ``E_T``, the campaigns last (SPEC §4.5), then housekeeping.

        Each rule's steps (:mod:`streams.rules.steps`): ``partial`` and ``decide`` run in the
        partitions (asked in three steps, :mod:`streams.instant`), ``combine`` and ``settle``
        here, where the partitions meet (a shop's week, the categories' refund counts).
        """
        day, decided_at = self._next_day, self._next_eval_ts
        assert day is not None and decided_at is not None  # noqa: S101 - set by _start
        watermark = self.clock.watermark
        count = len(self._shards())
        warn = self.state.collect_warnings
        state = self.state
        collecting = (state.collect_evaluations, state.collect_evidence, state.collect_warnings)
        opened = yield Ask("open_instant", [(day, decided_at, collecting)] * count)
        totals_of: dict[str, Any] = {
            steps.rule: steps.combine([figures[steps.rule] for figures in opened])
            for steps in RUN_ORDER
            if steps.partial is not None and steps.combine is not None
        }
        decided = yield Ask("decide_instant", [(day, decided_at, totals_of, warn)] * count)
        by_rule: dict[str, list[Verdict]] = {}
        for steps in RUN_ORDER:
            totals = totals_of.get(steps.rule)
            out = [] if steps.settle is None else steps.settle(self.state, day, decided_at, totals)
            if steps.decide is not None:
                shares = [answer[0][steps.rule] for answer in decided]
                figures = self._merge_figures([share[1] for share in shares])
                if figures:
                    self.state.evaluations += figures
                out += self._merge([share[0] for share in shares])
            by_rule[steps.rule] = out
        verdicts = [v for steps in PUBLISHED_ORDER for v in by_rule[steps.rule]]
        self.verdicts += verdicts
        if self.state.collect_evidence:
            self._file_evidence(verdicts, [answer[1] for answer in decided])
        categories = totals_of[quality_refund.RULE]
        leaving = quality_refund.merge_leaving([answer[2] for answer in decided]) if warn else None
        asked, expiring = self._retention_questions(decided_at, count)
        closed = yield Ask(
            "close_instant",
            [(day, decided_at, watermark, categories, leaving, waybills) for waybills in asked],
        )
        if warn:
            found = [w for answer in closed for w in answer[0]]
            found.sort(key=lambda w: (w.due_at, w.rule, w.subject))
            self.warnings += found
        self._conclude(day, decided_at, watermark, closed, expiring)
        self._next_day = day + 1
        self._next_eval_ts = self.state.calendar.start_of(day + 1)

    def _merge_figures(self, per_shard: list[list[Evaluation]]) -> list[Evaluation]:
        """One rule's evaluation figures at one instant from every shard (one: its own)."""
        return per_shard[0]

    def _file_evidence(self, verdicts: list[Verdict], shards: list[list[Evidence]]) -> None:
        """Move the rules' evidence of one instant, from here and every shard, into the
        outputs in the order of its verdicts."""
        by_id: dict[str, list[Evidence]] = {}
        for found in (self.take_rule_evidence(), *shards):
            for record in found:
                by_id.setdefault(record.verdict_id, []).append(record)
        self.evidence += [by_id[v.verdict_id].pop(0) for v in verdicts]

    def _retention_questions(self, decided_at: int, count: int) -> tuple[list[list[str]], Any]:
        """Per partition, the waybills whose scans expire at ``decided_at`` that it holds
        copies of: it says which it ships under (one engine's book knows: none asked); and
        what :meth:`_conclude` needs of the questions."""
        return [[] for _ in range(count)], None

    def _conclude(
        self, day: int, decided_at: int, watermark: int | None, closed: list[Any], expiring: Any
    ) -> None:
        """What is left of the instant's retention here, once every partition did its own
        (one engine: nothing; a coordinator has its own)."""

    def _forget_programs(self, decided_at: int) -> None:
        horizon_ts = decided_at - (self._retention_days + 10) * 86_400_000
        self.state.plan.forget_before(horizon_ts)
        self.state.exemptions.forget_before(horizon_ts)

    # -- as a partition: what the evaluation asks of the state that holds the orders -------
    # One engine is its own only partition; a partitioned engine's coordinator sends these to
    # each :class:`streams.partitioned.Shard` and reads only what they return.
    def open_instant(
        self, day: int, decided_at: int, collecting: tuple[bool, bool, bool]
    ) -> dict[str, Any]:
        """Step 1 of an instant: this partition's share of each rule's figures that span
        partitions (the rules with a ``partial``). ``collecting``: whether the engine keeps
        figures, evidence and warnings, which the partition then produces too."""
        state = self.state
        state.collect_evaluations, state.collect_evidence, state.collect_warnings = collecting
        return {
            steps.rule: steps.partial(self, day, decided_at)
            for steps in RUN_ORDER
            if steps.partial is not None
        }

    def decide_instant(
        self, day: int, decided_at: int, totals: dict[str, Any], leaving: bool
    ) -> tuple[dict[str, tuple[list[Verdict], list[Evaluation]]], list[Evidence], Any]:
        """Step 2: per rule this partition's verdicts and figures, given the totals; then its
        delisted items leave the subsidy. Also the rules' evidence, and with ``leaving`` the
        categories' counts that leave the window (the engine sums them for warnings)."""
        by_rule: dict[str, tuple[list[Verdict], list[Evaluation]]] = {}
        figures = self.state.evaluations
        for steps in RUN_ORDER:
            if steps.decide is None:
                continue
            mark = len(figures)
            verdicts = self.decide(steps.rule, day, decided_at, totals.get(steps.rule))
            by_rule[steps.rule] = (verdicts, figures[mark:])
            del figures[mark:]
        delisted = [v.item_id for v in by_rule[ship48_pickup24.RULE][0] if v.item_id]
        if delisted:
            self.delist(delisted, decided_at)
        categories = self.leaving(day)[1] if leaving else None
        return by_rule, self.take_rule_evidence(), categories

    def close_instant(
        self,
        day: int,
        decided_at: int,
        watermark: int | None,
        categories: Any,
        leaving: Any,
        waybills: list[str],
    ) -> tuple[list[EarlyWarning], list[str], list[str], int, int, dict[str, int]]:
        """Step 3: this partition's warnings (given every partition's categories, when the
        engine collects them), its retention, which of ``waybills`` it ships under, which
        waybills it let go of, its open orders and orphans, and the waybills whose scans its
        retention dropped with how many (one engine counts its own orphans: none to say)."""
        found: list[EarlyWarning] = []
        if leaving is not None:
            found = self.warn(day, decided_at, categories, (self.leaving(day)[0], leaving))
        expired = self.expiring_waybills(decided_at)
        self.housekeep_partition(day, decided_at, watermark, list(expired) if expired else None)
        asked = [*waybills, *expired]
        shipped = self.ships_under(asked) if asked else []
        let_go = self.let_go_waybills()
        return found, shipped, let_go, self.open_orders, self.orphans_dropped, expired

    def expiring_waybills(self, decided_at: int) -> dict[str, int]:
        """The waybills whose scans this partition's retention at ``decided_at`` drops and
        another counts as orphans, with how many (one engine counts its own: none)."""
        return {}

    def ships_under(self, waybills: list[str]) -> list[str]:
        """Those of ``waybills`` that an order held here was shipped under."""
        by_tracking = self.state.book.by_tracking
        return [tracking for tracking in waybills if tracking in by_tracking]

    def let_go_waybills(self) -> list[str]:
        """The waybills whose scans a partition no longer needs (one engine: none to say)."""
        return []

    def move_windows(self, day: int) -> None:
        """Put the running window counts at the window evaluated at ``E_day``."""
        first, last = quality_refund.window(self.state, day)
        self.quality.window.move(self.state.book.days, first, last)

    def partial(self, rule: str, day: int, decided_at: int) -> Any:
        """What this partition adds to ``rule``'s figures that span partitions."""
        partial = STEPS_OF[rule].partial
        assert partial is not None  # noqa: S101 - asked only of a rule with this step
        return partial(self, day, decided_at)

    def decide(self, rule: str, day: int, decided_at: int, totals: Any) -> list[Verdict]:
        """This partition's verdicts of ``rule`` at ``E_day``, given the totals."""
        decide = STEPS_OF[rule].decide
        assert decide is not None  # noqa: S101 - asked only of a rule with this step
        return decide(self, day, decided_at, totals)

    def delist(self, item_ids: list[str], decided_at: int) -> None:
        """The items just delisted leave the subsidy activity here."""
        for item_id in item_ids:
            self.state.subsidies.delist(item_id, decided_at)

    def leaving(self, day: int) -> tuple[Any, Any]:
        """The quality-refund counts that leave the window after ``E_day``, per item and per
        category (:func:`streams.rules.quality_refund.leaving_counts`)."""
        return quality_refund.leaving_counts(self.state, day)

    def warn(
        self, day: int, decided_at: int, categories: Any, leaving: tuple[Any, Any]
    ) -> list[EarlyWarning]:
        """This partition's early warnings at ``E_day`` (``leaving``: its items' counts and
        every partition's categories')."""
        ship48_pickup24.warn(self.state, day, decided_at)
        quality_refund.warn(self.state, self.quality, day, decided_at, categories, leaving)
        found, self.state.warnings = self.state.warnings, []
        return found

    def take_rule_evidence(self) -> list[Evidence]:
        """The evidence the rules filed here since the last call."""
        found, self.state.evidence = self.state.evidence, []
        return found

    def _first_day_kept(self, day: int) -> int:
        """The first paid day whose orders the retention at the instant of ``day`` keeps."""
        return day + 1 - self._retention_days

    def housekeep_partition(
        self, day: int, decided_at: int, watermark: int | None, expiring: list[str] | None = None
    ) -> None:
        """Retention of what this partition holds: orders, waybills, ids, plan and exemptions
        (``expiring``: the book's expiring scans at ``decided_at``, when already read)."""
        book = self.state.book
        self.move_windows(day + 1)
        book.evict_before(self._first_day_kept(day))
        book.expire_orphans(decided_at, expiring=expiring)
        if watermark is not None:
            book.forget_paid_before(watermark - self._order_horizon_ms)
            self.ids.forget(watermark)  # the ids this partition holds (one engine: all)
        self._forget_programs(decided_at)
