"""Write a news-shaped eval folder: synthetic deal articles whose facts are known by construction, and questions on them.

Each article reports one critical-minerals deal in the vocabulary of ``bench/generate.py`` (its countries, partners,
lenders, minerals, names and firms), but is written from several phrasings per fact, in varying order: facts split
over two sentences, referred to by pronoun or by "the joint venture" in the next one, quotes, and other firms,
lenders and numbers of the same type nearby (a rival's output, an analyst's percentage, a lender that is not
lending). Every sentence records the facts it states (:class:`Fact`), so the questions are checked mechanically:

- an ``answer`` row asks for a fact whose names pick out exactly one stated value in the whole corpus; its
  ``facts`` are the forms a correct answer may take ("$1.2 billion" -> "1.2 billion" or "1.2bn"), its ``sources``
  the title of the article that states it, and ``evidence`` the sentence that holds it;
- a ``refuse`` row looks answerable (the right article and topic) but asks for a fact that no article states:
  an attribute never given (the loan's interest rate), a relation swapped (the lender's stake), an entity from
  another article, a name the corpus never mentions, a changed verb ("When did production end?"), a number or
  year that is not there. Its ``probe`` names the missing fact; ``tests/test_news_eval.py`` re-checks it.

The folder has the layout of ``../shared/eval/squad``: ``corpus/*.md`` (front matter: title, source, published,
url) and ``questions.jsonl`` (the eval format, plus ``kind``, ``tags``, ``evidence`` / ``probe``). Deterministic:
the same ``--seed`` and ``--articles`` write byte-identical files. ``bench/generate.py`` is only read from.

    python -m bench.news_eval eval/news-fit --articles 60 --seed 11
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.generate import (
    COUNTRIES,
    FIRM_A,
    FIRM_B,
    FIRST,
    LAST,
    MINERALS,
    PARTNERS,
    SECRETARIES,
    SITES_A,
    SITES_B,
    SOURCES,
    TITLE_FORMS,
)
from index.load import doc_id_for

# Countries that are also partners (Japan, Canada, ...) are left out of the host countries, so that "trade
# between A and B" and "the memorandum between A and B" name one pair in one order only.
HOSTS = [c for c in COUNTRIES if c not in PARTNERS]
# More words for firm and site names than generate.py has, so that every firm and first site is unique in a set.
FIRM_A_MORE = [*FIRM_A, "Cedar", "Kestrel", "Larch", "Beacon", "Tern", "Aurora", "Basalt", "Crescent", "Ember", "Juniper"]
SITES_A_MORE = [
    *SITES_A,
    "Cedar Flats",
    "Hawk Ridge",
    "Long Lake",
    "Iron Gap",
    "Salt Pan",
    "Owl Creek",
    "Pine Hollow",
    "Sable Hill",
    "Grey Mesa",
    "Willow Bend",
    "Bear Lake",
    "Crow Valley",
    "Fox Hill",
    "Elk Ridge",
    "Tall Pines",
    "Granite Butte",
]
# What a correct answer about a mineral's use must mention (one of each inner list).
USE_GOLD = {
    "antimony": ["flame retardant", "ammunition"],
    "lithium": ["batteries"],
    "cobalt": ["cathode"],
    "nickel": ["stainless steel", "batteries"],
    "graphite": ["anode"],
    "rare earths": ["magnets"],
    "copper": ["electricity", "grids"],
    "manganese": ["steel", "cathode"],
    "gallium": ["semiconductors", "radar"],
    "germanium": ["fibre optics", "infrared"],
    "vanadium": ["steel", "grid power"],
    "molybdenum": ["alloys", "pipelines"],
    "tin": ["solder"],
    "niobium": ["high-strength steel"],
}
# Names no article ever mentions (checked against the text): they make questions that must be refused.
ABSENT_MINERALS = ["platinum", "uranium", "zinc", "silver", "palladium", "chromium", "tungsten"]
ABSENT_COUNTRIES = ["Mexico", "Kenya", "Ghana", "Egypt", "Colombia", "Turkey", "Poland", "Spain", "Sweden", "Chile"]
SHE = {"Amara", "Dalia", "Greta", "Ines", "Lena", "Nadia", "Priya", "Sofia", "Ulla", "Wen", "Yara", "Aiko", "Carmen", "Elena"}
DURATIONS = {"two": "2", "three": "3", "4-1/2": "4.5", "five": "5", "six": "6"}
QUOTES = [
    "This partnership gives {partner} a reliable source of {mineral} for decades",
    "We expect the first shipments to reach buyers in {partner} soon after commissioning",
    "The deposits are large, and the financing is now within reach",
    "This is the most important project in our history",
]


def cap(text: str) -> str:
    return text[0].upper() + text[1:]


def poss(name: str) -> str:
    """'Orion Partners' -> "Orion Partners'", 'Norway' -> "Norway's"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def bare(name: str) -> str:
    """'the Philippines' -> 'Philippines': the form an answer may use."""
    return name.removeprefix("the ")


# -- values: how a fact is written, and the forms a correct answer may take ----------------------------------
@dataclass(frozen=True)
class Value:
    shown: str  # as written in the article
    gold: tuple[str, ...]  # the eval row's fact variants: a correct answer contains one of them


def name_value(name: str) -> Value:
    return Value(name, (bare(name),))


def money(rng: random.Random, lo: float, hi: float) -> Value:
    """A sum in US dollars, written one of several ways."""
    millions = rng.uniform(lo, hi)
    if millions >= 1000:
        num = f"{millions / 1000:.1f}".removesuffix(".0")
        forms = [f"${num} billion", f"{num} billion dollars", f"${num}bn", f"US${num} billion"]
        gold = (f"{num} billion", f"{num}bn")
    else:
        num = f"{round(millions / 10) * 10:,}"
        forms = [f"${num} million", f"{num} million dollars", f"${num}m", f"US${num} million"]
        gold = (f"{num} million", f"{num}m")
    return Value(rng.choice(forms), gold)


def tons(rng: random.Random, lo: int, hi: int) -> tuple[int, Value]:
    amount = round(rng.randint(lo, hi), -2)
    unit = rng.choice(["metric tons", "tonnes", "mt", "tons"])
    return amount, Value(f"{amount:,} {unit}", (f"{amount:,}",))


def percent(rng: random.Random, number: int) -> Value:
    return Value(rng.choice([f"{number}%", f"{number} percent", f"{number} per cent"]), (f"{number}%",))


def within(rng: random.Random, words: str) -> Value:
    """'within three years' or 'within 3 years'."""
    digits = DURATIONS[words]
    shown = rng.choice([words, digits])
    gold = {words, digits} | ({"four and a half", "4 1/2"} if words == "4-1/2" else set())
    return Value(f"within {shown} years", tuple(f"{g} years" for g in sorted(gold)))


def day(rng: random.Random, date: dt.date) -> Value:
    month = date.strftime("%B")
    shown = rng.choice([f"{month} {date.day}", f"{date.day} {month}", f"{month} {date.day}, {date.year}"])
    return Value(shown, (f"{month} {date.day}", f"{date.day} {month}"))


# -- facts ------------------------------------------------------------------------------------------------------
@dataclass
class Fact:
    """One thing an article states: ``relation`` of ``args`` is ``value``, said in ``evidence``."""

    relation: str
    value: Value
    args: dict[str, str]
    evidence: str = ""
    article: int = -1
    implied: bool = False  # stated by context only (the value is not in the evidence sentence): never asked for
    loose: tuple[str, ...] = ()  # args the sentence leaves to context ("Exports reached ...": whose?)
    section: str = ""  # the part of the article that states it (see write_article)

    def matches(self, relation: str, where: dict[str, str], loose: bool = False) -> bool:
        """Whether this fact is what ``where`` asks for; ``loose``: or could be read as it (context-given args aside)."""
        return self.relation == relation and all(
            self.args.get(k) == v for k, v in where.items() if not (loose and k in self.loose)
        )


