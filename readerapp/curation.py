"""Which stories go where: the home page's rundown and an article's surroundings."""

from __future__ import annotations

import gc
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from datetime import date, datetime
from pathlib import Path

from .models import Article, ArticleSummary, SectionRundown, Surroundings
from .search import ArchiveIndex, Likeness, likeness_text
from .store import Store, open_store

LATEST_COUNT = 5
# The stories an article page shows above "Latest from": itself, the previous and
# next ones, and "Also read".
LATEST_SHOWN_ABOVE = 4
DONT_MISS_COUNT = 4
# "Don't miss" rotates through this many of each section's newest stories.
DONT_MISS_DEPTH = 10
RUNDOWN_COUNT = 4
RELATED_DEPTH = 12
# Choosing "Also read" for this many articles at once pays for a process per core,
# each given shares of at least CHOICE_SHARE articles at a time.
PARALLEL_CHOICE = 2000
CHOICE_SHARE = 500
# Shares per process: the last one taken may be all one process does while the
# other has finished, so it is kept small (the three corpora on two processes:
# 32 shares of ~1,060 stories, ~0.5 CPU-seconds each; 16 before, no CPU lost).
SHARES_EACH = 16
# "Also read" candidates kept per article: enough to outlast the previous and next
# stories, which a page never offers twice, and a few stories taken off the site.
ALSO_READ_KEPT = 8
# "Also read" candidates read at a time, best first.
ALSO_READ_BATCH = 2
# How far "Also read" walks back or forward in time when nothing related is found;
# a section of one brief title a day must not make an article page walk it all.
NEAREST_DEPTH = 20

# Given an article and how many to find, return ids of related articles, best first.
RelatedFinder = Callable[[Article, int], list[str]]


def _daily_rank(day: date, *parts: str) -> int:
    # Stable across processes and restarts (unlike hash()), and cheap.
    return zlib.crc32("|".join((day.isoformat(), *parts)).encode())


def surroundings(
    store: Store, article: Article, day: date, related: RelatedFinder | None = None
) -> Surroundings:
    """Choose the stories around an article; the choice changes once a day at most.

    "Don't miss" is the same for every page of a section on a day, but where the
    page already shows a pick: another of that section's newest stands in.
    """
    shown = {article.id}
    candidates = store.also_read(article.id)
    if candidates is None:
        # Not chosen yet (the next index update chooses): asked for now, slowly.
        candidates = _blend(
            related(article, RELATED_DEPTH) if related else [],
            store.tag_neighbours(article, RELATED_DEPTH),
        )
    # The best candidate almost always serves, read with the neighbours; the
    # others are read only if not.
    first = candidates[:1]
    previous, newer, read = store.neighbours_and(article, first)
    shown.update(s.id for s in (previous, newer) if s)
    also_read = _first_unshown(read, shown, article)
    unshown = [c for c in candidates[len(first) :] if c not in shown]
    for start in range(0, len(unshown), ALSO_READ_BATCH):
        if also_read:
            break
        batch = store.summaries(unshown[start : start + ALSO_READ_BATCH])
        also_read = _first_unshown(batch, shown, article)
    if also_read is None:
        also_read = _nearest_unshown(store, article, shown)
    if also_read:
        shown.add(also_read.id)

    # Always as many, whatever this page shows already (itself, its neighbours and
    # "Also read"): every page of the section then shares one read (#16).
    newest = store.latest(LATEST_COUNT + LATEST_SHOWN_ABOVE, article.section.slug)
    latest = [s for s in newest if s.id not in shown][:LATEST_COUNT]
    shown.update(s.id for s in latest)

    # The day's picks for the section: every page of it offers the same few, as
    # a front page's rail does, and renders them once (#16).
    dont_miss = _dont_miss(store, day, article.section.slug, shown)
    return Surroundings(also_read, previous, newer, tuple(latest), dont_miss)


def _dont_miss(
    store: Store, day: date, home: str, shown: set[str]
) -> tuple[ArticleSummary, ...]:
    """Return a section's "Don't miss" picks for a day, none of them shown already.

    Made once and kept while the sections and stories it drew from stand (the
    store's shared reads): only a page showing one of those stories (its "Also
    read" can be) draws again without it.
    """
    picks, drawn_from = store.kept(
        ("dont miss", day, home), lambda: _draw_dont_miss(store, day, home, set())
    )
    if drawn_from.isdisjoint(shown):
        return picks
    return _draw_dont_miss(store, day, home, shown)[0]


