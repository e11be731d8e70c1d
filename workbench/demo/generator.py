"""Deterministic generator of a synthetic B2B sales-call corpus with ground truth.

The corpus is what the quick start imports: calls and utterances in the import format of
``workbench.core.schema``, plus ``labels.parquet`` (utterance-level ground truth) and
``concepts.json`` (the trackers to build from it), in the same shape as the shared
benchmark datasets.

Determinism: each call is drawn from its own ``random.Random`` seeded with the corpus seed
and the call's index, so nothing depends on global state, hash randomisation or the order
in which calls are built. ``end_date`` only shifts the dates: the day offsets are drawn
like everything else, so two runs with the same seed and different end dates differ in
``started_at`` (and the README's date line) alone.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from workbench.core.schema import CALLS_OPTIONAL, CALLS_REQUIRED, UTTERANCES_REQUIRED
from workbench.demo import phrases, wording
from workbench.demo.concepts import (
    BODY_TOPICS,
    CONCEPTS,
    DISCLOSURE_SHARE,
    HARDNEG_PREFIX,
    HARDNEG_RATE,
    INTERNAL_SHARE,
    INTERNAL_TITLES,
    INTERNAL_TOPICS,
    MAX_PER_CALL,
    MAX_UTTERANCES,
    MIN_UTTERANCES,
    STAGE_TOPICS,
    STAGE_WEIGHTS,
    TITLES,
    TOPIC_PREFIX,
    TWO_CUSTOMER_SHARE,
)

BACKCHANNEL_SHARE = 0.08  # body turns that are only an acknowledgement ("Got it.")

__all__ = ["DemoPaths", "generate_demo"]


@dataclass(frozen=True)
class DemoPaths:
    """Where ``generate_demo`` wrote each file."""

    out_dir: Path
    calls: Path
    utterances: Path
    labels: Path
    concepts: Path
    readme: Path


@dataclass
class _Turn:
    role: str  # "rep", "customer" or "internal"
    side: str
    speaker: str
    topic: str
    sentences: list[str]
    labels: list[str] = field(default_factory=list)

    @property
    def tagged(self) -> bool:
        return bool(self.labels)


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: fine for the small rates used here, and it only draws from `rng`.
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _weighted(rng: random.Random, weights: dict) -> object:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


_SLOT = re.compile(r"\{(\w+)\}")


class _CallBuilder:
    """Builds one call: turns first, then concepts and hard negatives placed into them.

    External calls: ``rep`` against one or two ``customers``. Internal calls: the two
    colleagues in ``pair`` take turns, in that order.
    """

    def __init__(
        self, rng: random.Random, *, rep: str, customers: list[str], pair: tuple[str, str] | None,
        slots: dict[str, str],
    ) -> None:
        self.rng = rng
        self.internal = pair is not None
        self.rep, self.customers, self.pair, self.slots = rep, customers, pair, slots
        self.used: set[str] = set()  # no filler sentence twice in one call
        self.turns: list[_Turn] = []

    # -- filler ------------------------------------------------------------------------

    def _fill(self, template: str) -> str:
        return _SLOT.sub(lambda m: self.slots[m.group(1)], template)

    def _filler(self, topic: str, role: str, k: int) -> list[str]:
        bank = phrases.FILLER[topic][role]
        fresh = [s for s in bank if s not in self.used] or list(bank)
        picked = self.rng.sample(fresh, min(k, len(fresh)))
        self.used.update(picked)
        # "So, hi Dana" reads wrong: a greeting gets no opener, only a name or a word at its end.
        return [self._say(self._fill(s), role, opener=topic != "greeting") for s in picked]

    def _say(self, sentence: str, role: str, *, opener: bool = True) -> str:
        """A bank sentence with the words people put around it; in an external call, now and
        then the other side's first name."""
        address = {"rep": self.slots["cust"], "customer": self.slots["rep"]}.get(role)
        return wording.wrap(sentence, self.rng, address=address, opener=opener)

    def _sentence_count(self, topic: str, role: str) -> int:
        if topic in ("greeting", "goodbye"):
            return 1
        # The rep walks through the product in longer stretches; everyone else is brief.
        if role == "rep" and topic in ("product", "integrations", "security", "onboarding"):
            return self.rng.choices((1, 2, 3, 4), weights=(2, 4, 3, 1))[0]
        return self.rng.choices((1, 2, 3), weights=(5, 4, 1))[0]

    def _turn(self, role: str, topic: str) -> _Turn:
        side = "customer" if role == "customer" else "company"
        speaker = self._speaker(role)
        # A short acknowledgement now and then, but never two in a row: that reads as dead air.
        last = self.turns[-1] if self.turns else None
        prev_short = last is not None and last.sentences[0] in phrases.BACKCHANNELS[last.role]
        if topic in BODY_TOPICS and not prev_short and self.rng.random() < BACKCHANNEL_SHARE:
            sentences = [self.rng.choice(phrases.BACKCHANNELS[role])]
        else:
            sentences = self._filler(topic, role, self._sentence_count(topic, role))
        return _Turn(role, side, speaker, topic, sentences)

    def _speaker(self, role: str) -> str:
        if role == "rep":
            return self.rep
        if role == "customer":
            if len(self.customers) > 1 and self.rng.random() < 0.35:
                return self.customers[1]
            return self.customers[0]
        # Internal calls alternate strictly between the two colleagues.
        assert self.pair is not None
        return self.pair[len(self.turns) % 2]

    # -- structure ---------------------------------------------------------------------

    def build_turns(self, n: int, stage: str | None) -> None:
        rng = self.rng
        if self.internal:
            roles = ["internal"] * n
            topics_w = INTERNAL_TOPICS
            plan = ["internal_open"] * rng.randint(2, 4)
            ending = ["internal_close"] * rng.randint(2, 3)
        else:
            # The rep opens, then strict alternation: one company voice, one customer side.
            roles = ["rep" if i % 2 == 0 else "customer" for i in range(n)]
            topics_w = STAGE_TOPICS[stage]
            plan = ["greeting"] * 2 + ["smalltalk"] * rng.randint(2, 5) + ["agenda"] * rng.randint(2, 4)
            ending = ["wrapup"] * rng.randint(2, 5) + ["goodbye"] * 2
        prev = None
        while len(plan) < n - len(ending):
            topic = _weighted(rng, {t: w for t, w in topics_w.items() if t != prev})
            plan += [topic] * rng.randint(4, 10)
            prev = topic
        plan = plan[: n - len(ending)] + ending
        for role, topic in zip(roles, plan):
            self.turns.append(self._turn(role, topic))

    # -- concepts ----------------------------------------------------------------------

    def _candidates(
        self, role: str, window: tuple[float, float], topics: tuple[str, ...], strict: bool
    ) -> list[int]:
        n = len(self.turns)
        lo, hi = math.floor(window[0] * n), math.ceil(window[1] * n)
        cands = [i for i in range(lo, min(hi, n)) if self.turns[i].role == role and not self.turns[i].tagged]
        preferred = [i for i in cands if self.turns[i].topic in topics]
        return preferred if preferred or strict else cands

    def _put(self, i: int, sentence: str, label: str, *, keep: bool = False) -> None:
        """Put a concept sentence into turn i: alone, or next to the turn's own filler.

        ``keep`` keeps the turn's filler in front (a greeting stays the first thing said).
        """
        turn = self.turns[i]
        r = 1.0 if keep else self.rng.random()
        if r < 0.4:
            turn.sentences = [sentence]
        elif r < 0.7:
            turn.sentences = [sentence] + turn.sentences[:2]
        else:
            turn.sentences = turn.sentences[:2] + [sentence]
        turn.labels.append(label)

    def place(
        self, label: str, role: str, bank: tuple[str, ...], window: tuple[float, float],
        topics: tuple[str, ...] = (), *, strict: bool = False, hardneg: bool = False,
    ) -> int | None:
        cands = self._candidates(role, window, topics, strict)
        if not cands:
            return None
        i = self.rng.choice(cands)
        self._put(i, self._say(self.rng.choice(bank), role), HARDNEG_PREFIX + label if hardneg else label)
        return i

    def weave(self, stage: str | None) -> None:
        rng = self.rng
        if not self.internal and rng.random() < DISCLOSURE_SHARE:
            # The rep opens (turn 0); the disclosure comes in that greeting or the rep's
            # next turn, which is what "near the start" means for a compliance tracker.
            i = 0 if rng.random() < 0.7 else 2
            sentence = self._say(rng.choice(phrases.POSITIVES["recording_disclosure"]["rep"]), "rep")
            self._put(i, sentence, "recording_disclosure", keep=i == 0)

        for concept in CONCEPTS:
            if concept.label == "recording_disclosure":
                continue
            lam = concept.internal_rate if self.internal else concept.rate[stage]
            for _ in range(min(MAX_PER_CALL, _poisson(rng, lam))):
                role = "internal" if self.internal else _weighted(rng, concept.roles)
                bank = phrases.POSITIVES[concept.label].get(role)
                if not bank:
                    continue
                i = self.place(concept.label, role, bank, concept.window, concept.topics, strict=concept.strict)
                if i is not None:
                    self._follow_up(concept.label, i)

        for label, by_role in phrases.HARD_NEGATIVES.items():
            roles = {r: len(b) for r, b in by_role.items() if (r == "internal") == self.internal}
            if not roles:
                continue
            for _ in range(_poisson(rng, HARDNEG_RATE)):
                role = _weighted(rng, roles)
                self.place(label, role, by_role[role], (0.1, 0.95), hardneg=True)

    def _follow_up(self, label: str, i: int) -> None:
        """Make the turn after a concept react to it, so the exchange reads naturally."""
        nxt = i + 1
        if nxt >= len(self.turns) or self.turns[nxt].tagged:
            return
        if label == "discovery_question" and self.rng.random() < 0.45:
            pain = self._say(self.rng.choice(phrases.POSITIVES["pain_statement"]["customer"]), "customer")
            self._put(nxt, pain, "pain_statement")
        elif label == "discount_request" and self.rng.random() < 0.5:
            self.turns[nxt].sentences = [self._say(self.rng.choice(phrases.DISCOUNT_REPLIES), "rep")]