def find(facts: Iterable[Fact], relation: str, where: dict[str, str], loose: bool = False) -> list[Fact]:
    """The facts of ``relation`` whose arguments agree with every item of ``where`` (see :meth:`Fact.matches`)."""
    return [f for f in facts if f.matches(relation, where, loose)]


@dataclass
class Article:
    n: int
    file_name: str
    title: str
    source: str
    published: str
    url: str
    paragraphs: list[list[str]]
    facts: list[Fact]
    slots: dict[str, str]  # the deal's names, for the question templates
    deal: int  # the first report of the deal this article reports (its own n, unless it is a second report)

    @property
    def body(self) -> str:
        return "\n\n".join(" ".join(p) for p in self.paragraphs)

    def file_text(self) -> str:
        return (
            "---\n"
            f'title: "{self.title}"\n'
            f'source: "{self.source}"\n'
            f"published: {self.published}\n"
            f'url: "{self.url}"\n'
            # The story (deal) it reports: the fit deals stories, not articles, into folds, so that the two reports of
            # one deal are never on both sides of a fold. newsbot itself ignores the key.
            f'story: "{self.url.rsplit("/", 1)[0].rsplit("/", 1)[1]}-{self.deal:03d}"\n'
            "---\n" + self.body + "\n"
        )


class Writer:
    """Collects an article's paragraphs and the facts each sentence states."""

    def __init__(self) -> None:
        self.paragraphs: list[list[str]] = []
        self.facts: list[Fact] = []
        self.mentioned: set[str] = set()  # people already introduced by full name and role
        self.section = ""  # the part being written: each paragraph and fact records it
        self.sections: list[str] = []

    def paragraph(self) -> None:
        self.paragraphs.append([])
        self.sections.append(self.section)

    def say(self, text: str, *facts: Fact) -> None:
        text = cap(text)
        for fact in facts:
            fact.evidence = text
            fact.section = self.section
            assert fact.implied or fact.value.shown.lower() in text.lower(), (fact.value.shown, text)
        self.paragraphs[-1].append(text)
        self.facts.extend(facts)


def fact(relation: str, value: Value | str, **args: str) -> Fact:
    return Fact(relation, value if isinstance(value, Value) else name_value(value), dict(args))


# -- the deal: what one article is about ---------------------------------------------------------------------------
class Names:
    """Draws names that must be unique in a set (firms, people, first sites, country pairs, titles)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def fresh(self, draw: Callable[[], str]) -> str:
        for _ in range(10_000):
            name = draw()
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError("ran out of unique names: fewer articles, or more vocabulary")

    def firm(self) -> str:
        return self.fresh(lambda: f"{self.rng.choice(FIRM_A_MORE)} {self.rng.choice(FIRM_B)}")

    def person(self) -> str:
        return self.fresh(lambda: f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}")

    def site(self) -> str:
        return self.fresh(lambda: f"{self.rng.choice(SITES_B)} {self.rng.choice(SITES_A_MORE)}")


def deal_slots(rng: random.Random, names: Names) -> dict[str, str]:
    country, partner = names.fresh(lambda: f"{rng.choice(HOSTS)}|{rng.choice(list(PARTNERS))}").split("|")
    demonym, capital, state_firm, ministry = COUNTRIES[country]
    mineral = rng.choice(list(MINERALS))
    use, product = MINERALS[mineral]
    other_banks = [b for p, b in PARTNERS.items() if p != partner]
    ceo = names.person()
    return {
        "country": country,
        "Country": cap(country),
        "demonym": demonym,
        "capital": capital,
        "state_firm": state_firm,
        "ministry": ministry,
        "partner": partner,
        "Partner": cap(partner),
        "bank": PARTNERS[partner],
        "Bank": cap(PARTNERS[partner]),
        "other_bank": rng.choice(other_banks),
        "mineral": mineral,
        "Mineral": cap(mineral),
        "is": "are" if mineral.endswith("s") else "is",
        "metal": "The metals" if mineral.endswith("s") else "The metal",
        "use": use,
        "product": product,
        "firm": names.firm(),
        "rival": names.firm(),
        "mapper": names.firm(),
        "ceo": ceo,
        "ceo_last": ceo.split()[1],
        "ceo_he": "she" if ceo.split()[0] in SHE else "he",
        "minister": names.person(),
        "minister_title": rng.choice(SECRETARIES),
        "official": names.person(),
        "analyst": names.person(),
        "site1": names.site(),
        "site2": names.site(),
        "source": rng.choice(SOURCES),
        "analyst_source": rng.choice(SOURCES),
    }


@dataclass
class Deal:
    """One deal's names (``slots``), figures (``values``) and signing date: what every report of it states."""

    slots: dict[str, str]
    values: dict[str, Value]
    date: dt.date


def sample_deal(rng: random.Random, names: Names) -> Deal:
    """Draw one deal: its names, dates and figures (every report of it states these same values)."""
    s = deal_slots(rng, names)
    date = dt.date(rng.choice([2023, 2024, 2025]), 1, 1) + dt.timedelta(days=rng.randrange(365))
    s["weekday"] = date.strftime("%A")
    stake = rng.choice([51, 55, 60, 65, 70, 75, 80])
    v = {
        "date": day(rng, date),
        "stake": percent(rng, stake),
        "rest": percent(rng, 100 - stake),
        "cost": money(rng, 150, 4000),
        "loan": money(rng, 80, 1500),
        "share": percent(rng, rng.randint(2, 30)),
        "trade": money(rng, 300, 9000),
        "investment": money(rng, 500, 20000),
        "infra": money(rng, 400, 15000),
        "price": percent(rng, rng.randint(5, 60)),
        "build": within(rng, rng.choice(["two", "three"])),
        "prod": within(rng, rng.choice(["4-1/2", "five", "six"])),
    }
    output_n, v["output"] = tons(rng, 1500, 90000)
    _, v["reserves"] = tons(rng, 50000, 2_000_000)
    _, v["exported"] = tons(rng, 800, 40000)
    _, v["rival_output"] = tons(rng, 1000, 60000)
    export_year = str(date.year - 1)
    s["export_year"] = export_year
    s["build_year"] = str(date.year + rng.choice([1, 2]))
    s["prod_year"] = str(int(s["build_year"]) + rng.choice([2, 3]))
    s["gw"] = str(rng.randint(2, 60))
    s["gw_year"] = str(date.year + 10)
    s["infra_year"] = str(date.year + 5)
    s["output_n"] = str(output_n)
    return Deal(s, v, date)


