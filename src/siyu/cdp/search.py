"""Finding profiles: exactly by an identifier (through the blind index, never decrypting) and fuzzily by name.

Name search differs per database, with one ranking on both (exact name, then names starting with the query,
then shorter names, then newest):

* PostgreSQL: a ``pg_trgm`` GIN index on ``cdp_profile.name`` (migration 0003). Queries of three characters or
  more are a substring ``ILIKE``; a two-character query (a given name like 子轩, a full name like 王伟) matches
  names that start or end with it, and one character (a surname) names that start with it, because pg_trgm
  can only use its index for patterns that yield a whole trigram.
* SQLite: an FTS5 table ``cdp_profile_fts`` (rowid = profile id) with two columns: ``words`` holds jieba's
  search tokens plus the surname and the given name (so 欧阳 and 建国 are words of 欧阳建国), ``chars`` the name
  character by character. A Chinese query matches the word, or the characters as a phrase (adjacent, in order:
  a true substring match); a Latin word matches by prefix. The rows are written by the profile services
  (:func:`index_profiles`), never by signals; code that writes names elsewhere calls it too, and
  :func:`rebuild_index` rebuilds an organisation's rows (after bulk loads such as ``siyu bench-data``).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable

from django.core.cache import cache
from django.db import connection
from django.db.models import Case, F, IntegerField, Lookup, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Length, Reverse

from siyu.kernel.actor import Actor

from .identifiers import NAMESPACED, Identifier
from .identifiers import normalise as normalise_identifier
from .models import Identity, IdentityType, Profile, ProfileStatus

FTS_TABLE = "cdp_profile_fts"
MAX_QUERY = 100
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 令狐 司徒 夏侯 长孙 宇文 澹台 端木 南宫 独孤 轩辕 呼延 西门 闻人 "
    "万俟 赫连 钟离 宗政 濮阳 淳于 单于 太叔 申屠 仲孙 鲜于 闾丘 左丘 第五 百里 东郭 公冶 谷梁 拓跋".split()
)
# jieba segments longer runs (company names: 思域科技有限公司 -> 思域, 科技, 有限, 公司, …); a person's name is
# short, jieba keeps it whole or splits it as the surname rule does, and loading its dictionary costs seconds.
JIEBA_FROM = 4
_WORD = re.compile(r"\w+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip().lower()


def _has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def _jieba_tokens(word: str) -> list[str]:
    import jieba  # imported on first use: loading its dictionary takes a moment

    jieba.setLogLevel(logging.WARNING)
    return [t for t in jieba.lcut_for_search(word, HMM=False) if _WORD.fullmatch(t)]


def name_tokens(name: str) -> tuple[str, str]:
    """The two FTS columns for ``name``: (jieba words + surname + given name + Latin words, characters)."""
    words: list[str] = []
    chars: list[str] = []
    for word in _WORD.findall(_fold(name)):
        if not _has_cjk(word):
            words.append(word)
            chars.append(word)
            continue
        words.append(word)
        if len(word) > JIEBA_FROM:
            words.extend(_jieba_tokens(word))
        surname = word[:2] if word[:2] in COMPOUND_SURNAMES else word[:1]
        if len(word) > len(surname):
            words += [surname, word[len(surname):]]
        chars.extend(word)
    return " ".join(dict.fromkeys(words)), " ".join(chars)


def fts_query(q: str) -> str:
    """The FTS5 MATCH expression for a user's query (every word must match); '' when nothing is searchable."""
    terms = []
    for word in _WORD.findall(_fold(q))[:10]:
        if _has_cjk(word):
            phrase = " ".join(word)
            terms.append(f'(words : "{word}" OR chars : "{phrase}")')
        else:
            terms.append(f'(words : "{word}"* OR chars : "{word}"*)')
    return " AND ".join(terms)


# --- keeping the SQLite index in step --------------------------------------------------------------------------


def uses_fts() -> bool:
    return connection.vendor == "sqlite"