def _person(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = f"{rng.choice(phrases.CUSTOMER_FIRST_NAMES)} {rng.choice(phrases.CUSTOMER_LAST_NAMES)}"
        if name not in taken:
            taken.add(name)
            return name


_REPS: tuple[tuple[str, str, str], ...] = tuple(
    (team, manager, rep) for team, (manager, reps) in phrases.TEAMS.items() for rep in reps
)


def _timings(rng: random.Random, turns: list[_Turn]) -> list[tuple[float, float]]:
    """Word-rate durations and realistic gaps, rounded to 0.1 s and never overlapping."""
    rates: dict[str, float] = {}
    t = rng.uniform(0.5, 4.0)
    out = []
    for turn in turns:
        if turn.speaker not in rates:
            rates[turn.speaker] = rng.uniform(2.2, 3.1)  # words per second, per person
        rate = rates[turn.speaker]
        words = sum(len(s.split()) for s in turn.sentences)
        start = round(t, 1)
        end = round(start + max(0.6, words / rate + rng.uniform(0.1, 0.7)), 1)
        out.append((start, end))
        gap = rng.uniform(1.5, 4.5) if rng.random() < 0.08 else rng.uniform(0.15, 1.1)
        t = end + gap
    return out


def _call(seed: int, index: int, internal: bool, end_date: dt.date) -> tuple[dict, list[dict]]:
    rng = random.Random(f"workbench-demo:{seed}:{index}")
    team, manager, rep = _REPS[rng.randrange(len(_REPS))]
    account = rng.choice(phrases.ACCOUNTS)
    call_id = f"demo-{index + 1:04d}"

    # Drawn first and independently of end_date, so only started_at depends on the date.
    offset_days = rng.randint(1, 362)
    minute = rng.randrange(13 * 60, 22 * 60, 5)  # North American business hours, in UTC
    day = end_date - dt.timedelta(days=offset_days)
    day -= dt.timedelta(days=max(0, day.weekday() - 4))  # weekend calls move to Friday
    started_at = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=dt.timezone.utc)

    pair: tuple[str, str] | None = None
    customers: list[str] = []
    if internal:
        # Half the internal calls are about one deal (and carry its stage), half are not.
        stage = _weighted(rng, STAGE_WEIGHTS) if rng.random() < 0.5 else None
        title = rng.choice(INTERNAL_TITLES).format(account=account)
        pair = (manager, rep) if rng.random() < 0.5 else (rep, manager)
    else:
        stage = _weighted(rng, STAGE_WEIGHTS)
        title = f"{account} / Fernhill: {rng.choice(TITLES[stage])}"
        taken = {rep, manager}
        customers = [_person(rng, taken) for _ in range(2 if rng.random() < TWO_CUSTOMER_SHARE else 1)]
    slots = {k: rng.choice(v) for k, v in phrases.SLOTS.items()}
    slots.update(cust=(customers[0] if customers else rep).split()[0], rep=rep.split()[0], account=account)
    b = _CallBuilder(rng, rep=rep, customers=customers, pair=pair, slots=slots)

    n = rng.randint(MIN_UTTERANCES, MAX_UTTERANCES)
    b.build_turns(n, stage)
    b.weave(stage)
    times = _timings(rng, b.turns)

    rows = []
    for uid, (turn, (start, end)) in enumerate(zip(b.turns, times)):
        labels = turn.labels + [TOPIC_PREFIX + turn.topic]
        rows.append({
            "call_id": call_id, "utterance_id": uid, "speaker": turn.speaker, "side": turn.side,
            "start_s": start, "end_s": end, "text": " ".join(turn.sentences), "labels": labels,
        })
    call = {
        "call_id": call_id, "started_at": started_at,
        "duration_s": round(times[-1][1] + rng.uniform(1.0, 5.0), 1),
        "title": title, "is_external": not internal, "team": team, "rep": rep,
        "deal_stage": stage, "channel": "call", "language": "en",
        # The account's deal: what a deal view follows across calls (none for internal calls
        # about no deal). Derived, not drawn, so the rest of the corpus is as before.
        "deal_id": f"DEAL-{re.sub(r'[^A-Za-z0-9]+', '-', account).strip('-').upper()}" if stage else None,
    }
    return call, rows