def write_article(
    rng: random.Random,
    n: int,
    seed: int,
    names: Names,
    deal: Deal,
    parts: set[str] | None = None,
    omit: str | None = None,
    source: str | None = None,
    title_forms: list[str] | None = None,
) -> Article:
    """Write one report of ``deal`` (see :func:`sample_deal`); every sentence registers the facts it states.

    ``parts`` names the sections to write (all of them when None; a second report of a deal writes a few);
    ``omit`` is one section that is written, so that the random stream runs as for the whole article, and then left
    out with its facts: that section is then what only a second report states. ``source``: another outlet's name.
    ``title_forms``: the headline templates to draw from (a second report's name the firm and the site).
    """
    s, v, date = deal.slots, deal.values, deal.date
    project = {"project": s["firm"], "site": s["site1"], "country": s["country"], "mineral": s["mineral"]}
    pair = {"country": s["country"], "partner": s["partner"]}
    w = Writer()
    f = s.__getitem__  # short for the templates below

    def lede() -> None:
        # 1. the lede: who signed what, when
        w.paragraph()
        mou = fact("mou_date", v["date"], **pair)
        match rng.randrange(3):
            case 0:
                w.say(
                    f"{f('Country')} and {f('partner')} signed a memorandum of understanding on critical minerals on {v['date'].shown}, the {f('demonym')} government said.",
                    mou,
                )
            case 1:
                w.say(
                    f"{f('Partner')} and {f('country')} agreed on {v['date'].shown} to cooperate on {f('mineral')} and other critical minerals, signing a memorandum of understanding.",
                    mou,
                )
            case _:
                w.say(
                    f"The governments of {f('country')} and {f('partner')} have signed a memorandum of understanding on critical minerals, officials said."
                )
                w.say(
                    f"The document was signed on {v['date'].shown}, after two days of talks on securing supplies of {f('mineral')}.",
                    mou,
                )

        # 2. where, and by whom
        city = fact("signed_in", f("capital"), **pair)
        signer = fact("signer", f("minister"), side=f("country"), **pair)
        signer_p = fact("signer", f("official"), side=f("partner"), **pair)
        post = fact("post", f("minister_title"), person=f("minister"), country=f("country"))
        he = "She" if f("official").split()[0] in SHE else "He"
        match rng.randrange(3):
            case 0:
                w.say(
                    f"The memorandum was signed in {f('capital')} by {f('demonym')} {f('minister_title')} {f('minister')} and {f('official')}, a senior trade official from {f('partner')}.",
                    city,
                    signer,
                    post,
                    signer_p,
                )
            case 1:
                w.say(
                    f"{f('minister')}, {poss(f('country'))} {f('minister_title')}, signed for the {f('demonym')} side in {f('capital')}.",
                    signer,
                    post,
                    city,
                )
                w.say(f"{f('official')}, a senior trade official, signed for {f('partner')}.", signer_p)
            case _:
                w.say(
                    f"{f('official')}, a senior trade official from {f('partner')}, travelled to {f('capital')} for the ceremony.",
                    city,
                    signer_p,
                )
                w.say(f"{he} signed the document with {f('demonym')} {f('minister_title')} {f('minister')}.", signer, post)
        if rng.random() < 0.5:
            w.say(f'"Today we open a new chapter with {f("partner")}," {f("minister").split()[1]} said.')

    def venture() -> None:
        # 3. the joint venture: who develops what, and who holds what
        w.paragraph()
        dev = fact("developer", f("firm"), **project)
        firm_stake = fact("stake", v["stake"], holder=f("firm"), **project)
        state_stake = fact("stake", v["rest"], holder=f("state_firm"), **project)
        partner_of = fact("jv_partner", f("state_firm"), **project)
        match rng.randrange(4):
            case 0:
                w.say(
                    f"Under the deal, {f('firm')} will develop the {f('site1')} and {f('site2')} {f('mineral')} deposits with the state mining company {f('state_firm')}.",
                    dev,
                    partner_of,
                )
                w.say(
                    f"{f('firm')} will control {v['stake'].shown} of the joint venture and its sales, with {f('state_firm')} holding the remaining {v['rest'].shown}.",
                    firm_stake,
                    state_stake,
                )
            case 1:
                w.say(
                    f"{f('firm')} and {f('state_firm')} will jointly develop the {f('site1')} and {f('site2')} {f('mineral')} deposits.",
                    dev,
                    partner_of,
                )
                w.say(f"The joint venture will be {v['stake'].shown} owned by {f('firm')}.", firm_stake)
                w.say(f"The state company will hold the remaining {v['rest'].shown}.", state_stake)
            case 2:
                w.say(
                    f"Under the agreement, {f('state_firm')} takes a {v['rest'].shown} stake in the venture, while {f('firm')}, which will develop the {f('site1')} and {f('site2')} {f('mineral')} deposits, holds {v['stake'].shown}.",
                    state_stake,
                    dev,
                    partner_of,
                    firm_stake,
                )
            case _:
                w.say(
                    f"{f('firm')} will develop the {f('site1')} and {f('site2')} {f('mineral')} deposits with {f('state_firm')}.",
                    dev,
                    partner_of,
                )
                w.say(
                    f"It will own {v['stake'].shown} of the joint venture and market its output; {f('state_firm')} will hold {v['rest'].shown}.",
                    firm_stake,
                    state_stake,
                )

    # the middle of the article, in varying order
    def costs() -> None:
        w.paragraph()
        cost = fact("cost", v["cost"], **project)
        loan = fact("loan", v["loan"], lender=f("bank"), **project)
        lender = fact("lender", bare(f("bank")), **project)
        match rng.randrange(4):
            case 0:
                w.say(
                    f"Costs to develop the two projects are estimated at {v['cost'].shown}, while {f('bank')} has issued a letter of interest to lend {v['loan'].shown}.",
                    cost,
                    loan,
                    lender,
                )
            case 1:
                w.say(f"Developing the two deposits will cost an estimated {v['cost'].shown}.", cost)
                w.say(f"{f('Bank')} has issued a letter of interest for a loan of up to {v['loan'].shown}.", loan, lender)
            case 2:
                w.say(
                    f"{f('Bank')} said it could lend {v['loan'].shown} to the project, which is expected to cost {v['cost'].shown} to build.",
                    loan,
                    lender,
                    cost,
                )
            case _:
                w.say(f"The price tag for the mines is put at {v['cost'].shown}, {f('firm')} said.", cost)
                w.say(
                    f"Part of that could come from {f('bank')}, which has signalled it may lend {v['loan'].shown}.", loan, lender
                )
        if rng.random() < 0.5:
            w.say(f"{f('other_bank')} was not part of the talks and declined to say whether it would join the financing.")

    def output() -> None:
        w.paragraph()
        out = fact("output", v["output"], **project)
        share = fact("supply_share", v["share"], **project)
        reserves = fact("reserves", v["reserves"], **project)
        match rng.randrange(3):
            case 0:
                w.say(
                    f"The joint venture plans to produce {v['output'].shown} of {f('product')} a year, about {v['share'].shown} of global supply, from deposits holding an estimated {v['reserves'].shown} of ore.",
                    out,
                    share,
                    reserves,
                )
            case 1:
                w.say(f"Once in production, the venture expects to turn out {v['output'].shown} of {f('product')} annually.", out)
                w.say(f"That would be about {v['share'].shown} of global supply.", share)
                w.say(f"The two deposits are estimated to hold {v['reserves'].shown} of ore.", reserves)
            case _:
                w.say(f"The {f('site1')} and {f('site2')} deposits hold an estimated {v['reserves'].shown} of ore.", reserves)
                w.say(
                    f"Annual output is targeted at {v['output'].shown} of {f('product')}, roughly {v['share'].shown} of world supply.",
                    out,
                    share,
                )
        if rng.random() < 0.6:  # a number of the same kind about another firm
            rival = fact("output", v["rival_output"], project=f("rival"), country=f("country"), mineral=f("mineral"))
            w.say(
                f"Rival {f('rival')}, which is developing a {f('mineral')} deposit of its own in {f('country')}, has said it could produce {v['rival_output'].shown} a year.",
                rival,
            )

    def use() -> None:
        w.paragraph()
        used = fact("use", Value(f("use"), tuple(USE_GOLD[f("mineral")])), mineral=f("mineral"))
        match rng.randrange(3):
            case 0:
                w.say(f"{f('Mineral')}, used to {f('use')}, {f('is')} on the critical minerals list of {f('partner')}.", used)
            case 1:
                w.say(f"{f('Partner')} lists {f('mineral')} among its critical minerals.")
                w.say(f"{f('metal')} {f('is')} used mainly to {f('use')}.", used)
            case _:
                w.say(f"Demand for {f('mineral')} has grown because it is used to {f('use')}.", used)

    def ceo() -> None:
        w.paragraph()
        heads = fact("ceo", f("ceo"), company=f("firm"))
        heads_of = fact("heads", f("firm"), person=f("ceo"))
        quote = rng.choice(QUOTES).format(**s)
        match rng.randrange(3):
            case 0:
                w.say(f'"{quote}," {f("firm")} chief executive {f("ceo")} said.', heads, heads_of)
            case 1:
                w.say(f'"{quote}," said {f("ceo")}, chief executive of {f("firm")}.', heads, heads_of)
            case _:
                w.say(
                    f"{f('ceo')}, who heads {f('firm')}, told reporters the deal would give {f('partner')} a reliable source of {f('mineral')}.",
                    heads,
                    heads_of,
                )
        w.mentioned.add(f("ceo"))

    def timeline() -> None:
        w.paragraph()
        speaker = f("ceo_last") if f("ceo") in w.mentioned else f"{f('ceo')}, chief executive of {f('firm')},"
        facts = [fact("ceo", f("ceo"), company=f("firm")), fact("heads", f("firm"), person=f("ceo"))]
        intro = [] if f("ceo") in w.mentioned else facts
        w.mentioned.add(f("ceo"))
        match rng.randrange(3):
            case 0:
                build, prod = fact("construction_start", v["build"], **project), fact("production_start", v["prod"], **project)
                w.say(
                    f"Construction should start {v['build'].shown} and production should begin {v['prod'].shown}, with processing to take place inside {f('country')}, {speaker} said.",
                    build,
                    prod,
                    *intro,
                )
            case 1:
                year_b, year_p = Value(f("build_year"), (f("build_year"),)), Value(f("prod_year"), (f("prod_year"),))
                build, prod = fact("construction_start", year_b, **project), fact("production_start", year_p, **project)
                w.say(
                    f"Construction is due to begin in {f('build_year')}, and the first {f('product')} should be produced in {f('prod_year')}.",
                    build,
                    prod,
                )
                w.say(f"Processing will take place inside {f('country')}, {speaker} said.", *intro)
            case _:
                build, prod = fact("construction_start", v["build"], **project), fact("production_start", v["prod"], **project)
                w.say(f"Building work should start {v['build'].shown}, {speaker} said.", build, *intro)
                w.say(f"Output should follow {v['prod'].shown}, {f('ceo_he')} added.", prod)

    def trade() -> None:
        w.paragraph()
        between = {"between": f"{f('country')}|{f('partner')}"}
        traded = fact("trade", v["trade"], **between)
        deals = fact("agreements", v["investment"], **between)
        match rng.randrange(3):
            case 0:
                w.say(
                    f"Trade between {f('country')} and {f('partner')} reached {v['trade'].shown} last year, and companies from the two sides signed agreements worth {v['investment'].shown} during the visit, covering mining equipment, rail links and power plants.",
                    traded,
                    deals,
                )
            case 1:
                w.say(f"{f('Partner')} is already one of {poss(f('country'))} larger trading partners.")
                w.say(f"Trade between the two countries reached {v['trade'].shown} last year.", traded)
                w.say(
                    f"During the visit their companies signed deals worth {v['investment'].shown}, covering rail links and power plants.",
                    deals,
                )
            case _:
                w.say(
                    f"Companies from {f('country')} and {f('partner')} signed agreements worth {v['investment'].shown} during the visit.",
                    deals,
                )
                w.say(f"Bilateral trade reached {v['trade'].shown} last year, {f('demonym')} officials said.", traded)

    def exports() -> None:
        w.paragraph()
        where = {"country": f("country"), "mineral": f("mineral"), "year": f("export_year")}
        shipped = fact("exports", v["exported"], **where)
        reporter = fact("export_reporter", f("ministry"), **where)
        exporter = fact("exporter", f("country"), mineral=f("mineral"), year=f("export_year"), amount=v["exported"].gold[0])
        match rng.randrange(3):
            case 0:
                w.say(
                    f"{f('Country')} exported {v['exported'].shown} of {f('mineral')} products in {f('export_year')}, according to the {f('ministry')}.",
                    shipped,
                    reporter,
                    exporter,
                )
            case 1:
                w.say(
                    f"According to the {f('ministry')}, {f('country')} shipped {v['exported'].shown} of {f('mineral')} products abroad in {f('export_year')}.",
                    shipped,
                    reporter,
                    exporter,
                )
            case _:  # the country is named only by the article around this sentence
                exporter.implied = True
                shipped.loose = reporter.loose = ("country",)
                w.say(
                    f"Exports of {f('mineral')} products reached {v['exported'].shown} in {f('export_year')}, the {f('ministry')} said.",
                    shipped,
                    reporter,
                    exporter,
                )

    def asides() -> None:
        """Other numbers and firms of the same kinds: the distractors of a real news page."""
        w.paragraph()
        options = [
            lambda: w.say(
                f"The {f('ministry')} also signed an agreement with {f('mapper')} to map {f('mineral')} and copper prospects in the country's north.",
                fact("mapping", f("mapper"), country=f("country")),
            ),
            lambda: w.say(
                f"{f('demonym')} officials said the country would invest {v['infra'].shown} in roads, railways and ports through {f('infra_year')}.",
                fact("infrastructure", v["infra"], investor=f("country"), until=f("infra_year")),
            ),
            lambda: w.say(
                f"{f('analyst')}, an analyst at {f('analyst_source')}, said the deal could ease a shortage that has pushed {f('mineral')} prices up {v['price'].shown} this year.",
                fact("price_rise", v["price"], mineral=f("mineral"), analyst=f("analyst"), source=f("analyst_source")),
            ),
            lambda: w.say(
                f"{f('Country')} also plans to raise its hydropower capacity to {f('gw')} GW by {f('gw_year')} to run new refineries.",
                fact(
                    "hydropower",
                    Value(f"{f('gw')} GW", (f"{f('gw')} GW", f"{f('gw')} gigawatts")),
                    country=f("country"),
                    year=f("gw_year"),
                ),
            ),
        ]
        for say in rng.sample(options, k=rng.randint(1, 3)):
            say()

    def write(part: Callable[[], None]) -> None:
        if parts is None or part.__name__ in parts:
            w.section = part.__name__
            part()

    write(lede)
    write(venture)
    middle = [costs, output, use, ceo, timeline, trade, exports, asides]
    rng.shuffle(middle)
    for part in middle:
        write(part)

    title_slots = {**s, "country": s["Country"], "bank_short": bare(s["bank"]), "partner_cap": s["Partner"]}
    title = names.fresh(lambda: rng.choice(title_forms or TITLE_FORMS + EXTRA_TITLES).format(**title_slots))
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]
    published = date + dt.timedelta(days=rng.choice([0, 0, 1]))
    article = Article(
        n=n,
        file_name=f"news-s{seed}-{n:03d}-{slug}.md",
        title=title,
        source=source or s["source"],
        published=published.isoformat(),
        url=f"https://example.com/news-eval/s{seed}/{n:03d}",
        paragraphs=[p for p, section in zip(w.paragraphs, w.sections, strict=True) if p and section != omit],
        facts=[x for x in w.facts if x.section != omit],
        slots=s,
        deal=n,
    )
    for item in article.facts:
        item.article = n
    return article