def index_profiles(profiles: Iterable[Profile]) -> None:
    """Write the search rows of these profiles (SQLite; PostgreSQL's trigram index follows the column)."""
    if not uses_fts():
        return
    rows = [(p.pk, *name_tokens(p.name)) for p in profiles]
    if not rows:
        return
    with connection.cursor() as cur:
        cur.executemany(f"DELETE FROM {FTS_TABLE} WHERE rowid = %s", [(r[0],) for r in rows])  # noqa: S608
        cur.executemany(f"INSERT INTO {FTS_TABLE} (rowid, words, chars) VALUES (%s, %s, %s)",  # noqa: S608
                        [r for r in rows if r[1] or r[2]])


def rebuild_index(*, actor: Actor, batch: int = 5000) -> int:
    """Rewrite the search rows of every profile of the actor's organisation; returns how many."""
    if not uses_fts():
        return 0
    done, last = 0, 0
    while True:
        chunk = list(Profile.objects.in_org(actor).filter(pk__gt=last).order_by("pk").only("pk", "name")[:batch])
        if not chunk:
            return done
        index_profiles(chunk)
        done, last = done + len(chunk), chunk[-1].pk


# --- name search ----------------------------------------------------------------------------------------------


class _ILike(Lookup):
    """``name ILIKE pattern`` without Django's ``UPPER()`` wrapping, so the trigram index on the column serves."""

    lookup_name = "siyu_ilike"
    operator = "ILIKE"

    def as_sql(self, compiler, conn):
        lhs, lhs_params = self.process_lhs(compiler, conn)
        rhs, rhs_params = self.process_rhs(compiler, conn)
        return f"{lhs} {self.operator} {rhs}", [*lhs_params, *rhs_params]


class _Like(_ILike):
    """Case-sensitive: Chinese has no case, and LIKE skips the per-row case folding ILIKE pays."""

    lookup_name = "siyu_like"
    operator = "LIKE"


def _pattern(q: str, pattern: str):
    return (_Like if _has_cjk(q) else _ILike)(F("name"), pattern)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _ends_with(q: str):
    """Names ending with ``q``. Chinese (case-sensitive LIKE): the reversed name starting with the reversed query,
    which the b-tree on ``reverse(name)`` (migration 0007) answers as a range; a trigram index cannot anchor a
    pattern's end with two characters and rechecks hundreds of rows per query at M. Latin keeps ILIKE (no case
    folding in a b-tree range)."""
    if _has_cjk(q):
        return _Like(Reverse("name"), f"{_like_escape(q[::-1])}%")
    return _ILike(F("name"), f"%{_like_escape(q)}")


def _pg_name_condition(q: str) -> Q:
    text = _like_escape(q)
    if len(q) >= 3:
        return Q(_pattern(q, f"%{text}%"))
    if len(q) == 2:
        return Q(_pattern(q, f"{text}%")) | Q(_ends_with(q))
    return Q(_pattern(q, f"{text}%"))