def _concept_entries(utt: pl.DataFrame) -> list[dict]:
    entries = []
    for c in CONCEPTS:
        pop = utt if c.mentioned_by == "any" else utt.filter(pl.col("side") == c.mentioned_by)
        positives = pop.filter(pl.col("labels").list.contains(c.label)).height
        entries.append({
            "name": c.name, "description": c.description, "mentioned_by": c.mentioned_by,
            "labels": [c.label], "positives": positives, "population": pop.height,
            "prevalence": round(positives / pop.height, 4) if pop.height else 0.0,
        })
    return entries


_README = """# Fernhill demo calls (synthetic)

Everything in this folder is synthetic: generated by `workbench.demo` (seed {seed}, {n_calls}
calls). The people, companies, vendor ("Fernhill") and competitors (Keystone, Summit,
Beacon, Lumina, Quillstack) are made up; any resemblance to real ones is coincidental.

{n_calls} English B2B sales calls, {n_utt} utterances, dated in the 12 months before {end_date}.
About 10% are internal calls (a rep and their manager, both on the company side).

Files: `calls.parquet` and `utterances.parquet` are in the workbench import format;
`labels.parquet` holds the ground-truth labels of each utterance; `concepts.json` lists
the trackers to build from them (positive = the utterance carries any of `labels`, said
on the `mentioned_by` side).

Labels: a concept label (for example `discount_request`) marks an utterance containing
that concept; `hardneg:<concept>` marks a hard negative, a sentence that looks like the
concept but is not it (a price mentioned without asking for a discount, a competitor's name
used as an ordinary word); `topic:<topic>` is the part of the conversation the utterance
belongs to. Concept sentences often sit next to unrelated sentences in the same utterance.
"""