def _draw_dont_miss(
    store: Store, day: date, home: str, shown: set[str]
) -> tuple[tuple[ArticleSummary, ...], frozenset[str]]:
    """Draw a story from each of the day's other sections (ranked by a hash of the
    day and both sections), none of them shown; return them and every story the
    draw could have taken."""
    ranked = sorted(
        (_daily_rank(day, home, section.slug), section.slug)
        for section in store.navigation()
        if section.slug != home
    )
    picks, drawn_from = [], set()
    for rank, slug in ranked[:DONT_MISS_COUNT]:
        newest = store.latest(DONT_MISS_DEPTH, slug)
        drawn_from.update(s.id for s in newest)
        pool = [s for s in newest if s.id not in shown]
        if pool:
            # The rank that placed the section picks its story: one hash each.
            picks.append(pool[rank % len(pool)])
    return tuple(picks), frozenset(drawn_from)


def _blend(by_text: list[str], by_tags: list[str]) -> list[str]:
    """Rank stories alike in words and sharing a tag first, then either alone.

    Text similarity finds related stories in any section (and where tags are only
    the section name, as in Wikinews); shared tags keep a running story together.
    """
    tagged = set(by_tags)
    both = [i for i in by_text if i in tagged]
    return list(dict.fromkeys([*both, *by_text, *by_tags]))