def name_matches(qs: QuerySet, q: str) -> QuerySet:
    """``qs`` narrowed to names matching ``q``, ranked (exact, prefix, shorter, newest)."""
    q = _fold(q)[:MAX_QUERY]
    if not q:
        return qs.none()
    if uses_fts():
        expr = fts_query(q)
        if not expr:
            return qs.none()
        qs = qs.filter(pk__in=RawSQL(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s", [expr]))  # noqa: S608
        prefix = Q(name__istartswith=q)
    else:
        qs = qs.filter(_pg_name_condition(q))
        prefix = Q(_pattern(q, f"{_like_escape(q)}%"))
    rank = Case(When(name__iexact=q, then=Value(0)), When(prefix, then=Value(1)), default=Value(2),
                output_field=IntegerField())
    return qs.annotate(_rank=rank, _len=Length("name")).order_by("_rank", "_len", "-pk")


def best_name_matches(qs: QuerySet, q: str, *, limit: int = 20) -> list[Profile]:
    """The ``limit`` best name matches, ranked as :func:`name_matches` ranks them.

    On PostgreSQL the ranking is applied to a bounded candidate set rather than to every match: a surname
    matches about one profile in a hundred, and sorting ten thousand rows to show twenty would cost more than the
    search itself. Exact names (the (org, name) b-tree), then up to ``limit`` names starting with the query, then
    up to ``limit`` other matches (both through the trigram index, unordered so the scan stops early)."""
    q = _fold(q)[:MAX_QUERY]
    if not q:
        return []
    if uses_fts():
        return list(name_matches(qs, q)[:limit])
    exact = list(qs.filter(name=q).order_by("-pk")[:limit])
    seen = {p.pk for p in exact}
    text = _like_escape(q)
    prefix = [p for p in qs.filter(_pattern(q, f"{text}%")).order_by()[: limit + len(exact)] if p.pk not in seen]
    seen |= {p.pk for p in prefix}
    rest: list[Profile] = []
    if len(exact) + len(prefix) < limit and len(q) >= 2:
        cond = _pattern(q, f"%{text}%") if len(q) >= 3 else _ends_with(q)
        rest = [p for p in qs.filter(cond).order_by()[: limit + len(seen)] if p.pk not in seen]

    def order(rows: list[Profile]) -> list[Profile]:
        return sorted(rows, key=lambda p: (len(p.name), -p.pk))

    return (exact + order(prefix) + order(rest))[:limit]


# --- exact search through the blind index ---------------------------------------------------------------------

NAMESPACE_CACHE_SECONDS = 300


def known_namespaces(actor: Actor, type_: str) -> list[str]:
    """The namespaces (WeCom corp ids, WeChat app ids) the organisation's identities of a type use; cached
    briefly because the search box asks on every query that could be such an id."""
    return namespaces_of(actor, [type_])[type_]


def namespaces_of(actor: Actor, types: list[str]) -> dict[str, list[str]]:
    """:func:`known_namespaces` of several types with one cache read (the search box asks for every namespaced
    type on each query; without Redis each cache read is a query)."""
    keys = {t: f"cdp:namespaces:{actor.org_id}:{t}" for t in types}
    cached = cache.get_many(list(keys.values()))
    out, missing = {}, {}
    for type_, key in keys.items():
        if key in cached:
            out[type_] = cached[key]
            continue
        out[type_] = missing[key] = sorted(set(Identity.objects.in_org(actor).filter(type=type_).order_by()
                                               .values_list("namespace", flat=True).distinct()[:50]))
    if missing:
        cache.set_many(missing, NAMESPACE_CACHE_SECONDS)
    return out


def identifier_candidates(actor: Actor, text: str) -> list[Identifier]:
    """Every identifier ``text`` could be: a phone or an email when it reads as one, else each id type
    (namespaced ones under every namespace the organisation uses)."""
    out: list[Identifier] = []
    for type_ in (IdentityType.PHONE, IdentityType.EMAIL):
        try:
            out.append(normalise_identifier(type_, text))
        except Exception:  # noqa: BLE001 - not a value of that type: simply not a candidate
            continue
    if out:
        return out
    namespaces = namespaces_of(actor, [t for t in IdentityType if t in NAMESPACED])
    for type_ in IdentityType:
        if type_ in (IdentityType.PHONE, IdentityType.EMAIL):
            continue
        for ns in namespaces.get(type_, [""]):
            try:
                out.append(normalise_identifier(type_, text, ns))
            except Exception:  # noqa: BLE001
                continue
    return out


def profiles_with(qs: QuerySet, actor: Actor, identifiers: list[Identifier]) -> QuerySet:
    """``qs`` narrowed to the profiles holding one of ``identifiers`` (one indexed query on the blind index)."""
    if not identifiers:
        return qs.none()
    cond = Q()
    for i in identifiers:
        cond |= Q(type=i.type, namespace=i.namespace, value_index=i.index)
    holders = Identity.objects.in_org(actor).filter(cond).values("profile_id")
    return qs.filter(pk__in=holders)


def live(qs: QuerySet) -> QuerySet:
    return qs.filter(status=ProfileStatus.ACTIVE)
