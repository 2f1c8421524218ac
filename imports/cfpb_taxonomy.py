"""The root-cause codes and categories a CFPB import files its complaints under.

Issues and sub-issues become codes under their product, ``cfpb.<product>.<issue>.<sub-issue>``,
named with the CFPB's own text; each product is a category. A name always gives the same
code, so imports on different installs (or days) agree.
"""

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify

from recovery.models import Category, RootCause

# Root-cause codes are cfpb.<product>.<issue>.<sub-issue>, at most RootCause.code's 200
# characters: a product or issue segment keeps up to 80 (the longest CFPB names slugify to
# 79), the sub-issue takes what is left (at least 33), so parent codes stay whole.
ROOT_CODE = "cfpb"
ROOT_NAME = "CFPB"
SEGMENT_LIMIT = 80
# Hex digits of the name's SHA-1 that end a shortened segment: 32 bits keep two long names
# with the same beginning apart (a clash gets likely only with tens of thousands of long
# names under one parent).
HASH_LENGTH = 8


@lru_cache(maxsize=4096)
def cause_path(product: str, issue: str, sub_issue: str = "") -> tuple[tuple[str, str], ...]:
    """(code, name) of each node from the root down to the complaint's deepest cause."""
    code_length = RootCause._meta.get_field("code").max_length
    path = [(ROOT_CODE, ROOT_NAME)]
    code = ROOT_CODE
    for name in (product, issue, sub_issue):
        if not name:
            break
        limit = min(SEGMENT_LIMIT, code_length - len(code) - 1)
        code = f"{code}.{code_segment(name, limit)}"
        path.append((code, name[: RootCause._meta.get_field("name").max_length]))
    return tuple(path)


def code_segment(name: str, limit: int) -> str:
    """A slug of ``name`` of at most ``limit`` characters, the same for the same name.

    A longer slug is cut and ends with a hash of the full name, so two names that begin
    alike still get different segments.
    """
    slug = slugify(name)
    if slug and len(slug) <= limit:
        return slug
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:HASH_LENGTH]
    if not slug:
        # Nothing of the name survives slugify (punctuation, a script with no ASCII form).
        return f"x{digest}"
    return f"{slug[: limit - HASH_LENGTH - 1].rstrip('-_')}-{digest}"


def category_slug(product: str) -> str:
    return code_segment(product, Category._meta.get_field("slug").max_length)


class Taxonomy:
    """Category and root-cause ids met so far in a run (a few hundred entries at most)."""

    def __init__(self) -> None:
        self.categories: dict[str, int] = {}
        self.root_causes: dict[str, int] = {}

    def ensure(self, filed_under: Iterable[tuple[str, str, str]]) -> None:
        """Find or create the categories and codes of (product, issue, sub-issue) triples.

        In a transaction of its own: a category or code without complaints is harmless.
        """
        triples = set(filed_under)
        products = {product for product, _, _ in triples} - self.categories.keys()
        nodes: dict[str, tuple[str, str | None]] = {}
        for triple in sorted(triples):
            parent = None
            for code, name in cause_path(*triple):
                if code not in self.root_causes:
                    nodes.setdefault(code, (name, parent))
                parent = code
        if not products and not nodes:
            return
        # Learned into copies and kept only once committed: ids from a rolled-back
        # transaction must not outlive it.
        categories, root_causes = dict(self.categories), dict(self.root_causes)
        with transaction.atomic():
            if products:
                categories.update(_categories(products))
            if nodes:
                _root_causes(nodes, root_causes)
        self.categories, self.root_causes = categories, root_causes


def _categories(products: set[str]) -> dict[str, int]:
    """Category ids by product name, matched by slug or by name, created when missing."""
    max_name = Category._meta.get_field("name").max_length
    wanted = {product: (category_slug(product), product[:max_name]) for product in products}

    def found() -> dict[str, int]:
        rows = Category.objects.filter(
            Q(slug__in=[slug for slug, _ in wanted.values()])
            | Q(name__in=[name for _, name in wanted.values()])
        ).values_list("pk", "slug", "name")
        by_slug = {slug: pk for pk, slug, _ in rows}
        by_name = {name: pk for pk, _, name in rows}
        ids = {}
        for product, (slug, name) in wanted.items():
            pk = by_slug.get(slug) or by_name.get(name)
            if pk is not None:
                ids[product] = pk
        return ids

    ids = found()
    missing = [product for product in products if product not in ids]
    if missing:
        # ignore_conflicts: a concurrent import may create the same category first.
        Category.objects.bulk_create(
            [Category(slug=wanted[p][0], name=wanted[p][1]) for p in missing],
            ignore_conflicts=True,
        )
        ids = found()
    return ids


def _root_causes(nodes: dict[str, tuple[str, str | None]], known: dict[str, int]) -> None:
    """Find or create ``nodes`` (code: (name, parent code)), parents first; fills ``known``."""
    by_depth: dict[int, list[str]] = defaultdict(list)
    for code in nodes:
        by_depth[code.count(".")].append(code)
    for depth in sorted(by_depth):
        codes = by_depth[depth]
        known.update(RootCause.objects.filter(code__in=codes).values_list("code", "pk"))
        missing = [code for code in codes if code not in known]
        if not missing:
            continue
        RootCause.objects.bulk_create(
            [
                RootCause(
                    code=code,
                    name=nodes[code][0],
                    parent_id=known[nodes[code][1]] if nodes[code][1] else None,
                    description="From the CFPB Consumer Complaint Database.",
                )
                for code in missing
            ],
            ignore_conflicts=True,
        )
        known.update(RootCause.objects.filter(code__in=missing).values_list("code", "pk"))