def generate_demo(
    out_dir: Path | str,
    *,
    n_calls: int = 600,
    seed: int = 7,
    end_date: dt.date | None = None,
) -> DemoPaths:
    """Write a synthetic demo corpus with ground truth into ``out_dir``.

    Same ``seed`` and ``end_date`` give byte-identical files. Calls are dated in the 12
    months before ``end_date`` (default: today, UTC). Returns the paths written.
    """
    if n_calls < 1:
        raise ValueError(f"n_calls must be at least 1, got {n_calls}")
    if end_date is None:
        end_date = dt.datetime.now(dt.timezone.utc).date()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # Exactly the intended share of internal calls, spread over the corpus.
    n_internal = round(n_calls * INTERNAL_SHARE)
    internal = set(random.Random(f"workbench-demo:{seed}:internal").sample(range(n_calls), n_internal))

    calls, rows = [], []
    for i in range(n_calls):
        call, utts = _call(seed, i, i in internal, end_date)
        calls.append(call)
        rows.extend(utts)

    calls_schema = {**CALLS_REQUIRED, **{k: t for k, (t, _) in CALLS_OPTIONAL.items()}, "deal_id": pl.String()}
    calls_df = pl.DataFrame(calls, schema=calls_schema)
    utt_all = pl.DataFrame(rows, schema={**UTTERANCES_REQUIRED, "labels": pl.List(pl.String())})
    utt_df = utt_all.select(list(UTTERANCES_REQUIRED))
    labels_df = utt_all.select("call_id", "utterance_id", "labels")

    paths = DemoPaths(
        out_dir=out,
        calls=out / "calls.parquet",
        utterances=out / "utterances.parquet",
        labels=out / "labels.parquet",
        concepts=out / "concepts.json",
        readme=out / "README.md",
    )
    calls_df.write_parquet(paths.calls)
    utt_df.write_parquet(paths.utterances)
    labels_df.write_parquet(paths.labels)
    paths.concepts.write_text(json.dumps(_concept_entries(utt_all), indent=1) + "\n", encoding="utf-8")
    paths.readme.write_text(
        _README.format(seed=seed, n_calls=n_calls, n_utt=utt_df.height, end_date=end_date.isoformat()),
        encoding="utf-8",
    )
    return paths