def choose_also_read(
    store: Store,
    archive_index: ArchiveIndex,
    changed: Collection[str] = (),
    workers: int = 1,
    meanwhile: Callable[[], object] | None = None,
) -> int:
    """Choose and keep the "Also read" candidates of the articles that have none
    (new, changed, or stored before there were any) and of those whose candidates
    name a `changed` article (added, updated or removed); return how many.

    An article page then reads its candidates instead of asking the index (#16).
    Choices name articles by id, so a rebuilt index leaves them as they are.

    `meanwhile` runs in this process while the choosing processes start (after
    choosing when there are none): work of the caller's that choosing does not
    read, done on a core that would otherwise wait.
    """
    due = store.also_read_due(changed)
    if not due or archive_index.current() is None:
        if meanwhile:
            meanwhile()
        return 0
    chosen: dict[str, list[str]] = {}
    by_text: dict[str, list[str]] = {}
    if workers > 1 and len(due) >= PARALLEL_CHOICE:
        # Ids sorted keep each source's stories (and words) mostly in one share;
        # many small shares keep every process busy to the end.
        ordered = sorted(due)
        size = max(CHOICE_SHARE, -(-len(ordered) // (workers * SHARES_EACH)))
        split = [ordered[n : n + size] for n in range(0, len(ordered), size)]
        with ProcessPoolExecutor(
            workers,
            initializer=_start_choosing,
            initargs=(store.path(), archive_index.root),
        ) as pool:
            shares = [pool.submit(_choose_share, share) for share in split]
            if meanwhile:
                try:
                    meanwhile()
                except BaseException:
                    for share in shares:
                        share.cancel()
                    raise
            # Each share's choices are kept as it comes back, while the processes
            # choose the rest, rather than all of them once the last is done.
            for share in as_completed(shares):
                one_chosen, one_by_text = share.result()
                store.keep_also_read(one_chosen)
                chosen.update(one_chosen)
                by_text.update(one_by_text)
    else:
        if meanwhile:
            meanwhile()
        chosen, by_text = _choose(store, archive_index, due)
        store.keep_also_read(chosen)
    # A new story may suit those most like it better than what they offer.
    again = {i for c in changed for i in by_text.get(c, ())} - chosen.keys()
    if again:
        chosen_again = _choose(store, archive_index, again)[0]
        store.keep_also_read(chosen_again)
        chosen.update(chosen_again)
    return len(chosen)


# What a choosing process reads once and keeps for every share it is given: the
# index's statistics, each term's scored postings, headlines and tags; and what
# keeps its files open for the process's life (they close as it ends).
_chooser: tuple[Store, Likeness, _Choosing, ExitStack] | None = None


def _start_choosing(database: str, index_root: Path) -> None:
    """Open the archive and the index in a process of a choosing pool."""
    global _chooser
    # The process only chooses, and what it keeps makes no reference cycles.
    gc.disable()
    store = open_store(database)
    opened = ExitStack()
    likeness = opened.enter_context(ArchiveIndex(index_root).likeness())
    if likeness is not None:
        _chooser = (store, likeness, _Choosing(store), opened)


def _choose_share(
    ids: list[str],
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Choose for some of the articles in a process started by _start_choosing."""
    if _chooser is None:
        return {}, {}
    store, likeness, choosing, _ = _chooser
    choosing.chosen = {}
    by_text = choosing.choose(store.texts(ids), likeness)
    return choosing.chosen, by_text


def _choose(
    store: Store, archive_index: ArchiveIndex, ids: Collection[str]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Return the candidates chosen for these articles, and the articles each
    one's text is most like."""
    with _uncollected(), archive_index.likeness() as likeness:
        if likeness is None:
            return {}, {}
        choosing = _Choosing(store)
        by_text = choosing.choose(store.texts(ids), likeness)
    return choosing.chosen, by_text


@contextmanager
def _uncollected() -> Iterator[None]:
    """Hold off Python's cycle collector while choosing.

    Choosing keeps hundreds of thousands of objects (the index's term statistics,
    scored postings) and makes no reference cycles: each collection would walk
    them all again for nothing (0.6 s of reading the statistics alone, 34k stories).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class _Choosing:
    """What choosing many articles' "Also read" at once needs from the archive."""

    def __init__(self, store: Store) -> None:
        self.headlines = {i: h.casefold() for i, h in store.headlines().items()}
        self.tagged: dict[str, list[str]] = {}
        self.members: dict[str, list[tuple[str, float]]] = {}
        for tag, articles in store.relating_tags().items():
            self.members[tag] = [
                (i, datetime.fromisoformat(p).timestamp()) for i, p in articles
            ]
            for article_id, _ in articles:
                self.tagged.setdefault(article_id, []).append(tag)
        self.chosen: dict[str, list[str]] = {}

    def choose(
        self, texts: Iterable[tuple[str, ...]], likeness: Likeness
    ) -> dict[str, list[str]]:
        """Choose for each (id, headline, standfirst, body text); return the ids
        each one's text is most like."""
        by_text = {}
        for article_id, headline, standfirst, body_text in texts:
            text = likeness_text(headline, standfirst, body_text)
            by_text[article_id] = likeness.like(article_id, text, RELATED_DEPTH)
            candidates = _blend(by_text[article_id], self._by_tags(article_id))
            own = headline.casefold()
            self.chosen[article_id] = [
                c
                for c in candidates
                if c != article_id and self.headlines.get(c, own) != own
            ][:ALSO_READ_KEPT]
        return by_text

    def _by_tags(self, article_id: str) -> list[str]:
        """Return what Store.tag_neighbours would, from the tags read once."""
        shared: Counter[str] = Counter()
        times: dict[str, float] = {}
        when = 0.0
        for tag in self.tagged.get(article_id, ()):
            for other, published in self.members[tag]:
                if other == article_id:
                    when = published
                else:
                    shared[other] += 1
                    times[other] = published
        ranked = sorted(shared, key=lambda o: (-shared[o], abs(times[o] - when), o))
        return ranked[:RELATED_DEPTH]


def _first_unshown(
    stories: Iterable[ArticleSummary], shown: set[str], article: Article
) -> ArticleSummary | None:
    return next(
        (s for s in stories if s.id not in shown and not _same_headline(s, article)),
        None,
    )


def _same_headline(one: ArticleSummary, other: Article) -> bool:
    """Tell whether a link to `one` would read like a link to `other` itself.

    Running stories and current-events briefs repeat one title day after day.
    """
    return one.headline.casefold() == other.headline.casefold()


def _nearest_unshown(
    store: Store, article: Article, shown: set[str]
) -> ArticleSummary | None:
    """Return the closest story in time beyond the previous and next ones,
    skipping those with the article's own headline."""
    for direction, step in enumerate(store.neighbours(article)):
        for _ in range(NEAREST_DEPTH):
            if step is None or (
                step.id not in shown and not _same_headline(step, article)
            ):
                break
            step = store.neighbours(step)[direction]
        else:
            step = None
        if step is not None:
            return step
    return None


def rundown(store: Store) -> tuple[ArticleSummary | None, list[SectionRundown]]:
    """Return the lead story and the newest stories of each section, newest first."""
    newest = store.latest(1)
    lead = newest[0] if newest else None
    rundowns = []
    for section in store.sections():
        articles = [
            s
            for s in store.latest(RUNDOWN_COUNT + 1, section.slug)
            if lead is None or s.id != lead.id
        ][:RUNDOWN_COUNT]
        if articles:
            rundowns.append(SectionRundown(section, articles))
    rundowns.sort(key=lambda r: r.articles[0].published, reverse=True)
    return lead, rundowns
