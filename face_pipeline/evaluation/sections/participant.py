"""Human-confirmed expansion ("Is this you too?", the participant page): a simulated participant who
answers every question right.

Round 0 is the normal lookup at the shipped threshold. In each further round the person is shown up to
CANDIDATES_ASKED photos that are not yet theirs, whose best face lies just past the threshold (the
library's `candidate_photos`, nearest first), confirms exactly those that truly show them and declines
the rest (a declined photo is not asked again); the confirmed faces join the references with their
stored vectors (`nearest_faces` with `confirmed`) and the search runs again. A confirmed photo counts as found.

LFW: the queries of the LFW retrieval section, each searching the other photos stored as one event,
through the library's `nearest_faces` with `confirmed` / `collapse_to_photos` / `candidate_photos`
(the query photo excluded, as there). Real scenes: ingested by the library as one event and searched
through `find_person` with `confirmed_faces` and `candidates`, the lookup the page makes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from face_pipeline.evaluation import metrics as M
from face_pipeline.evaluation.context import Harness
from face_pipeline.evaluation.recipes import detector_from_spec
from face_pipeline.evaluation.report import Section
from face_pipeline.evaluation.retrieval import CANDIDATES, write_event
from face_pipeline.evaluation.sections.lfw import queries_for
from face_pipeline.evaluation.sections.scenes import ANY_DISTANCE, ingest_scenes, query_definitions
from face_pipeline.lib.errors import FacePipelineError
from face_pipeline.lib.models import get_embedder
from face_pipeline.lib.search import PhotoMatch, collapse_to_photos, find_person
from face_pipeline.lib.search.scoring import (
    CANDIDATE_MARGIN,
    candidate_photos,
    nearest_faces,
)
from face_pipeline.lib.share.participant import CANDIDATES_ASKED, PAGE_PHOTOS
from face_pipeline.lib.store import face_id_for

ROUNDS = 3
LFW_EVENT = "participant-lfw"
SCENES_EVENT = "participant-scenes"
# Where round 0's missed matches lie: within threshold + each of these (and the shipped margin).
MISS_STEPS = (0.05, 0.15, 0.20)
# Margins tried for the choice of CANDIDATE_MARGIN (cosine; LFW, identity folds).
MARGIN_GRID = tuple(float(x) for x in np.round(np.arange(0.02, 0.301, 0.02), 3))
# The margin chosen on a fit half: the smallest that reaches this share of the recall gain after ROUNDS
# rounds of the widest margin of the grid (a wider band only adds questions beyond that).
GAIN_SHARE = 0.9

# search(confirmed face ids) -> (photos within the threshold, candidates just past it, nearest first)
Search = Callable[[tuple[str, ...]], tuple[list[PhotoMatch], list[PhotoMatch]]]


@dataclass(frozen=True)
class Round:
    answer: frozenset[str]  # the photos the person has: returned within the threshold, and confirmed
    shown: int  # questions asked in this round ("Is this you too?" candidates)
    confirmed: int
    precision: float
    recall: float
    dropped: frozenset[str] = frozenset()  # photos of the previous round's answer that this search no longer returns


def simulate(
    search: Search,
    is_them: Callable[[PhotoMatch], bool],
    relevant: frozenset[str],
    excluded: frozenset[str] = frozenset(),
    *,
    rounds: int = ROUNDS,
    asked: int = CANDIDATES_ASKED,
    remember_declined: bool = True,
) -> list[Round]:
    """Round 0 (the plain lookup) and `rounds` rounds of questions answered by `is_them`.

    Each round shows up to `asked` candidates the person has not got yet (nor declined, with
    `remember_declined`); the ones `is_them` accepts join the references and the search runs again.
    Without `remember_declined` (a page that forgets: a new search shows declined photos again) the person
    stops after a round in which nothing was theirs, as the same questions would come back.
    """
    confirmed_faces: list[str] = []
    confirmed_paths: set[str] = set()
    declined: set[str] = set()
    matches, candidates = search(())
    out: list[Round] = []
    stopped = False
    before: frozenset[str] = frozenset()
    for r in range(rounds + 1):
        shown: list[PhotoMatch] = []
        yes: list[PhotoMatch] = []
        if r > 0 and not stopped:
            have = {m.path for m in matches} | confirmed_paths | excluded
            shown = [c for c in candidates if c.path not in have and c.path not in declined][:asked]
            yes = [c for c in shown if is_them(c)]
            if remember_declined:
                declined |= {c.path for c in shown if c not in yes}
            if yes:
                confirmed_faces += [c.face_id for c in yes]
                confirmed_paths |= {c.path for c in yes}
                matches, candidates = search(tuple(confirmed_faces))
            elif not remember_declined:
                stopped = True
        answer = frozenset({m.path for m in matches if m.path not in excluded} | confirmed_paths)
        p, rec = M.precision_recall(answer, relevant)
        out.append(Round(answer, len(shown), len(yes), p, rec, before - answer))
        before = answer
    return out


@dataclass(frozen=True)
class QueryRun:
    name: str
    relevant: frozenset[str]
    excluded: frozenset[str]
    search: Search
    is_them: Callable[[PhotoMatch], bool]
    ranked: dict[str, float]  # round 0: every candidate photo -> its best face's distance


def round_rows(label: str, runs: Sequence[list[Round]], relevant: Sequence[frozenset[str]]) -> list[tuple]:
    """Per round: mean P, mean R, recall gain over round 0, questions (per query, total), confirmations
    per query, the queries that were shown any candidate, and the photos of the previous answer that
    the new search no longer returns (the person's own / others')."""
    n = len(runs)
    rows = []
    if not n:
        return rows
    r0 = float(np.mean([q[0].recall for q in runs]))
    for r in range(len(runs[0])):
        p = float(np.mean([q[r].precision for q in runs]))
        rec = float(np.mean([q[r].recall for q in runs]))
        shown = sum(q[r].shown for q in runs)
        yes = sum(q[r].confirmed for q in runs)
        own = sum(len(q[r].dropped & rel) for q, rel in zip(runs, relevant, strict=True))
        others = sum(len(q[r].dropped) for q in runs) - own
        rows.append(
            (
                label,
                r,
                p,
                rec,
                f"{rec - r0:+.3f}",
                f"{shown / n:.2f}",
                shown,
                f"{yes / n:.2f}",
                f"{sum(1 for q in runs if q[r].shown)}/{n}",
                f"{own} / {others}",
            )
        )
    return rows


def miss_fractions(
    runs: Sequence[QueryRun], first: Sequence[list[Round]], threshold: float, margin: float
) -> tuple[int, dict[float, int], int]:
    """Round 0's missed matches: (how many, {step: how many within threshold + step}, how many the
    search did not rank at all: no face found, or not among the candidates it considers)."""
    dists = []
    for q, rounds in zip(runs, first, strict=True):
        for path in q.relevant - rounds[0].answer:
            dists.append(q.ranked.get(path, float("inf")))
    steps = sorted({*MISS_STEPS, margin})
    d = np.asarray(dists, dtype=float)
    return len(d), {s: int(np.sum(d <= threshold + s + 1e-9)) for s in steps}, int(np.sum(~np.isfinite(d)))


def band_precision(
    runs: Sequence[QueryRun], first: Sequence[list[Round]], threshold: float, width: float
) -> tuple[int, int]:
    """(photos not in round 0's answer whose best face lies in (t, t + width], of them labelled as the person)."""
    n = yes = 0
    for q, rounds in zip(runs, first, strict=True):
        for path, dist in q.ranked.items():
            if threshold < dist <= threshold + width + 1e-9 and path not in rounds[0].answer | q.excluded:
                n += 1
                yes += path in q.relevant
    return n, yes


def _lfw_runs(h: Harness, emb, threshold: float, margin_of: Callable[[], float]) -> list[QueryRun]:
    """The LFW queries with their search closures (each search cached by its confirmed faces, so the
    margin sweep repeats only the searches a different margin leads to)."""
    store = h.store()
    faces = h.lfw_faces(h.ours.detector, (h.ours.embedder,))
    detector_model = detector_from_spec(h.ours.detector, h.folders).model_id
    ids = write_event(store, LFW_EVENT, detector_model, emb.model_id, faces)
    # LFW labels the central face of each photo: the person confirms a candidate when its face is theirs.
    labelled = {}
    for key, pf in faces.items():
        i = pf.central_face()
        if i is not None:
            labelled[key] = face_id_for(LFW_EVENT, ids[key], detector_model, i)
    runs = []
    for name, refs, relevant, excluded in queries_for(h, faces, emb.model_id):
        cache: dict[tuple[str, ...], list] = {}

        def search(confirmed: tuple[str, ...], refs=refs, excluded=excluded, cache=cache):
            if len(refs) == 0:
                return [], []
            if confirmed not in cache:
                cache[confirmed] = list(
                    nearest_faces(
                        store,
                        refs,
                        emb,
                        emb.model_id,
                        events=[LFW_EVENT],
                        limit=CANDIDATES,
                        enrol=h.ours.enrol,
                        expand=h.ours.expand,
                        exclude_paths=excluded,
                        confirmed=confirmed,
                    ).values()
                )
            found = cache[confirmed]
            return (collapse_to_photos(found, emb, threshold), candidate_photos(found, emb, threshold, margin_of()))

        def is_them(c: PhotoMatch, relevant=relevant) -> bool:
            return c.path in relevant and labelled.get(c.path) == c.face_id

        search(())
        first = cache.get((), [])
        ranked = {p.path: p.distance for p in collapse_to_photos(first, emb, float("inf"))}
        runs.append(QueryRun(name, relevant, excluded, search, is_them, ranked))
    return runs


def _scene_runs(h: Harness) -> list[QueryRun]:
    scenes, settings = ingest_scenes(h, "participant_scenes", SCENES_EVENT)
    store = h.store()
    runs = []
    for label, identity, refs, excluded in query_definitions(h, scenes):
        relevant = frozenset(s.relpath for s in scenes if identity in s.identities and s.relpath not in excluded)

        def search(confirmed: tuple[str, ...], refs=refs, excluded=excluded, label=label):
            try:
                res = find_person(
                    settings,
                    store,
                    refs,
                    k=PAGE_PHOTOS,
                    events=[SCENES_EVENT],
                    confirmed_faces=confirmed,
                    candidates=PAGE_PHOTOS,
                )
            except FacePipelineError as exc:  # a reference without a usable face is a failed query
                h.notes.append(f"participant scenes {label}: {exc}")
                return [], []
            return (
                [m for m in res.matches if m.path not in excluded],
                [c for c in res.candidates if c.path not in excluded],
            )

        # Scenes are labelled by photo: a candidate is confirmed when its photo shows the person.
        def is_them(c: PhotoMatch, relevant=relevant) -> bool:
            return c.path in relevant

        try:
            every = find_person(settings, store, refs, k=PAGE_PHOTOS, threshold=ANY_DISTANCE, events=[SCENES_EVENT])
            ranked = {m.path: m.distance for m in every.matches if m.path not in excluded}
        except FacePipelineError:
            ranked = {}
        runs.append(QueryRun(label, relevant, excluded, search, is_them, ranked))
    return runs


def _run_all(runs: Sequence[QueryRun], **kw) -> list[list[Round]]:
    return [simulate(q.search, q.is_them, q.relevant, q.excluded, **kw) for q in runs]


def choose_margin(by_margin: dict[float, list[list[Round]]], which: Sequence[int]) -> float:
    """The smallest margin whose mean recall gain after the last round, over the queries `which`,
    reaches GAIN_SHARE of the widest margin's (the shipped one when no margin gains anything)."""

    def gain(m: float) -> float:
        return float(np.mean([by_margin[m][i][-1].recall - by_margin[m][i][0].recall for i in which]))

    widest = gain(max(by_margin))
    if widest <= 0:
        return CANDIDATE_MARGIN["cosine"]
    return min(m for m in by_margin if gain(m) >= GAIN_SHARE * widest - 1e-12)


def _summary(runs: list[list[Round]], which: Sequence[int]) -> tuple[float, float, float]:
    """(mean recall after the last round, its gain over round 0, questions per query) over `which`."""
    r_last = float(np.mean([runs[i][-1].recall for i in which]))
    r0 = float(np.mean([runs[i][0].recall for i in which]))
    return r_last, r_last - r0, float(np.mean([sum(r.shown for r in runs[i]) for i in which]))


def participant_section(h: Harness) -> Section:
    emb = get_embedder(h.ours.embedder, h.folders)
    threshold = h.ours.threshold_for(emb)
    shipped = CANDIDATE_MARGIN.get(emb.metric, 0.1)
    s = Section(
        "Human-confirmed expansion ('Is this you too?')",
        f"Ours ({h.ours.detector} + {h.ours.embedder}, threshold {threshold:g}, candidate margin "
        f"{shipped:g}, {emb.metric} distance), a simulated participant who answers right. "
        + " ".join(__doc__.split("\n\n")[1:]).replace("\n", " ").strip()
        + f" Up to {CANDIDATES_ASKED} questions per round, {ROUNDS} rounds; precision and recall are "
        "per query (the person's photos: returned and confirmed), questions are the candidates shown.",
    )
    rows, miss_rows, page_rows = [], [], []
    sets: list[tuple[str, list[QueryRun]]] = []
    current = {"margin": shipped}
    if h.config.lfw is not None:
        sets.append(("LFW", _lfw_runs(h, emb, threshold, lambda: current["margin"])))
    if h.config.scenes is not None:
        sets.append(("scenes", _scene_runs(h)))
    steps = sorted({*MISS_STEPS, shipped})
    lfw_runs: list[QueryRun] = []
    for label, runs in sets:
        current["margin"] = shipped
        first = _run_all(runs)
        rows += round_rows(f"{label} ({len(runs)} queries)", first, [q.relevant for q in runs])
        page = _run_all(runs, remember_declined=False)
        last = [q[-1] for q in page]
        page_rows.append(
            (
                label,
                float(np.mean([r.precision for r in last])),
                float(np.mean([r.recall for r in last])),
                f"{sum(sum(r.shown for r in q) for q in page) / len(page):.2f}",
                f"{sum(sum(r.shown for r in q) for q in first) / len(first):.2f}",
            )
        )
        missed, within, unranked = miss_fractions(runs, first, threshold, shipped)
        n_band, yes_band = band_precision(runs, first, threshold, shipped)
        miss_rows.append(
            (
                label,
                missed,
                *(f"{within[st] / missed:.2f} ({within[st]})" if missed else "n/a" for st in steps),
                f"{unranked / missed:.2f} ({unranked})" if missed else "n/a",
                f"{yes_band}/{n_band}" + (f" = {yes_band / n_band:.2f}" if n_band else ""),
            )
        )
        if label == "LFW":
            lfw_runs = runs
    s.table(
        (
            "set",
            "round",
            "mean precision",
            "mean recall",
            "recall gain over round 0",
            "questions per query",
            "questions in all",
            "confirmations per query",
            "queries shown any candidate",
            "no longer returned: theirs / others'",
        ),
        rows,
        "Per round (round 0: the plain lookup; the person's answers after each round's search). The last "
        "column counts photos of the previous round's answer that the new search no longer returns (a "
        "confirmed face only widens the search, `nearest_faces` with `confirmed`: it should stay 0).",
    )
    s.table(
        (
            "set",
            "missed matches",
            *(f"within t + {st:g}" + (" (the band)" if st == shipped else "") for st in steps),
            "not ranked (no face / beyond the candidates)",
            "band precision: the person / photos in the band",
        ),
        miss_rows,
        f"Where round 0's missed matches lie (t = {threshold:g}; a photo's distance is its best face's, "
        "cumulative shares of the missed matches); band precision: of all photos in (t, t + margin] that "
        "round 0 did not return, the share labelled as the person:",
    )
    s.table(
        (
            "set",
            f"mean precision after {ROUNDS} rounds",
            f"mean recall after {ROUNDS} rounds",
            "questions per query, declines forgotten",
            "questions per query, remembered (the page)",
        ),
        page_rows,
        "Declines remembered or not (the page remembers them for the visit; forgotten, the next search shows a "
        "declined photo again, so a "
        "person who finds nothing of theirs among the questions stops), same candidates and answers:",
    )
    if lfw_runs:
        margin_tables(s, lfw_runs, threshold, shipped, current)
    return s


def margin_tables(s: Section, runs: list[QueryRun], threshold: float, shipped: float, current: dict) -> None:
    """The margin sweep on LFW, and the margin chosen on one half of the identities, judged on the other."""
    by_margin: dict[float, list[list[Round]]] = {}
    for m in sorted({*MARGIN_GRID, shipped}):
        current["margin"] = m
        by_margin[m] = _run_all(runs)
    current["margin"] = shipped
    everyone = range(len(runs))
    sweep_rows = []
    for m, res in by_margin.items():
        n_band, yes_band = band_precision(runs, res, threshold, m)
        r_last, gain, questions = _summary(res, everyone)
        asked = sum(r.shown for q in res for r in q)
        yes = sum(r.confirmed for q in res for r in q)
        sweep_rows.append(
            (
                f"{m:g}" + (" (shipped)" if m == shipped else ""),
                r_last,
                f"{gain:+.3f}",
                float(np.mean([q[-1].precision for q in res])),
                f"{questions:.2f}",
                f"{yes}/{asked}" + (f" = {yes / asked:.2f}" if asked else ""),
                f"{yes_band}/{n_band}" + (f" = {yes_band / n_band:.2f}" if n_band else ""),
            )
        )
    s.table(
        (
            "margin",
            f"mean recall after {ROUNDS} rounds",
            "gain",
            "mean precision",
            "questions per query",
            "answered yes / asked",
            "band precision (round 0)",
        ),
        sweep_rows,
        f"LFW, candidate margin swept (every other figure as above; {ROUNDS} rounds):",
    )
    halves = [list(everyone)[0::2], list(everyone)[1::2]]
    cv_rows = []
    for name, fit, judge in (
        ("fit on even, judged on odd identities", halves[0], halves[1]),
        ("fit on odd, judged on even identities", halves[1], halves[0]),
    ):
        m = choose_margin(by_margin, fit)
        r_c, g_c, q_c = _summary(by_margin[m], judge)
        r_s, g_s, q_s = _summary(by_margin[shipped], judge)
        cv_rows.append((name, f"{m:g}", r_c, f"{g_c:+.3f}", f"{q_c:.2f}", r_s, f"{g_s:+.3f}", f"{q_s:.2f}"))
    s.table(
        (
            "folds",
            "margin chosen on the fit half",
            "judged: recall",
            "gain",
            "questions per query",
            f"shipped {shipped:g} on the same half: recall",
            "gain",
            "questions per query",
        ),
        cv_rows,
        f"Choosing the margin by identity folds (queries alternate by identity): on the fit half, the "
        f"smallest margin whose recall gain after {ROUNDS} rounds reaches {GAIN_SHARE:.0%} of the widest "
        f"margin's ({max(by_margin):g}); judged on the other half:",
    )
