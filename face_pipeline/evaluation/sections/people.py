"""Grouping into people (lib/people), the way the `people` asset does it, on labelled data:

- LFW: every photo stored as one event; its central face's person against its identity (BCubed and
  pairwise precision and recall, people found against identities), for a sweep of link thresholds
  (the grouping is a pure function of the links, so the sweep re-groups in memory) and for what the
  library does with the shipped threshold;
- the real scenes with the LFW photos of the people in them, as two events: the four actors of
  `bald_guys.jpg` must be four people, each with the LFW photos of that actor, and no person may hold
  two labelled identities;
- the demo photos: each recurring astronaut one person across both events;
- `find` with people: a lookup's matching person's other photos added, or not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from face_pipeline.evaluation import metrics as M
from face_pipeline.evaluation.context import Harness
from face_pipeline.evaluation.datasets import read_scene_labels, same_person
from face_pipeline.evaluation.recipes import detector_from_spec
from face_pipeline.evaluation.report import Section, target
from face_pipeline.evaluation.retrieval import write_event
from face_pipeline.evaluation.sections.demo import copy_demo_events, recurring_people
from face_pipeline.lib.errors import FacePipelineError
from face_pipeline.lib.ingest import ingest_event
from face_pipeline.lib.models import get_embedder
from face_pipeline.lib.people import PeopleStore, update_people_for_event
from face_pipeline.lib.people.grouping import plan_grouping
from face_pipeline.lib.people.update import NEIGHBOURS
from face_pipeline.lib.search import find_person, with_person
from face_pipeline.lib.store import face_id_for

LFW_EVENT = "people-lfw"


def _clear(h: Harness) -> None:
    for event in h.store().serving_models():
        h.store().delete_event(event)


def _central_faces(h: Harness, faces, event: str, detector_model: str) -> dict[str, str]:
    """LFW photo path -> the face id of its central face (as write_event names faces)."""
    import hashlib

    out = {}
    for key, pf in faces.items():
        i = pf.central_face()
        if i is not None:
            out[key] = face_id_for(event, hashlib.sha256(key.encode()).hexdigest()[:32], detector_model, i)
    return out


def _grouping_rows(h: Harness, emb, all_faces: list[str], links, central: dict[str, str], identity: dict[str, str]):
    grid = np.round(np.arange(0.1, 0.9, 0.02) if emb.metric == "cosine" else np.arange(0.3, 0.7, 0.02), 3)
    rows, best = [], None
    labels = {path: identity[path] for path in identity}
    truth_people = sum(1 for n in Counter(labels.values()).values() if n >= 2)
    for t in grid:
        plan = plan_grouping(all_faces, [x for x in links if x[2] <= t], {}, set(), {})
        person_of_face = {f: i for i, g in enumerate(plan.groups) for f in g}
        clusters = {p: person_of_face[central[p]] for p in labels if central.get(p) in person_of_face}
        bp, br = M.bcubed(clusters, labels)
        pp, pr = M.pairwise(clusters, labels)
        found = sum(1 for n in Counter(clusters.values()).values() if n >= 2)
        rows.append((f"{t:g}", round(bp, 3), round(br, 3), round(pp, 3), round(pr, 3), found, truth_people))
        if bp >= 0.97 and (best is None or br > best[1]):
            best = (float(t), br, bp)
    return rows, best


def lfw_people(h: Harness, s: Section) -> None:
    store, ours = h.store(), h.ours
    emb = get_embedder(ours.embedder, h.folders)
    det_model = detector_from_spec(ours.detector, h.folders).model_id
    faces = h.lfw_faces(ours.detector, (ours.embedder,))
    write_event(store, LFW_EVENT, det_model, emb.model_id, faces)
    pstore = PeopleStore(store)
    all_faces = [f.face_id for f in pstore.event_faces(LFW_EVENT, emb.model_id)]
    widest = 0.9 if emb.metric == "cosine" else 0.7
    links = pstore.links(
        all_faces,
        model_id=emb.model_id,
        dim=emb.dim,
        metric=emb.metric,
        events=[LFW_EVENT],
        limit=NEIGHBOURS,
        within=widest,
    )
    central = _central_faces(h, faces, LFW_EVENT, det_model)
    identity = {str(p.path): p.identity for p in h.lfw_set().photos}
    rows, best = _grouping_rows(h, emb, all_faces, links, central, identity)
    s.table(
        (
            "link threshold",
            "BCubed P",
            "BCubed R",
            "pairwise P",
            "pairwise R",
            "people (>= 2 photos)",
            "identities (>= 2 photos)",
        ),
        rows,
        f"LFW, {len(identity)} photos as one event, {ours.embedder} on {ours.detector}'s faces; each photo is "
        "its central face. The sweep re-groups the same links in memory:",
    )
    update = update_people_for_event(replace(h.config.settings, dsn=store.dsn), store, LFW_EVENT)
    assigned = pstore.assignments(list(central.values()))
    clusters = {p: (assigned[f].person_id or ("alone", f)) for p, f in central.items() if f in assigned}
    bp, br = M.bcubed(clusters, identity)
    found = sum(1 for n in Counter(v for v in clusters.values() if not isinstance(v, tuple)).values() if n >= 2)
    truth = sum(1 for n in Counter(identity.values()).values() if n >= 2)
    s.table(
        ("", "link threshold", "BCubed P", "BCubed R", "people", "identities (>= 2 photos)", "seconds"),
        [
            (
                "library (update_people_for_event), shipped threshold",
                emb.link_threshold,
                round(bp, 3),
                round(br, 3),
                found,
                truth,
                update.seconds,
            )
        ]
        + (
            [("sweep: largest recall with BCubed P >= 0.97", best[0], round(best[2], 3), round(best[1], 3), "", "", "")]
            if best
            else []
        ),
    )
    s.targets.append(
        target(
            "people on LFW: BCubed precision >= 0.97 and recall >= 0.90",
            f"P {bp:.3f}, R {br:.3f} at link threshold {emb.link_threshold:g}",
            bp >= 0.97 and br >= 0.90,
        )
    )


def link_thresholds(h: Harness, s: Section) -> None:
    """Each identity model's link threshold, by one rule: the largest BCubed recall on LFW whose BCubed
    precision is >= 0.97 (a person who holds a stranger's photos is worse than one split in two)."""
    store, ours = h.store(), h.ours
    det_model = detector_from_spec(ours.detector, h.folders).model_id
    names = [ours.embedder, *(e for e in h.config.embedders if e != ours.embedder)]
    faces = h.lfw_faces(ours.detector, tuple(names))
    identity = {str(p.path): p.identity for p in h.lfw_set().photos}
    pstore = PeopleStore(store)
    rows = []
    for name in names:
        try:
            emb = get_embedder(name, h.folders)
        except FacePipelineError as exc:
            rows.append((name, f"not run: {exc}", ""))
            continue
        event = f"{LFW_EVENT}-links"
        write_event(store, event, det_model, emb.model_id, faces)
        all_faces = [f.face_id for f in pstore.event_faces(event, emb.model_id)]
        links = pstore.links(
            all_faces,
            model_id=emb.model_id,
            dim=emb.dim,
            metric=emb.metric,
            events=[event],
            limit=NEIGHBOURS,
            within=0.9 if emb.metric == "cosine" else 0.7,
        )
        sweep, best = _grouping_rows(h, emb, all_faces, links, _central_faces(h, faces, event, det_model), identity)
        shipped = next((r for r in sweep if float(r[0]) == round(emb.link_threshold, 3)), None)
        rows.append(
            (
                name,
                f"{best[0]:g} (P {best[2]:.3f}, R {best[1]:.3f})" if best else "none reaches P 0.97",
                f"{emb.link_threshold:g}" + (f" (P {shipped[1]:.3f}, R {shipped[2]:.3f})" if shipped else ""),
            )
        )
        h.store().delete_event(event)
    s.table(
        ("identity model", "chosen: largest BCubed R with P >= 0.97", "shipped link_threshold"),
        rows,
        f"Link thresholds, one rule for every identity model (LFW, {len(identity)} photos, central faces of "
        f"{ours.detector}):",
    )


def find_with_people(h: Harness, s: Section) -> None:
    """LFW lookups (first photo of identities with >= 4 photos) against the grouped LFW event, without
    and with the matching person's other photos."""
    settings = replace(h.config.settings, dsn=h.store().dsn)
    rows = {False: [], True: []}
    for q in h.lfw_queries():
        relevant = {str(p.path) for p in h.lfw_set().photos if p.identity == q.identity and p.path != q.path}
        try:
            base = find_person(settings, h.store(), q.path, k=200, events=[LFW_EVENT])
        except FacePipelineError:
            rows[False].append((0.0, 0.0))
            rows[True].append((0.0, 0.0))
            continue
        for add in (False, True):
            res = with_person(settings, h.store(), base, add_photos=add)
            got = {m.path for m in res.matches} - {str(q.path)}
            rows[add].append(M.precision_recall(got, relevant))
    out = []
    for add in (False, True):
        p, r = np.mean([x[0] for x in rows[add]]), np.mean([x[1] for x in rows[add]])
        out.append(
            (
                "find, plus the matching person's other photos" if add else "find (reference only)",
                len(rows[add]),
                round(float(p), 3),
                round(float(r), 3),
            )
        )
    s.table(
        ("lookup", "queries", "mean precision", "mean recall"),
        out,
        "`find` on LFW with people: the lookup as shipped, and with `--with-person-photos`:",
    )


def scenes_people(h: Harness, s: Section) -> None:
    """Scenes + the LFW photos of the people in them: bald_guys.jpg's actors are four people, each
    with that actor's LFW photos; no person holds two labelled identities."""
    store = h.store()
    _clear(h)
    scenes = read_scene_labels(h.config.scenes)
    root = h.tmp / "people_scenes"
    wanted: dict[str, str] = {}
    for identity, photos in h.lfw_set().by_identity().items():
        labels = [i for s_ in scenes for i in s_.identities if same_person(identity, i)]
        if labels:
            wanted[identity] = labels[0]
            for p in photos:
                (root / "lfw").mkdir(parents=True, exist_ok=True)
                (root / "lfw" / p.path.name).write_bytes(p.path.read_bytes())
    for sc in scenes:
        target_path = root / "scenes" / sc.relpath
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target_path.write_bytes(sc.path.read_bytes())
    settings = replace(
        h.config.settings,
        photos_root=root,
        data_dir=h.tmp / "people_scenes_data",
        dsn=store.dsn,
        workers=h.cache.workers,
    )
    for event in ("lfw", "scenes"):
        ingest_event(settings, store, event)
        update_people_for_event(settings, store, event)
    pstore = PeopleStore(store)
    label_of_lfw = {p.path.name: wanted[i] for i, ps in h.lfw_set().by_identity().items() if i in wanted for p in ps}
    people_labels: dict[str, set[str]] = {}
    bald_people: list[str | None] = []
    for person in pstore.list_people():
        for f in pstore.faces_of_person(person.person_id):
            if f.event == "lfw" and f.face_index == 0:
                people_labels.setdefault(person.person_id, set()).add(label_of_lfw[f.path])
            if f.event == "scenes" and f.path.endswith("bald_guys.jpg"):
                bald_people.append(person.person_id)
    mixed = {p: ls for p, ls in people_labels.items() if len(ls) > 1}
    bald_labels = [people_labels.get(p, set()) for p in bald_people]
    bald_ok = (
        len(set(bald_people)) == 4
        and all(len(ls) == 1 for ls in bald_labels)
        and len({next(iter(ls)) for ls in bald_labels if ls}) == 4
    )
    s.table(
        ("check", "result"),
        [
            (
                "people holding LFW photos of two labelled identities",
                f"{len(mixed)} {sorted(map(sorted, mixed.values()))}",
            ),
            (
                "bald_guys.jpg: people its faces belong to",
                f"{len(set(bald_people))} of its faces' people; their LFW "
                f"identities: {[sorted(ls) for ls in bald_labels]}",
            ),
        ],
        f"Scenes (`{h.config.scenes}`) and the LFW photos of the {len(wanted)} identities in them, as two events:",
    )
    s.targets.append(
        target(
            "people on the scenes: bald_guys.jpg's four actors are four people matching their "
            "LFW photos; no person mixes two labelled identities",
            f"{len(set(bald_people))} people on bald_guys.jpg, {len(mixed)} mixed people",
            bald_ok and not mixed,
        )
    )


def demo_people(h: Harness, s: Section) -> None:
    """The demo's recurring astronauts: the faces their portraits find are one person each."""
    store = h.store()
    _clear(h)
    demo = h.config.demo
    root = h.tmp / "people_demo"
    events = copy_demo_events(demo, root)
    settings = replace(
        h.config.settings, photos_root=root, data_dir=h.tmp / "people_demo_data", dsn=store.dsn, workers=h.cache.workers
    )
    for event in events:
        ingest_event(settings, store, event)
    for event in events:
        update_people_for_event(settings, store, event)
    pstore = PeopleStore(store)
    rows, whole = [], 0
    for astronaut, portrait, relevant in recurring_people(demo):
        try:
            res = find_person(settings, store, portrait, k=50)
        except FacePipelineError as exc:
            rows.append((astronaut, len(relevant), 0, f"lookup failed: {exc}"))
            continue
        faces = [m.face_id for m in res.matches if f"{m.event}/{m.path}" in relevant]
        persons = Counter(a.person_id for a in pstore.assignments(faces).values())
        one = len(faces) == len(relevant) and len(persons) == 1 and None not in persons
        whole += one
        rows.append(
            (
                astronaut,
                len(relevant),
                len(faces),
                ", ".join(f"{p or 'stranger'} x{n}" for p, n in persons.most_common()),
            )
        )
    s.table(
        ("astronaut", "photos", "found by the portrait", "people of those faces"),
        rows,
        "Demo photos: the faces each portrait finds in the photos the astronaut is in, and their people:",
    )
    s.targets.append(
        target(
            "people on the demo photos: each recurring astronaut one person across both events",
            f"{whole}/{len(rows)} astronauts",
            whole == len(rows),
        )
    )


def people_section(h: Harness) -> Section:
    s = Section("People: faces grouped into persons (lib/people)", __doc__.split("\n\n", 1)[1].strip())
    _clear(h)
    lfw_people(h, s)
    link_thresholds(h, s)
    find_with_people(h, s)
    if h.config.scenes:
        scenes_people(h, s)
    if h.config.demo:
        demo_people(h, s)
    return s
