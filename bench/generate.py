"""Write N synthetic critical-minerals news articles: hard negatives for retrieval.

The articles use the vocabulary of the real corpus (joint ventures, memoranda of
understanding, output in metric tons, export-import banks, letters of interest)
but are about other countries, firms, people, minerals and numbers. They never mention
the five Central Asian countries or their demonyms or China; tungsten and the United States
come up only in passing, never as a deal's mineral or partner. So every golden answer stays
the one true answer in the corpus (a generated "US memorandum" or "tungsten joint venture's
share of global supply" would make those questions ambiguous, not harder), and every golden
refusal stays a refusal (no France, Chile, gold or football).

Deterministic: the same ``--seed`` and ``-n`` write byte-identical files.

    python -m bench.generate OUT_DIR -n 2000 --seed 7
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
from pathlib import Path

COUNTRIES = {
    # country: (demonym, capital, state firm, ministry)
    "Mongolia": ("Mongolian", "Ulaanbaatar", "Erdenes Mongol", "Ministry of Mining and Heavy Industry"),
    "Indonesia": ("Indonesian", "Jakarta", "MIND ID", "Ministry of Energy and Mineral Resources"),
    "the Philippines": (
        "Philippine",
        "Manila",
        "Philippine Mining Development Corp",
        "Department of Environment and Natural Resources",
    ),
    "Vietnam": ("Vietnamese", "Hanoi", "Vinacomin", "Ministry of Natural Resources"),
    "Brazil": ("Brazilian", "Brasilia", "CBMM Estatal", "Ministry of Mines and Energy"),
    "Argentina": ("Argentine", "Buenos Aires", "YPF Litio", "Secretariat of Mining"),
    "Peru": ("Peruvian", "Lima", "Activos Mineros", "Ministry of Energy and Mines"),
    "Namibia": ("Namibian", "Windhoek", "Epangelo Mining", "Ministry of Mines and Energy"),
    "Zambia": ("Zambian", "Lusaka", "ZCCM Investments Holdings", "Ministry of Mines and Minerals Development"),
    "the Democratic Republic of Congo": ("Congolese", "Kinshasa", "Gecamines", "Ministry of Mines"),
    "Tanzania": ("Tanzanian", "Dodoma", "STAMICO", "Ministry of Minerals"),
    "Morocco": ("Moroccan", "Rabat", "OCP Group", "Ministry of Energy Transition"),
    "Saudi Arabia": ("Saudi", "Riyadh", "Ma'aden", "Ministry of Industry and Mineral Resources"),
    "Oman": ("Omani", "Muscat", "Minerals Development Oman", "Ministry of Energy and Minerals"),
    "Australia": ("Australian", "Canberra", "Critical Minerals Office", "Department of Industry"),
    "Canada": ("Canadian", "Ottawa", "Canada Growth Fund", "Natural Resources Canada"),
    "Greenland": ("Greenlandic", "Nuuk", "Nunaoil", "Ministry of Mineral Resources"),
    "Norway": ("Norwegian", "Oslo", "Store Norske", "Ministry of Trade and Industry"),
    "Finland": ("Finnish", "Helsinki", "Finnish Minerals Group", "Ministry of Economic Affairs"),
    "Portugal": ("Portuguese", "Lisbon", "EDM Mineira", "Ministry of Environment"),
    "Serbia": ("Serbian", "Belgrade", "Srbijagas Minerali", "Ministry of Mining and Energy"),
    "Ukraine": ("Ukrainian", "Kyiv", "Nadra Ukrainy", "Ministry of Economy"),
    "Azerbaijan": ("Azerbaijani", "Baku", "Azerbaijan Minerals Co", "Ministry of Ecology and Natural Resources"),
    "Armenia": ("Armenian", "Yerevan", "Zangezur Holdings", "Ministry of Territorial Administration"),
    "Georgia": ("Georgian", "Tbilisi", "Georgian Manganese", "Ministry of Economy"),
    "Malaysia": ("Malaysian", "Kuala Lumpur", "Khazanah Minerals", "Ministry of Natural Resources"),
    "Thailand": ("Thai", "Bangkok", "Thai Mineral Corp", "Department of Primary Industries and Mines"),
    "India": ("Indian", "New Delhi", "KABIL", "Ministry of Mines"),
    "Pakistan": ("Pakistani", "Islamabad", "Pakistan Minerals Development Corp", "Ministry of Petroleum"),
    "South Korea": ("South Korean", "Seoul", "KOMIR", "Ministry of Trade, Industry and Energy"),
    "Japan": ("Japanese", "Tokyo", "JOGMEC", "Ministry of Economy, Trade and Industry"),
    "Bolivia": ("Bolivian", "La Paz", "YLB", "Ministry of Hydrocarbons and Energy"),
}
PARTNERS = {
    # partner: export credit agency / development lender
    "Japan": "the Japan Bank for International Cooperation",
    "South Korea": "the Export-Import Bank of Korea",
    "Germany": "KfW IPEX-Bank",
    "the European Union": "the European Investment Bank",
    "the United Kingdom": "UK Export Finance",
    "Canada": "Export Development Canada",
    "Australia": "Export Finance Australia",
    "India": "the Export-Import Bank of India",
    "Saudi Arabia": "the Saudi EXIM Bank",
}
MINERALS = {
    # mineral: (what it is used for, ore or product name)
    "antimony": ("make flame retardants and ammunition", "antimony ingots"),
    "lithium": ("make batteries for electric vehicles", "lithium carbonate"),
    "cobalt": ("make battery cathodes", "cobalt hydroxide"),
    "nickel": ("make stainless steel and batteries", "nickel matte"),
    "graphite": ("make battery anodes", "spherical graphite"),
    "rare earths": ("make permanent magnets for motors and wind turbines", "mixed rare earth carbonate"),
    "copper": ("carry electricity in grids and motors", "copper cathode"),
    "manganese": ("make steel and battery cathodes", "manganese sulphate"),
    "gallium": ("make semiconductors and radar chips", "gallium metal"),
    "germanium": ("make fibre optics and infrared optics", "germanium dioxide"),
    "vanadium": ("strengthen steel and store grid power", "vanadium pentoxide"),
    "molybdenum": ("make alloys for pipelines", "molybdenum oxide"),
    "tin": ("solder electronics", "tin ingots"),
    "niobium": ("make high-strength steel", "ferroniobium"),
}
FIRST = [
    "Amara",
    "Bruno",
    "Chen",
    "Dalia",
    "Emre",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Rafael",
    "Sofia",
    "Tomas",
    "Ulla",
    "Viktor",
    "Wen",
    "Yara",
    "Zoltan",
    "Aiko",
    "Bilal",
    "Carmen",
    "Dmitri",
    "Elena",
    "Felix",
]
LAST = [
    "Achterberg",
    "Barros",
    "Castellano",
    "Dufresne",
    "Eriksen",
    "Fonseca",
    "Gunawardena",
    "Haddad",
    "Ishikawa",
    "Jankowski",
    "Kovacs",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quintero",
    "Rahman",
    "Santos",
    "Takahashi",
    "Urbina",
    "Valdivia",
    "Weber",
    "Yilmaz",
    "Zapata",
    "Brennan",
    "Holloway",
    "Marchetti",
    "Osei",
    "Varga",
]
FIRM_A = [
    "Northgate",
    "Alder",
    "Ridgeline",
    "Bluestone",
    "Ironbark",
    "Silverpeak",
    "Granite",
    "Harbour",
    "Meridian",
    "Summit",
    "Cobalt",
    "Falcon",
    "Polaris",
    "Redwood",
    "Orion",
    "Keystone",
    "Westbury",
    "Sterling",
    "Horizon",
    "Atlas",
]
FIRM_B = [
    "Resources",
    "Metals",
    "Minerals",
    "Mining",
    "Capital",
    "Holdings",
    "Materials",
    "Exploration",
    "Partners",
    "Industries",
]
SOURCES = [
    "Mining Weekly",
    "Reuters",
    "Bloomberg",
    "S&P Global Commodity Insights",
    "Fastmarkets",
    "Argus Media",
    "Nikkei Asia",
    "Mining Journal",
]
TITLE_FORMS = [
    "{country} signs {mineral} deal with {partner}",
    "{firm} to develop {mineral} project in {country}",
    "{demonym} {mineral} joint venture wins {bank_short} backing",
    "{partner_cap} and {country} agree critical minerals memorandum",
    "{country} seeks investors for {mineral} output",
]
SECRETARIES = ["Minister of Industry", "Minister of Mines", "Secretary of Commerce", "Trade Minister", "Minister of Economy"]
SITES_A = [
    "Black Hill",
    "Copper Ridge",
    "Lake Verity",
    "Mount Orla",
    "Red Creek",
    "Sandy Plain",
    "Stone Valley",
    "White River",
    "Eagle Bend",
    "North Fork",
]
SITES_B = ["North", "South", "East", "West", "Upper", "Lower"]

BANNED = re.compile(
    r"kazakh|kyrgyz|tajik|turkmen|uzbek|astana|bishkek|dushanbe|ashgabat|tashkent|central asia|c5\+1|"
    r"\bgold\b|france|french|\bchile|world cup|fifa|china|chinese|katpar|kairakty|\bu\.s\.|\bus\b|american",
    re.IGNORECASE,
)


def _money(rng: random.Random, lo: float, hi: float) -> str:
    value = rng.uniform(lo, hi)
    if value >= 1000:
        return f"${value / 1000:.1f} billion"
    return f"${round(value / 10) * 10:,.0f} million"


def _tons(rng: random.Random, lo: int, hi: int) -> str:
    return f"{round(rng.randint(lo, hi), -2):,}"


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def article(rng: random.Random, n: int) -> tuple[str, str]:
    """(file name, file text) of article number ``n``."""
    country = rng.choice(list(COUNTRIES))
    demonym, capital, state_firm, ministry = COUNTRIES[country]
    partner = rng.choice([p for p in PARTNERS if p.removeprefix("the ") != country])
    bank = PARTNERS[partner]
    mineral = rng.choice(list(MINERALS))
    use, product = MINERALS[mineral]
    firm = f"{rng.choice(FIRM_A)} {rng.choice(FIRM_B)}"
    ceo, minister, official = _person(rng), _person(rng), _person(rng)
    site1 = f"{rng.choice(SITES_B)} {rng.choice(SITES_A)}"
    site2 = f"{rng.choice(SITES_B)} {rng.choice(SITES_A)}"
    stake = rng.choice([51, 55, 60, 65, 75, 80])
    cost = _money(rng, 150, 4000)
    loan = _money(rng, 80, 1500)
    output = _tons(rng, 1500, 90000)
    reserves = _tons(rng, 50000, 2_000_000)
    share = rng.randint(2, 30)
    build_years = rng.choice(["two", "three"])
    prod_years = rng.choice(["4-1/2", "five", "six"])
    trade = _money(rng, 300, 9000)
    investment = _money(rng, 500, 20000)
    exported = _tons(rng, 800, 40000)
    year = rng.choice([2023, 2024, 2025])
    date = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))
    source = rng.choice(SOURCES)
    partner_cap = partner[0].upper() + partner[1:]
    title = rng.choice(TITLE_FORMS).format(
        country=country[0].upper() + country[1:],
        mineral=mineral,
        partner=partner,
        partner_cap=partner_cap,
        firm=firm,
        demonym=demonym,
        bank_short=bank.removeprefix("the "),
    )
    paragraphs = [
        f"{country[0].upper() + country[1:]} and {partner} have signed a memorandum of understanding on cooperation in critical minerals, "
        f"the {demonym} government said on {date.strftime('%A')}.",
        f"The memorandum was signed in {capital} by {demonym} {rng.choice(SECRETARIES)} {minister} and {official}, "
        f"a senior trade official from {partner}, after talks on securing supplies of {mineral}.",
        f"Under the deal, {firm} will develop the {site1} and {site2} {mineral} deposits with the state mining company {state_firm}. "
        f"{firm} will control {stake}% of the joint venture and its sales, with {state_firm} holding the remaining {100 - stake}%.",
        f"Costs to develop the two projects are estimated at {cost}, while {bank} has issued a letter of interest to lend {loan}.",
        f"The joint venture plans to produce {output} metric tons of {product} a year, about {share}% of global supply, "
        f"from deposits holding an estimated {reserves} metric tons of ore.",
        f"{mineral[0].upper() + mineral[1:]}, used to {use}, is on the critical minerals list of {partner}.",
        f'"This partnership gives {partner} a reliable source of {mineral} for decades," {firm} chief executive {ceo} said.',
        f"Construction should start within {build_years} years and production should begin within {prod_years} years, "
        f"with processing to take place inside {country}, {ceo} added.",
        f"Trade between {country} and {partner} reached {trade} last year, and companies from the two sides "
        f"signed agreements worth {investment} during the visit, covering mining equipment, rail links and power plants.",
        f"{country[0].upper() + country[1:]} exported {exported} metric tons of {mineral} products in {year - 1}, "
        f"according to the {ministry}.",
    ]
    context = [  # tungsten and the United States come up on this beat, but never as an answer to a golden question
        f"Buyers in the United States, Europe and Japan have been looking for new sources of {mineral} and tungsten.",
        f"Like tungsten and antimony, {mineral} is on the lists of metals whose supply Western buyers want to diversify.",
        f"{country[0].upper() + country[1:]} has no tungsten mines, but geologists say its {mineral} belts are under-explored.",
    ]
    extra = [
        f"The {ministry} also signed an agreement with {rng.choice(FIRM_A)} Exploration to map {mineral} and copper prospects in the country's north.",
        f"{demonym} officials said the country would invest {_money(rng, 400, 15000)} in roads, railways and ports through {year + 5}.",
        f"Analysts at {rng.choice(SOURCES)} said the deal could ease a shortage that has pushed {mineral} prices up {rng.randint(5, 60)}% this year.",
        f"{country[0].upper() + country[1:]} also plans to raise its hydropower capacity to {rng.randint(2, 60)} GW by {year + 10} to run new refineries.",
    ]
    body = (
        paragraphs[:5]
        + rng.sample(extra, k=rng.randint(1, len(extra)))
        + paragraphs[5:]
        + rng.sample(context, k=rng.randint(0, 2))
    )
    text = (
        "---\n"
        f'title: "{title}"\n'
        f'source: "{source}"\n'
        f"published: {date.isoformat()}\n"
        f'url: "https://example.com/news/{n:05d}"\n'
        "---\n" + "\n\n".join(body) + "\n"
    )
    assert not BANNED.search(text), BANNED.search(text)
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]
    return f"synthetic-{n:05d}-{slug}.md", text


def generate(out_dir: Path, n: int, seed: int = 7) -> list[Path]:
    """Write ``n`` articles into ``out_dir`` (created); return their paths."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        name, text = article(rng, i)
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    paths = generate(args.out_dir, args.n, args.seed)
    print(f"wrote {len(paths)} articles to {args.out_dir}")


if __name__ == "__main__":
    main()
