"""Which stories go where: the home page's rundown and an article's surroundings."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date

from .models import Article, ArticleSummary, SectionRundown, Surroundings
from .store import Store

LATEST_COUNT = 5
DONT_MISS_COUNT = 4
# "Don't miss" rotates through this many of each section's newest stories.
DONT_MISS_DEPTH = 10
RUNDOWN_COUNT = 4
RELATED_DEPTH = 12
# How far "Also read" walks back or forward in time when nothing related is found;
# a section of one brief title a day must not make an article page walk it all.
NEAREST_DEPTH = 20

# Given an article and how many to find, return ids of related articles, best first.
RelatedFinder = Callable[[Article, int], list[str]]


def _daily_rank(day: date, *parts: str) -> str:
    return hashlib.sha1("|".join((day.isoformat(), *parts)).encode()).hexdigest()


def surroundings(
    store: Store, article: Article, day: date, related: RelatedFinder | None = None
) -> Surroundings:
    """Choose the stories around an article; the choice changes once a day at most."""
    shown = {article.id}
    previous, newer = store.neighbours(article)
    shown.update(s.id for s in (previous, newer) if s)

    candidates = _blend(
        related(article, RELATED_DEPTH) if related else [],
        store.tag_neighbours(article, RELATED_DEPTH),
    )
    unshown = store.summaries(c for c in candidates if c not in shown)
    also_read = next((s for s in unshown if not _same_headline(s, article)), None)
    if also_read is None:
        also_read = _nearest_unshown(store, article, shown)
    if also_read:
        shown.add(also_read.id)

    latest = [
        s
        for s in store.latest(LATEST_COUNT + len(shown), article.section.slug)
        if s.id not in shown
    ][:LATEST_COUNT]
    shown.update(s.id for s in latest)

    others = [s for s in store.sections() if s.slug != article.section.slug]
    others.sort(key=lambda s: _daily_rank(day, article.id, s.slug))
    dont_miss = []
    for section in others[:DONT_MISS_COUNT]:
        pool = [
            s for s in store.latest(DONT_MISS_DEPTH, section.slug) if s.id not in shown
        ]
        if pool:
            pick = min(pool, key=lambda s: _daily_rank(day, article.id, s.id))
            dont_miss.append(pick)
            shown.add(pick.id)
    return Surroundings(also_read, previous, newer, latest, dont_miss)


def _blend(by_text: list[str], by_tags: list[str]) -> list[str]:
    """Rank stories alike in words and sharing a tag first, then either alone.

    Text similarity finds related stories in any section (and where tags are only
    the section name, as in Wikinews); shared tags keep a running story together.
    """
    tagged = set(by_tags)
    both = [i for i in by_text if i in tagged]
    return list(dict.fromkeys([*both, *by_text, *by_tags]))


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