EXTRA_TITLES = [
    "{firm} wins {bank_short} backing for {demonym} {mineral} mines",
    "{Country} and {partner} sign {mineral} pact in {capital}",
    "{demonym} {mineral} venture lines up {bank_short} loan",
]
# A second report's headline names the firm and the site, so that it is no other set's headline either.
SECOND_REPORT_TITLES = [
    "{firm} and {state_firm} team up on {site1} {mineral}",
    "{site1} {mineral} deposits to be developed by {firm}",
    "{firm} bets on {demonym} {mineral} at {site1}",
]


# -- questions ---------------------------------------------------------------------------------------------------
@dataclass
class Ask:
    """A question to ask of the corpus: ``relation`` of the thing ``where`` picks out, in several wordings."""

    kind: str
    relation: str
    where: dict[str, str]
    forms: list[str]
    absent: list[str] = field(default_factory=list)  # names the question uses that no article may mention


def project_handles(s: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """Ways a question names the joint venture, each with the constraint that picks it out."""
    return [
        (f"{poss(s['firm'])} {s['mineral']} project", {"project": s["firm"]}),
        (f"the {s['firm']} joint venture", {"project": s["firm"]}),
        (f"the {s['site1']} project", {"site": s["site1"]}),
        (f"the {s['site1']} and {s['site2']} deposits", {"site": s["site1"]}),
        (f"the {s['demonym']} {s['mineral']} joint venture", {"country": s["country"], "mineral": s["mineral"]}),
    ]


def answer_asks(rng: random.Random, s: dict[str, str]) -> list[Ask]:
    """Questions this article answers (some may prove ambiguous in the corpus; the caller drops those)."""
    h, where = rng.choice(project_handles(s))
    H = cap(h)
    # a question whose answer is the firm, or that names the firm anyway, names the venture another way
    h_nf, where_nf = rng.choice([(name, w) for name, w in project_handles(s) if "project" not in w])
    pair = {"country": s["country"], "partner": s["partner"]}
    c, p, m = s["country"], s["partner"], s["mineral"]
    return [
        Ask(
            "ceo",
            "ceo",
            {"company": s["firm"]},
            [
                f"Who is the chief executive of {s['firm']}?",
                f"Who is {poss(s['firm'])} CEO?",
                f"Who runs {s['firm']}?",
                f"Name the head of {s['firm']}.",
                f"{s['firm']} is led by which executive?",
            ],
        ),
        Ask(
            "heads",
            "heads",
            {"person": s["ceo"]},
            [
                f"Which company does {s['ceo']} lead?",
                f"What firm is {s['ceo']} the chief executive of?",
                f"{s['ceo']} is CEO of which company?",
            ],
        ),
        Ask(
            "developer",
            "developer",
            where_nf,
            [f"Which company will develop {h_nf}?", f"Who is developing {h_nf}?", f"What firm is the developer of {h_nf}?"],
        ),
        Ask(
            "jv_partner",
            "jv_partner",
            where,
            [f"Which state company is the partner in {h}?", f"Who is the state-owned partner of {h}?"],
        ),
        Ask(
            "stake-firm",
            "stake",
            {"holder": s["firm"], **where_nf},
            [
                f"What share of {h_nf} will {s['firm']} hold?",
                f"How big is {poss(s['firm'])} stake in {h_nf}?",
                f"What percentage of {h_nf} does {s['firm']} control?",
                f"{s['firm']} will own how much of {h_nf}?",
            ],
        ),
        Ask(
            "stake-state",
            "stake",
            {"holder": s["state_firm"], **where},
            [
                f"What stake will {s['state_firm']} have in {h}?",
                f"How much of {h} will {s['state_firm']} own?",
                f"What is {poss(s['state_firm'])} share of {h}?",
                f"What percentage of {h} goes to {s['state_firm']}?",
            ],
        ),
        Ask(
            "cost",
            "cost",
            where,
            [
                f"How much will {h} cost to develop?",
                f"What is the estimated cost of {h}?",
                f"What price tag has been put on {h}?",
                f"How expensive will {h} be to build?",
            ],
        ),
        Ask(
            "loan",
            "loan",
            {"lender": s["bank"], **where},
            [
                f"How much could {s['bank']} lend to {h}?",
                f"What loan has {s['bank']} offered {h}?",
                f"How large a loan did {s['bank']} signal for {h}?",
            ],
        ),
        Ask(
            "loan-unnamed",
            "loan",
            where,
            [f"How much financing has the lender offered {h}?", f"How big is the loan on offer for {h}?"],
        ),
        Ask(
            "lender",
            "lender",
            where,
            [
                f"Which bank issued a letter of interest for {h}?",
                f"Who could lend money to {h}?",
                f"Which lender is backing {h}?",
            ],
        ),
        Ask(
            "output",
            "output",
            where,
            [
                f"How much {s['product']} will {h} produce a year?",
                f"What is the planned annual output of {h}?",
                f"How many tonnes a year will {h} produce?",
                f"What yearly production is {h} aiming for?",
                f"How much will {h} turn out each year?",
            ],
        ),
        Ask(
            "supply_share",
            "supply_share",
            where,
            [
                f"What share of global supply would {h} provide?",
                f"How much of world {m} supply could {h} account for?",
                f"What percentage of global supply will {h} produce?",
            ],
        ),
        Ask(
            "reserves",
            "reserves",
            where,
            [
                f"How much ore do {h} hold?" if h.endswith("deposits") else f"How much ore does {h} hold?",
                f"What are the estimated ore reserves of {h}?",
            ],
        ),
        Ask(
            "construction_start",
            "construction_start",
            where,
            [
                f"When should construction start on {h}?",
                f"When will building work begin at {h}?",
                f"When is construction of {h} due to begin?",
            ],
        ),
        Ask(
            "production_start",
            "production_start",
            where,
            [
                f"When should production begin at {h}?",
                f"When will {h} start producing?",
                f"How soon is output expected from {h}?",
                f"{H}: when does production begin?",
            ],
        ),
        Ask(
            "signed_in",
            "signed_in",
            pair,
            [
                f"In which city was the {c}-{p} memorandum signed?",
                f"Where did {c} and {p} sign their minerals memorandum?",
                f"What city hosted the signing of the memorandum between {p} and {c}?",
            ],
        ),
        Ask(
            "mou_date",
            "mou_date",
            pair,
            [
                f"When did {c} and {p} sign the memorandum?",
                f"On what date was the {p}-{c} critical minerals memorandum signed?",
                f"What day did {p} sign its memorandum of understanding with {c}?",
            ],
        ),
        Ask(
            "signer",
            "signer",
            {"side": c, **pair},
            [
                f"Who signed the memorandum with {p} on behalf of {c}?",
                f"Which {s['demonym']} official signed the deal with {p}?",
                f"Who signed for {c} when it agreed the memorandum with {p}?",
            ],
        ),
        Ask(
            "signer",
            "signer",
            {"side": p, **pair},
            [
                f"Who signed for {p} in {s['capital']}?",
                f"Who represented {p} at the signing with {c}?",
                f"Which official signed the memorandum with {c} for {p}?",
            ],
        ),
        Ask(
            "post",
            "post",
            {"person": s["minister"]},
            [
                f"What is {poss(s['minister'])} job?",
                f"What post does {s['minister']} hold?",
                f"What is {poss(s['minister'])} title?",
            ],
        ),
        Ask(
            "trade",
            "trade",
            {"between": f"{c}|{p}"},
            [
                f"What was the trade between {c} and {p} last year?",
                f"How much did trade between {p} and {c} reach last year?",
                f"What was bilateral trade between {c} and {p} worth last year?",
            ],
        ),
        Ask(
            "agreements",
            "agreements",
            {"between": f"{c}|{p}"},
            [
                f"What were the agreements signed by companies from {c} and {p} worth?",
                f"What value of deals did {c} and {p} companies sign during the visit?",
            ],
        ),
        Ask(
            "exports",
            "exports",
            {"country": c, "mineral": m, "year": s["export_year"]},
            [
                f"How much {m} did {c} export in {s['export_year']}?",
                f"How many tonnes of {m} products did {c} ship abroad in {s['export_year']}?",
                f"What were {poss(c)} {m} exports in {s['export_year']}?",
            ],
        ),
        Ask(
            "export_reporter",
            "export_reporter",
            {"country": c, "mineral": m, "year": s["export_year"]},
            [
                f"Which ministry reported {poss(c)} {m} exports for {s['export_year']}?",
                f"According to which ministry did {c} export {m} in {s['export_year']}?",
            ],
        ),
        Ask(
            "exporter",
            "exporter",
            {"mineral": m, "year": s["export_year"]},
            [
                f"Which country's ministry reported exports of {m} products in {s['export_year']}?",
                f"Which country exported {m} products in {s['export_year']}, according to its ministry?",
            ],
        ),
        Ask(
            "use",
            "use",
            {"mineral": m},
            [
                f"What is {m} used for?",
                f"What {s['is']} {m} mainly used to make?" if "make" in s["use"] else f"What {s['is']} {m} used to do?",
                f"Why is {m} in demand?",
            ],
        ),
        Ask(
            "rival_output",
            "output",
            {"project": s["rival"]},
            [f"How much could {s['rival']} produce a year?", f"What annual output has {s['rival']} said it could reach?"],
        ),
        Ask(
            "price_rise",
            "price_rise",
            {"analyst": s["analyst"]},
            [
                f"By how much have {m} prices risen this year, according to {s['analyst']}?",
                f"What price increase for {m} did {s['analyst']} point to?",
            ],
        ),
        Ask(
            "hydropower",
            "hydropower",
            {"country": c, "year": s["gw_year"]},
            [
                f"What hydropower capacity does {c} plan by {s['gw_year']}?",
                f"How much hydropower does {c} want by {s['gw_year']}?",
            ],
        ),
        Ask(
            "infrastructure",
            "infrastructure",
            {"investor": c, "until": s["infra_year"]},
            [
                f"How much will {c} invest in roads, railways and ports through {s['infra_year']}?",
                f"What will {c} spend on transport infrastructure through {s['infra_year']}?",
            ],
        ),
    ]


def refuse_asks(rng: random.Random, s: dict[str, str], other: dict[str, str], corpus_countries: list[str]) -> list[Ask]:
    """Questions that look answerable from this article but ask for a fact no article states.

    ``other`` is another article's names (for questions that mix in an entity from elsewhere).
    """
    h, where = rng.choice(project_handles(s))
    h_nf = rng.choice([name for name, w in project_handles(s) if "project" not in w])  # a handle without the firm
    c, p, m, firm, bank = s["country"], s["partner"], s["mineral"], s["firm"], s["bank"]
    absent_mineral = rng.choice(ABSENT_MINERALS)
    absent_country = rng.choice(ABSENT_COUNTRIES)
    stranger = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    shell = f"{rng.choice(FIRM_A_MORE)} {rng.choice(FIRM_B)}"
    other_country = rng.choice([x for x in corpus_countries if x != c])
    odd_year = str(int(s["export_year"]) - rng.choice([3, 4, 5, 6]))
    odd_amount = f"{round(rng.randint(1500, 90000), -2) + 50:,}"  # ends in 50: generated outputs are whole hundreds
    return [
        # an attribute no article gives
        Ask(
            "unstated",
            "loan_rate",
            where,
            [f"What interest rate will {bank} charge on its loan to {h}?", f"At what rate will the loan to {h} be repaid?"],
        ),
        Ask(
            "unstated",
            "ceo",
            {"company": s["state_firm"]},
            [f"Who is the chief executive of {s['state_firm']}?", f"Who heads {s['state_firm']}?"],
        ),
        Ask("unstated", "ceo", {"company": s["bank"]}, [f"Who is the head of {bank}?", f"Who runs {bank}?"]),
        Ask(
            "unstated",
            "export_start",
            {"country": c, "mineral": m},
            [f"In which year did {c} begin exporting {m}?", f"When did {c} first export {m} products?"],
        ),
        Ask("unstated", "jobs", where, [f"How many jobs will {h} create?", f"How many people will {h} employ?"]),
        Ask("unstated", "head_of_state", {"country": c}, [f"Who is the president of {c}?", f"Who leads {poss(c)} government?"]),
        Ask("unstated", "ore_grade", where, [f"What is the ore grade at {h}?", f"How rich is the ore at {h}?"]),
        Ask(
            "unstated",
            "current_share",
            {"country": c, "mineral": m},
            [f"What share of global {m} supply does {c} produce today?"],
        ),
        # a relation swapped: the right names, the wrong role
        Ask(
            "swapped",
            "stake",
            {"holder": s["bank"], **where},
            [f"What share of {h} does {bank} hold?", f"How big a stake will {bank} take in {h}?"],
        ),
        Ask(
            "swapped",
            "stake",
            {"holder": s["partner"], **where},
            [f"What stake will {p} hold in {h}?", f"What percentage of {h} does {p} own?"],
        ),
        Ask(
            "swapped",
            "stake_in_company",
            {"holder": firm, "company": s["state_firm"]},
            [f"What stake does {firm} hold in {s['state_firm']}?"],
        ),
        Ask("swapped", "loan", {"lender": s["state_firm"], **where}, [f"How much will {s['state_firm']} lend to {h}?"]),
        Ask(
            "swapped",
            "loan",
            {"lender": s["bank"], "country": other_country},
            [
                f"How much has {bank} offered to lend to {other_country}?",
                f"What loan did {bank} offer for a project in {other_country}?",
            ],
        ),
        Ask("swapped", "infrastructure", {"investor": firm}, [f"How much will {firm} invest in roads, railways and ports?"]),
        Ask("swapped", "exports", {"country": bare(p), "mineral": m}, [f"How much {m} did {p} export in {s['export_year']}?"]),
        # an entity from another article
        Ask(
            "other-article",
            "stake",
            {"holder": other["firm"], **where},
            [f"What stake does {other['firm']} hold in {h}?", f"How much of {h} will {other['firm']} own?"],
        ),
        Ask(
            "other-article",
            "output",
            {"project": firm, "mineral": other["mineral"]},
            [f"How much {other['mineral']} will {firm} produce a year?"],
        ),
        Ask(
            "other-article",
            "mou_date",
            {"country": c, "partner": other["partner"]},
            [f"When did {c} and {other['partner']} sign their critical minerals memorandum?"],
        ),
        Ask("other-article", "ceo", {"company": other["rival"]}, [f"Who is the chief executive of {other['rival']}?"]),
        Ask(
            "other-article",
            "signed_in",
            {"country": other["country"], "partner": p},
            [f"In which city did {other['country']} and {p} sign their memorandum?"],
        ),
        # a name no article mentions
        Ask(
            "absent-name",
            "output",
            {"project": firm, "mineral": absent_mineral},
            [f"How much {absent_mineral} will {h} produce a year?"],
            [absent_mineral],
        ),
        Ask(
            "absent-name",
            "trade",
            {"between": f"{c}|{absent_country}"},
            [f"What was the trade between {c} and {absent_country} last year?"],
            [absent_country],
        ),
        Ask(
            "absent-name",
            "heads",
            {"person": stranger},
            [f"Which company does {stranger} run?", f"What does {stranger} do at {firm}?"],
            [stranger],
        ),
        Ask("absent-name", "ceo", {"company": shell}, [f"Who is the chief executive of {shell}?"], [shell]),
        # a changed verb
        Ask("changed-verb", "production_end", where, [f"When did production end at {h}?", f"When was output at {h} halted?"]),
        Ask("changed-verb", "construction_done", where, [f"When was construction of {h} completed?"]),
        Ask(
            "changed-verb",
            "mou_cancelled",
            {"country": c, "partner": p},
            [f"Why did {c} cancel its memorandum with {p}?", f"When did {p} withdraw from the memorandum with {c}?"],
        ),
        Ask(
            "changed-verb",
            "stake_sold",
            {"holder": firm},
            [f"When did {firm} sell its stake in {h_nf}?", f"To whom did {firm} sell its share of {h_nf}?"],
        ),
        Ask("changed-verb", "loan_refused", {"lender": s["bank"]}, [f"Why did {bank} refuse to lend to {h}?"]),
        # a number or year that is not there
        Ask(
            "absent-number",
            "exports",
            {"country": c, "mineral": m, "year": odd_year},
            [f"How much {m} did {c} export in {odd_year}?", f"What were {poss(c)} {m} exports in {odd_year}?"],
            [odd_year],
        ),
        Ask(
            "absent-number",
            "output_of",
            {"amount": odd_amount},
            [f"Which company plans to produce {odd_amount} tonnes of {s['product']} a year?"],
            [odd_amount, odd_amount.replace(",", "")],
        ),
    ]


SHARED_FACTS = {"use"}  # the same in every article that states it: a question on it may cite any of them


def _choose(
    rng: random.Random, asks: list[Ask], k: int, keep: Callable[[Ask], bool], key: Callable[[Ask], str], used: Counter[str]
) -> list[Ask]:
    """Up to ``k`` asks that pass ``keep``, no two with the same ``key``; the keys ``used`` least so far first, so
    that a set covers every kind of question about evenly."""
    asks = asks[:]
    rng.shuffle(asks)
    asks.sort(key=lambda a: used[key(a)])
    chosen: list[Ask] = []
    for ask in asks:
        if len(chosen) < k and key(ask) not in {key(a) for a in chosen} and keep(ask):
            chosen.append(ask)
            used[key(ask)] += 1
    return chosen


def stated_in(facts: Iterable[Fact], ask: Ask, n: int) -> list[Fact]:
    """The facts ``ask`` asks for that article ``n`` states in so many words (an answer row's evidence)."""
    return [f for f in find(facts, ask.relation, ask.where) if f.article == n and not f.implied]


def make_questions(rng: random.Random, articles: list[Article], per_article: int, seed: int) -> list[dict]:
    """``per_article`` answer and ``per_article`` refuse rows for every deal's first report, each checked against all
    facts; then the follow-ups."""
    facts = [f for a in articles for f in a.facts]
    text = "\n".join(a.body for a in articles).lower()
    titles = {a.n: a.title for a in articles}
    deal_of = {a.n: a.deal for a in articles}
    firsts = [a for a in articles if a.deal == a.n]
    countries = sorted({a.slots["country"] for a in articles})

    def answerable(ask: Ask, n: int) -> bool:
        """Article ``n`` states it in so many words, and no article states another value (or, unless the fact
        is the same everywhere, the same value again, but in another report of the same deal)."""
        found = find(facts, ask.relation, ask.where)
        if not any(f.article == n and not f.implied for f in found) or len({f.value.gold for f in found}) != 1:
            return False
        return len({deal_of[f.article] for f in found}) == 1 or ask.relation in SHARED_FACTS

    def unanswerable(ask: Ask) -> bool:
        """No article states it, even loosely; the names it should lack are nowhere, and the others are somewhere
        (it looks answerable)."""
        named = [part for v in ask.where.values() for part in v.split("|") if v not in ask.absent]
        return (
            not find(facts, ask.relation, ask.where, loose=True)
            and not any(name.lower() in text for name in ask.absent)
            and all(name.lower() in text for name in named)
        )

    rows = []
    used: Counter[str] = Counter()
    answered: dict[int, list[tuple[Ask, str, str]]] = {}  # article -> (ask, question, evidence) of its answer rows
    for article in firsts:
        other = rng.choice([a for a in firsts if a.n != article.n]).slots
        answers = _choose(
            rng, answer_asks(rng, article.slots), per_article, lambda a, n=article.n: answerable(a, n), lambda a: a.kind, used
        )
        refusals = _choose(
            rng, refuse_asks(rng, article.slots, other, countries), per_article, unanswerable, lambda a: a.kind, used
        )
        for i, ask in enumerate(answers):
            found = stated_in(facts, ask, article.n)
            question = rng.choice(ask.forms)
            evidence = found[0].evidence
            names = [part for v in ask.where.values() for part in v.split("|") if part in question]
            rows.append(
                {
                    "id": f"s{seed}-{article.n:03d}-a{i}",
                    "question": question,
                    "expect": "answer",
                    "facts": [list(found[0].value.gold)],
                    "sources": sorted({titles[f.article] for f in find(facts, ask.relation, ask.where)}),
                    "kind": ask.kind,
                    # "indirect": the sentence that answers does not repeat a name the question uses
                    "tags": ["indirect"] if any(name not in evidence for name in names) else [],
                    "evidence": evidence,
                    "probe": {"relation": ask.relation, "where": ask.where},
                }
            )
            answered.setdefault(article.n, []).append((ask, question, evidence))
        for i, ask in enumerate(refusals):
            rows.append(
                {
                    "id": f"s{seed}-{article.n:03d}-r{i}",
                    "question": rng.choice(ask.forms),
                    "expect": "refuse",
                    "facts": [],
                    "sources": [],
                    "kind": ask.kind,
                    "probe": {"relation": ask.relation, "where": ask.where, "absent": ask.absent},
                }
            )
    # Follow-ups come last, from their own random stream, so that the rows above stay as they were.
    frng = random.Random(f"follow-ups-{seed}")
    for article in firsts:
        rows += follow_up_rows(frng, article, articles, answered.get(article.n, []), answerable, unanswerable, seed, titles)
    # Then one pair per second report: the turn before quoted the first report, the answer is in the second only.
    orng = random.Random(f"other-report-follow-ups-{seed}")
    for second in (a for a in articles if a.deal != a.n):
        first = articles[second.deal]
        rows += follow_up_rows(
            orng, first, articles, answered.get(first.n, []), answerable, unanswerable, seed, titles, home=second
        )
    return rows


# -- follow-ups: a question that names the venture only through the turn before -----------------------------------
def _refer_back(rng: random.Random, question: str, handles: list[str]) -> str | None:
    """``question`` with the venture's name replaced by a phrase that needs the earlier turn ("it", "the project");
    None when the question does not name the venture by one of its ``handles``."""
    for handle in sorted(handles, key=len, reverse=True):
        at = question.lower().find(handle.lower())
        if at < 0:
            continue
        after_preposition = re.search(r"\b(?:of|in|at|to|for|from)\s+$", question[:at])
        ref = (
            "the deposits"
            if handle.endswith("deposits")
            else rng.choice(["the project", "the joint venture"] + ([] if after_preposition else ["it"]))
        )
        out = question[:at] + (cap(ref) if at == 0 else ref) + question[at + len(handle) :]
        if rng.random() < 0.5 and re.match(r"(?:What|Which|Who|How|When|Where)\b", out):
            out = "And " + out[0].lower() + out[1:]
        return out
    return None


def follow_up_rows(
    rng: random.Random,
    article: Article,
    articles: list[Article],
    answered: list[tuple[Ask, str, str]],
    answerable: Callable[[Ask, int], bool],
    unanswerable: Callable[[Ask], bool],
    seed: int,
    titles: dict[int, str],
    home: Article | None = None,
) -> list[dict]:
    """One answer and one refuse row that follow an answer row of ``article`` in a conversation (both or neither).

    The earlier turn is that row's question, answered with its evidence sentence as newsbot quotes it from the
    article (``cited``: its doc id); the follow-up asks about the same venture without naming it, so only the
    conversation says which one is meant. With ``home`` (a second report of the deal) the answer is stated there and
    not in ``article``: the conversation says which venture, but not which article holds the answer (ids end in 1).
    """
    home = home or article
    other_report = home is not article
    s = article.slots
    handles = [h for h, _ in project_handles(s)]
    earlier = [(a, q, e) for a, q, e in answered if any(h.lower() in q.lower() for h in handles)]
    if not earlier:
        return []
    first, first_q, first_evidence = rng.choice(earlier)
    history = [{"question": first_q, "answer": f"{first_evidence} [1]", "cited": [doc_id_for(Path(article.file_name))]}]
    facts = [f for a in articles for f in a.facts]

    def pick(asks: list[Ask], keep: Callable[[Ask], bool]) -> tuple[Ask, str] | None:
        rng.shuffle(asks)
        for ask in asks:
            form = rng.choice(ask.forms)
            asked = _refer_back(rng, form, handles)
            if asked and ask.relation != first.relation and keep(ask):
                return ask, asked
        return None

    other = rng.choice([a for a in articles if a.n != article.n]).slots
    countries = sorted({a.slots["country"] for a in articles})
    def new_answer(ask: Ask) -> bool:
        """Answerable from this article, and not by what the user said in the earlier question. (The earlier
        answer may hold it: "And who holds the rest?" is often answered by the sentence quoted before.)"""
        if not answerable(ask, home.n) or (other_report and stated_in(facts, ask, article.n)):
            return False
        gold = stated_in(facts, ask, home.n)[0].value.gold  # one value in the corpus: `answerable` checked it
        return not any(g.lower() in first_q.lower() for g in gold)

    def in_quote(ask: Ask) -> bool:
        """The sentence quoted before already holds the answer (the user asks about another part of it)."""
        found = [f for f in find(facts, ask.relation, ask.where) if f.article == article.n]
        return bool(found) and any(g.lower() in first_evidence.lower() for g in found[0].value.gold)

    asks = answer_asks(rng, s)
    # Half the time, a follow-up on another part of the sentence quoted before, where there is one.
    quoted = [a for a in asks if in_quote(a)] if rng.random() < 1 / 2 and not other_report else []
    answer = pick(quoted, new_answer) or pick(asks, new_answer)
    refuse = pick(refuse_asks(rng, s, other, countries), unanswerable)
    if answer is None or refuse is None:
        return []
    (a_ask, a_question), (r_ask, r_question) = answer, refuse
    found = stated_in(facts, a_ask, home.n)
    base, k = f"s{seed}-{article.n:03d}", int(other_report)
    tags = ["follow-up", "other-report"] if other_report else ["follow-up"]
    return [
        {
            "id": f"{base}-fa{k}",
            "question": a_question,
            "history": history,
            "expect": "answer",
            "facts": [list(found[0].value.gold)],
            "sources": sorted({titles[f.article] for f in find(facts, a_ask.relation, a_ask.where)}),
            "kind": a_ask.kind,
            "tags": tags,
            "evidence": found[0].evidence,
            "probe": {"relation": a_ask.relation, "where": a_ask.where},
        },
        {
            "id": f"{base}-fr{k}",
            "question": r_question,
            "history": history,
            "expect": "refuse",
            "facts": [],
            "sources": [],
            "kind": r_ask.kind,
            "tags": tags,
            "probe": {"relation": r_ask.relation, "where": r_ask.where, "absent": r_ask.absent},
        },
    ]


# -- the folder ---------------------------------------------------------------------------------------------------
# A third of the deals is reported by a second outlet too, as the seed articles are (one summit, two reports). The
# first report then leaves out one section on the venture that the second states, so that a follow-up on the
# venture ("And how much will it cost?") may be answered by the other report, not the one quoted the turn before.
SECOND_REPORT_SHARE = 1 / 3
ONLY_IN_SECOND_REPORT = ("costs", "output", "timeline")
# What else a second report covers: sections whose facts read the same in any phrasing (the timeline's "within three
# years" and "in 2027" would make two reports disagree).
SECOND_REPORT_EXTRAS = ("costs", "output", "use", "ceo", "trade", "exports")


def build(n_articles: int, seed: int, per_article: int = 3) -> tuple[list[Article], list[dict]]:
    """The articles and question rows of one eval set, in memory: ``n_articles`` deals, then the second reports."""
    rng = random.Random(seed)
    names = Names(rng)
    # The second reports draw from a stream of their own, so that the first reports are written as without them.
    second_rng = random.Random(f"second-reports-{seed}")
    omitted = {
        n: second_rng.choice(ONLY_IN_SECOND_REPORT) for n in range(n_articles) if second_rng.random() < SECOND_REPORT_SHARE
    }
    articles, deals = [], []
    for n in range(n_articles):
        deals.append(sample_deal(rng, names))
        articles.append(write_article(rng, n, seed, names, deal=deals[n], omit=omitted.get(n)))
    for i, (n, section) in enumerate(sorted(omitted.items())):
        extra = second_rng.choice([x for x in SECOND_REPORT_EXTRAS if x != section])
        outlet = second_rng.choice([x for x in SOURCES if x != articles[n].source])
        parts = {"lede", "venture", section, extra}
        second = write_article(
            second_rng, n_articles + i, seed, names, deal=deals[n], parts=parts, source=outlet, title_forms=SECOND_REPORT_TITLES
        )
        second.deal = n
        articles.append(second)
    return articles, make_questions(rng, articles, per_article, seed)


def write(out_dir: Path, n_articles: int, seed: int, per_article: int = 3) -> tuple[list[Article], list[dict]]:
    """Write ``out_dir/corpus/*.md`` and ``out_dir/questions.jsonl``; earlier generated articles there are removed."""
    articles, rows = build(n_articles, seed, per_article)
    corpus = out_dir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for old in corpus.glob("news-s*.md"):
        old.unlink()
    for article in articles:
        (corpus / article.file_name).write_text(article.file_text(), encoding="utf-8")
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    (out_dir / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return articles, rows


# The committed sets (eval/README.md): folder name -> (articles, seed). news-report is for reporting only.
COMMITTED = {"news-fit": (60, 11), "news-report": (60, 29)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--articles", type=int, default=60)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--per-article", type=int, default=3, help="answer rows, and as many refuse rows, per article")
    args = parser.parse_args(argv)
    articles, rows = write(args.out_dir, args.articles, args.seed, args.per_article)
    refuse = sum(r["expect"] == "refuse" for r in rows)
    print(
        f"wrote {len(articles)} articles and {len(rows)} questions ({len(rows) - refuse} answer, {refuse} refuse) to {args.out_dir}"
    )


if __name__ == "__main__":
    main()
